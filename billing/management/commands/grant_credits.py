from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import InsufficientCredits
from billing.models import LedgerEntry
from billing.services import credits_grant


class Command(BaseCommand):
    help = "Grant (or with a negative amount, take) credits, written to the ledger."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("amount", type=int)
        parser.add_argument("--reason", required=True)

    def handle(self, username, amount, reason, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if amount == 0:
            raise CommandError("The amount must not be zero.")
        if not reason.strip():
            raise CommandError("A reason is required.")
        kind = LedgerEntry.Kind.GRANT if amount > 0 else LedgerEntry.Kind.ADJUST
        try:
            entry = credits_grant(user=user, amount=amount, reason=reason, kind=kind)
        except InsufficientCredits as exc:
            raise CommandError(f"{username} has {exc.available} credits; the balance cannot go below zero.") from None
        self.stdout.write(f"{username}: {amount:+d} credits, balance now {entry.balance_after}.")

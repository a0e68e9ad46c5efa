from django.core.management.base import BaseCommand, CommandError

from billing.redeem import codes_create


def positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


class Command(BaseCommand):
    help = "Make a batch of redeem codes and print them, one a line."

    def add_arguments(self, parser):
        parser.add_argument("--credits", type=positive, required=True, help="credits each code gives")
        parser.add_argument("--count", type=positive, required=True, help="how many codes")
        parser.add_argument("--expires", type=positive, default=None, help="days until the codes expire")
        parser.add_argument("--uses", type=positive, default=1, help="redemptions per code in all (default 1)")
        parser.add_argument("--batch", default="", help="a label for the batch, shown in admin")

    def handle(self, *, credits, count, expires, uses, batch, **options):
        if count > 100_000:
            raise CommandError("At most 100000 codes at a time.")
        for code in codes_create(credits=credits, count=count, expires_days=expires, uses=uses, batch=batch):
            self.stdout.write(code.code)

"""Every change of credits. Each runs in one transaction with the wallet row
locked, writes one ledger row and the cached balance together, and relies on
database constraints (non-negative balance, unique (kind, reference)) as the
last line of defence."""

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from .models import LedgerEntry, Price, Wallet

log = logging.getLogger(__name__)


class InsufficientCredits(Exception):
    def __init__(self, *, needed: int, available: int):
        self.needed, self.available = needed, available
        super().__init__(f"This needs {needed} credits and you have {available}.")


class UnknownPrice(Exception):
    pass


def _locked_wallet(user_id: int) -> Wallet:
    Wallet.objects.get_or_create(user_id=user_id)
    return Wallet.objects.select_for_update().get(user_id=user_id)


def _post(
    *, user_id: int, amount: int, kind: str, reference: str = "", reason: str = "", actor_id: int | None = None
) -> LedgerEntry:
    """Append one ledger row and move the cached balance with it.

    Raises InsufficientCredits (nothing written) when the balance would go
    below zero, IntegrityError when (kind, reference) was already posted.
    """
    if not isinstance(amount, int) or amount == 0:
        raise ValueError("amount must be a non-zero integer")
    with transaction.atomic():
        wallet = _locked_wallet(user_id)
        new_balance = wallet.balance + amount
        if new_balance < 0:
            raise InsufficientCredits(needed=-amount, available=wallet.balance)
        entry = LedgerEntry.objects.create(
            user_id=user_id,
            kind=kind,
            amount=amount,
            balance_after=new_balance,
            reference=reference,
            reason=reason[:255],
            actor_id=actor_id,
        )
        Wallet.objects.filter(pk=wallet.pk).update(balance=new_balance)
    return entry


def credits_grant(
    *,
    user: AbstractBaseUser,
    amount: int,
    reason: str,
    actor: AbstractBaseUser | None = None,
    kind: str = LedgerEntry.Kind.GRANT,
    reference: str = "",
) -> LedgerEntry:
    """Add (or, with kind ADJUST and a negative amount, take) credits.

    A reason is required. Raises InsufficientCredits if an adjustment would
    take the balance below zero.
    """
    if not reason.strip():
        raise ValueError("A reason is required.")
    if kind == LedgerEntry.Kind.GRANT and amount <= 0:
        raise ValueError("A grant must be positive; use an adjustment to take credits.")
    entry = _post(
        user_id=user.pk,
        amount=amount,
        kind=kind,
        reference=reference,
        reason=reason.strip(),
        actor_id=actor.pk if actor else None,
    )
    log.info("credits %s %+d user=%s reason=%r", kind, amount, user.pk, reason)
    return entry


def credits_charge(*, user_id: int, amount: int, reference: str, reason: str) -> LedgerEntry:
    """Take `amount` credits for `reference` (e.g. "job:42").

    Must be called inside the caller's transaction that creates the thing
    paid for, so both commit or neither. Raises InsufficientCredits.
    """
    if amount <= 0:
        raise ValueError("A charge must be positive.")
    return _post(user_id=user_id, amount=-amount, kind=LedgerEntry.Kind.CHARGE, reference=reference, reason=reason)


def credits_refund(*, reference: str, reason: str) -> LedgerEntry | None:
    """Give back what was charged for `reference`, exactly once.

    Returns the refund entry, or None when there was no charge or it was
    refunded already (a second call is harmless by design and by the
    database's unique key).
    """
    with transaction.atomic():
        charge = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, reference=reference).first()
        if charge is None:
            return None
        _locked_wallet(charge.user_id)  # serialise refunds of this user's jobs
        if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND, reference=reference).exists():
            return None
        try:
            with transaction.atomic():
                entry = _post(
                    user_id=charge.user_id,
                    amount=-charge.amount,
                    kind=LedgerEntry.Kind.REFUND,
                    reference=reference,
                    reason=reason,
                )
        except IntegrityError:
            return None
    log.info("credits refund %+d user=%s ref=%s", entry.amount, entry.user_id, reference)
    return entry


def price_for(code: str) -> Price:
    try:
        return Price.objects.get(code=code)
    except Price.DoesNotExist:
        raise UnknownPrice(f"No price is set for {code!r}; an operator must add one in admin.") from None


def signup_grant(*, user: AbstractBaseUser, amount: int) -> LedgerEntry | None:
    """The welcome credits of a new account, once per user."""
    if amount <= 0:
        Wallet.objects.get_or_create(user=user)
        return None
    return credits_grant(
        user=user, amount=amount, reason="Welcome credits", kind=LedgerEntry.Kind.SIGNUP, reference=f"user:{user.pk}"
    )

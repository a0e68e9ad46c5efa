"""Every change of credits. Each runs in one transaction with the wallet row
locked, writes one ledger row and the cached balance together, and relies on
database constraints (non-negative balance, unique (kind, reference)) as the
last line of defence."""

import logging
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import limits

# The exceptions live in billing.exceptions (below the rules that raise
# them); they are importable from here too, as callers always did.
from .exceptions import (  # noqa: F401
    CapReached,
    InsufficientCredits,
    RateLimited,
    Refused,
    SpendBreakerTripped,
    SubmissionsPaused,
    UnknownPrice,
)
from .models import BreakerEvent, BreakerState, LedgerEntry, Price, ProviderBalance, Wallet

log = logging.getLogger(__name__)


@contextmanager
def admission():
    """Wrap the transaction that calls job_charge, outside it:
    `with admission(), transaction.atomic(): ...`. A spend trip is then
    recorded after the refused submission's rollback, not undone by it."""
    try:
        yield
    except SpendBreakerTripped as exc:
        breaker_trip(reason=exc.reason)
        raise


def _locked_wallet(user_id: int) -> Wallet:
    Wallet.objects.get_or_create(user_id=user_id)
    return Wallet.objects.select_for_update().get(user_id=user_id)


def _post(
    *,
    user_id: int,
    amount: int,
    kind: str,
    reference: str = "",
    reason: str = "",
    actor_id: int | None = None,
    provider_credits: int = 0,
    free_tier: bool = False,
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
            provider_credits=provider_credits,
            free_tier=free_tier,
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


def credits_charge(
    *, user_id: int, amount: int, reference: str, reason: str, provider_credits: int = 0, free_tier: bool = False
) -> LedgerEntry:
    """Take `amount` credits for `reference` (e.g. "job:42"), noting what it
    will cost at the provider.

    Must be called inside the caller's transaction that creates the thing
    paid for, so both commit or neither. Raises InsufficientCredits.
    """
    if amount <= 0:
        raise ValueError("A charge must be positive.")
    return _post(
        user_id=user_id,
        amount=-amount,
        kind=LedgerEntry.Kind.CHARGE,
        reference=reference,
        reason=reason,
        provider_credits=provider_credits,
        free_tier=free_tier,
    )


def credits_purchase(*, user_id: int, amount: int, reference: str, reason: str) -> LedgerEntry | None:
    """Credits bought with money, once per `reference` (the payment's
    provider id). Returns None when that reference was credited already."""
    if amount <= 0:
        raise ValueError("A purchase must be positive.")
    with transaction.atomic():
        _locked_wallet(user_id)
        if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PURCHASE, reference=reference).exists():
            return None
        entry = _post(
            user_id=user_id, amount=amount, kind=LedgerEntry.Kind.PURCHASE, reference=reference, reason=reason
        )
    log.info("credits purchase %+d user=%s ref=%s", amount, user_id, reference)
    return entry


def credits_reverse(*, user_id: int, wanted: int, reference: str, reason: str) -> int:
    """Take back up to `wanted` bought credits (a refund or a lost dispute),
    never below zero. Returns how many were taken; the caller records the
    rest as a shortfall. Once per `reference`: a second call takes nothing."""
    if wanted <= 0:
        return 0
    with transaction.atomic():
        wallet = _locked_wallet(user_id)
        if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVERSAL, reference=reference).exists():
            return 0
        take = min(wanted, wallet.balance)
        if take > 0:
            _post(user_id=user_id, amount=-take, kind=LedgerEntry.Kind.REVERSAL, reference=reference, reason=reason)
    log.warning("credits reversal -%s of %s user=%s ref=%s", take, wanted, user_id, reference)
    return take


PAUSED_MESSAGE = gettext_lazy("New videos are paused for maintenance. Please try again later; nothing was charged.")


def job_charge(*, user_id: int, price: Price, reference: str, reason: str) -> LedgerEntry:
    """Admit one submission and charge it, or refuse it with nothing written.

    In one transaction, with the breaker row (global) and the user's wallet
    locked, so that concurrent submissions cannot slip past any rule: the
    breaker, the per-minute rate, the user's daily and monthly caps, the
    global provider-spend caps, then the spend breaker for paying accounts or
    the free-tier budget for accounts holding only their signup grant (whose
    spend never trips the breaker), then the balance. In-flight jobs count
    against the caps because they are charged at admission.
    Raises Refused (SubmissionsPaused, RateLimited, CapReached;
    SpendBreakerTripped, for which the caller wraps its transaction in
    `admission()`) or InsufficientCredits.
    """
    with transaction.atomic():
        if _locked_breaker().is_open:
            raise SubmissionsPaused(str(PAUSED_MESSAGE))
        wallet = _locked_wallet(user_id)
        now = timezone.now()
        limits.check_rate(user_id=user_id, now=now)
        limits.check_user_caps(wallet=wallet, amount=price.credits, now=now)
        limits.check_global_caps(provider_credits=price.provider_credits, now=now)
        free_tier = limits.is_free_tier(user_id)
        if free_tier:
            limits.check_free_tier_budget(provider_credits=price.provider_credits, now=now)
        else:
            trip = limits.spend_trip_reason(provider_credits=price.provider_credits, now=now)
            if trip:
                raise SpendBreakerTripped(str(PAUSED_MESSAGE), reason=trip)
        return credits_charge(
            user_id=user_id,
            amount=price.credits,
            reference=reference,
            reason=reason,
            provider_credits=price.provider_credits,
            free_tier=free_tier,
        )


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
                    provider_credits=-charge.provider_credits,
                    free_tier=charge.free_tier,
                )
        except IntegrityError:
            return None
    log.info("credits refund %+d user=%s ref=%s", entry.amount, entry.user_id, reference)
    return entry


def price_for(code: str) -> Price:
    """The price row named `code` (derived work: '1080p', '4k')."""
    try:
        return Price.objects.get(code=code)
    except Price.DoesNotExist:
        raise UnknownPrice(
            _("No price is set for %(code)s; an operator must add one in admin.") % {"code": code}
        ) from None


def price_for_video(model: str, resolution: str) -> Price:
    """What a video of `model` at `resolution` costs now (the operator's table)."""
    try:
        return Price.objects.get(model=model, resolution=resolution)
    except Price.DoesNotExist:
        raise UnknownPrice(
            _("No price is set for %(code)s; an operator must add one in admin.") % {"code": f"{model} {resolution}"}
        ) from None


def signup_grant(*, user: AbstractBaseUser, amount: int) -> LedgerEntry | None:
    """The welcome credits of a new account, once per user: a second call
    (another address verified, a repeated confirmation) returns None."""
    if amount <= 0:
        Wallet.objects.get_or_create(user=user)
        return None
    reference = f"user:{user.pk}"
    with transaction.atomic():
        _locked_wallet(user.pk)
        if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SIGNUP, reference=reference).exists():
            return None
        return credits_grant(
            user=user, amount=amount, reason="Welcome credits", kind=LedgerEntry.Kind.SIGNUP, reference=reference
        )


# --- circuit breaker ---------------------------------------------------------


def _locked_breaker() -> BreakerState:
    BreakerState.objects.get_or_create(name="provider")
    return BreakerState.objects.select_for_update().get(name="provider")


def breaker_trip(*, reason: str) -> bool:
    """Open the breaker (stop all new submissions) and tell operators.
    Returns False if it was open already (then nothing is recorded again)."""
    with transaction.atomic():
        state = _locked_breaker()
        if state.is_open:
            return False
        state.is_open, state.reason, state.changed_at = True, reason[:500], timezone.now()
        state.save()
        BreakerEvent.objects.create(kind=BreakerEvent.Kind.TRIP, reason=reason[:500])
    log.error("circuit breaker tripped: %s", reason)
    mail_admins("Circuit breaker tripped: submissions stopped", f"{reason}\n\nReset it in admin once resolved.")
    return True


def breaker_reset(*, actor: AbstractBaseUser, reason: str) -> bool:
    """Close the breaker (an operator's decision). Returns False if it was closed."""
    if not reason.strip():
        raise ValueError("A reason is required.")
    with transaction.atomic():
        state = _locked_breaker()
        if not state.is_open:
            return False
        state.is_open, state.reason, state.changed_at = False, "", timezone.now()
        state.save()
        BreakerEvent.objects.create(kind=BreakerEvent.Kind.RESET, reason=reason.strip()[:500], actor=actor)
    log.warning("circuit breaker reset by %s: %s", actor, reason)
    mail_admins("Circuit breaker reset: submissions resumed", f"Reset by {actor}: {reason}")
    return True


# --- provider balance --------------------------------------------------------


def provider_balance_record(*, credits: int | None, error: str = "") -> ProviderBalance:
    """Store one reading; email operators when the balance falls below
    PROVIDER_LOW_BALANCE, once per crossing (not once per reading)."""
    threshold = settings.PROVIDER_LOW_BALANCE
    with transaction.atomic():
        previous = ProviderBalance.objects.select_for_update().filter(credits__isnull=False).first()
        low = credits is not None and credits < threshold
        reading = ProviderBalance.objects.create(credits=credits, below_threshold=low, error=error[:300])
    crossed = low and (previous is None or not previous.below_threshold)
    if crossed:
        log.error("provider balance low: %s credits (threshold %s)", credits, threshold)
        mail_admins(
            "kie.ai balance is low",
            f"The kie.ai account has {credits} credits left (alert threshold {threshold}). "
            "Top it up before submissions start failing with 402.",
        )
    return reading

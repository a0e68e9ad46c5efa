"""Card payments: start one for a pack, confirm it on the server, and apply
what Stripe reports (the verified webhook, or our own re-read of the
PaymentIntent), whichever comes first.

Every state change of a payment goes through `payment_apply`, which locks
the payment row: the purchase is credited once (the ledger's unique
("purchase", "stripe:<intent>") key backs that up), a paid payment never
goes back to unpaid, and refunds and lost disputes take credits back by the
cumulative amounts Stripe reports, so duplicated or reordered events change
nothing twice. Amounts are checked against our own record, never read from
metadata.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from . import stripe as stripe_api
from .models import CreditPack, Payment, PaymentEvent
from .services import credits_purchase, credits_reverse

log = logging.getLogger(__name__)

PAYMENT_METHOD_ID = re.compile(r"(pm|card)_[A-Za-z0-9_]{1,200}")
TOKEN_ID = re.compile(r"tok_[A-Za-z0-9_]{1,200}")


class BuyingOff(Exception):
    """Card payments are not configured (no Stripe keys)."""


class PaymentRefused(Exception):
    """A payment that cannot go on; `message` is for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def payment_start(*, user: AbstractBaseUser, pack: CreditPack) -> tuple[Payment, stripe_api.Intent]:
    """Record a payment for `pack` and make its PaymentIntent from our figures.

    The Stripe call happens after the row is committed (no transaction held
    open over the network). Raises BuyingOff, or PaymentRefused when the pack
    is not on sale or Stripe cannot be reached (the payment is then failed).
    """
    if not stripe_api.enabled():
        raise BuyingOff()
    if not pack.active:
        raise PaymentRefused(_("This pack is no longer on sale."))
    # Stolen cards are tested on pages like this one: a few tries, then wait.
    recent = Payment.objects.filter(user=user, created_at__gte=timezone.now() - timedelta(hours=1)).count()
    if recent >= settings.PAYMENTS_PER_HOUR:
        raise PaymentRefused(_("Too many payments were started from this account. Please try again in an hour."))
    payment = Payment.objects.create(
        user=user, pack=pack, pack_name=pack.name, credits=pack.credits, amount=pack.amount, currency=pack.currency
    )
    try:
        intent = stripe_api.intent_create(
            amount=payment.amount,
            currency=payment.currency,
            metadata={"payment": str(payment.pk), "user": str(user.pk)},
            idempotency_key=f"veo-payment-{payment.pk}-{payment.created_at.timestamp():.0f}",
        )
    except stripe_api.StripeFailure as exc:
        log.error("payment %s: creating the PaymentIntent failed: %s", payment.pk, exc)
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.FAILED, error=str(exc)[:300])
        raise PaymentRefused(_("Card payments are not available right now. Please try again later.")) from exc
    if (intent.amount, intent.currency) != (payment.amount, payment.currency):
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.FAILED, error="amount mismatch")
        raise PaymentRefused(_("Card payments are not available right now. Please try again later."))
    payment.intent_id = intent.id
    payment.save(update_fields=["intent_id", "updated_at"])
    log.info("payment %s started: %s for %s (%s)", payment.pk, payment.pack_name, user.pk, intent.id)
    return payment, intent


def payment_confirm(*, payment: Payment, payment_method: str = "", token: str = "") -> stripe_api.Intent:
    """Confirm the payment on the server with the card the browser gave to
    Stripe (a payment method id, or a token from localstripe's mock
    Stripe.js). Applies the answer at once (a card that needs no 3-D Secure
    is paid and credited now). Raises PaymentRefused with the decline reason."""
    if payment.status == Payment.Status.SUCCEEDED or not payment.intent_id:
        raise PaymentRefused(_("This payment is already complete."))
    if payment_method and not PAYMENT_METHOD_ID.fullmatch(payment_method):
        raise PaymentRefused(_("The card details were not accepted. Please enter them again."))
    if token and not TOKEN_ID.fullmatch(token):
        raise PaymentRefused(_("The card details were not accepted. Please enter them again."))
    if not payment_method and not token:
        raise PaymentRefused(_("Enter your card details."))
    if not Payment.objects.filter(pk=payment.pk, attempts__lt=settings.PAYMENT_ATTEMPTS).update(
        attempts=F("attempts") + 1
    ):
        raise PaymentRefused(_("Too many tries for this payment. Please start again with another pack or card."))
    try:
        if token:
            payment_method = stripe_api.payment_method_from_token(token)
        intent = stripe_api.intent_confirm(payment.intent_id, payment_method=payment_method)
    except stripe_api.StripeFailure as exc:
        log.info("payment %s: confirm refused: %s", payment.pk, exc)
        message = exc.user_message or _("The payment did not go through. Please try again or use another card.")
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            if locked.status != Payment.Status.SUCCEEDED:
                locked.status, locked.error = Payment.Status.FAILED, message[:300]
                locked.save(update_fields=["status", "error", "updated_at"])
        raise PaymentRefused(message) from exc
    payment_apply(intent=intent)
    return intent


def payment_sync(*, payment: Payment) -> Payment:
    """Re-read the PaymentIntent from Stripe and apply it (the return page,
    and the admin's "re-read" action). Stripe unreachable: nothing changes."""
    if payment.intent_id:
        try:
            intent = stripe_api.intent_retrieve(payment.intent_id)
        except stripe_api.StripeFailure as exc:
            log.warning("payment %s: re-read failed: %s", payment.pk, exc)
        else:
            payment_apply(intent=intent)
    payment.refresh_from_db()
    return payment


STATUS_OF_INTENT = {
    "requires_payment_method": Payment.Status.CREATED,
    "requires_confirmation": Payment.Status.CREATED,
    "requires_action": Payment.Status.REQUIRES_ACTION,
    "processing": Payment.Status.PROCESSING,
    "canceled": Payment.Status.CANCELED,
}


def payment_apply(
    *, intent: stripe_api.Intent, refunded: int | None = None, dispute_lost: bool = False
) -> Payment | None:
    """Bring our payment in line with what Stripe reports about its intent.

    `intent` is a verified event's object or our own read of it. `refunded`
    (cumulative, from a charge) and `dispute_lost` come from charge events.
    Returns None for an intent that is not ours. Credits at most once; takes
    back credits for refunds and lost disputes, never below zero, recording
    the shortfall.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(intent_id=intent.id).first()
        if payment is None:
            return None
        if intent.amount and (intent.amount, intent.currency) != (payment.amount, payment.currency):
            # Our record is the truth: never credit what we did not sell.
            log.error(
                "payment %s: Stripe reports %s %s, we sold %s %s; nothing credited",
                payment.pk,
                intent.amount,
                intent.currency,
                payment.amount,
                payment.currency,
            )
            return payment
        if intent.status == "succeeded" and payment.status != Payment.Status.SUCCEEDED:
            credits_purchase(
                user_id=payment.user_id,
                amount=payment.credits,
                reference=payment.ledger_reference,
                reason=f"{payment.pack_name} ({payment.amount_display})",
            )
            payment.status, payment.paid_at, payment.error = Payment.Status.SUCCEEDED, timezone.now(), ""
        elif payment.status != Payment.Status.SUCCEEDED and intent.status in STATUS_OF_INTENT:
            # A paid payment never steps back: a late "failed" event is history.
            status = STATUS_OF_INTENT[intent.status]
            if intent.status == "requires_payment_method" and intent.error:
                status = Payment.Status.FAILED
            payment.status = status
            payment.error = intent.error[:300] if status == Payment.Status.FAILED else payment.error
        refunded = max(refunded or 0, intent.amount_refunded)
        payment.amount_refunded = min(max(payment.amount_refunded, refunded), payment.amount)
        payment.dispute_lost = payment.dispute_lost or dispute_lost
        _take_back(payment)
        payment.save()
    return payment


def _take_back(payment: Payment) -> None:
    """Reverse the credits of what was refunded (pro rata) or lost in a
    dispute (all), beyond what was reversed already. Runs under the payment
    row lock."""
    if payment.status != Payment.Status.SUCCEEDED:
        return  # nothing was credited yet; applied when the payment succeeds
    target = payment.credits if payment.dispute_lost else payment.credits * payment.amount_refunded // payment.amount
    due = target - payment.credits_reversed - payment.shortfall
    if due <= 0:
        return
    why = _("Payment disputed") if payment.dispute_lost else _("Payment refunded")
    taken = credits_reverse(
        user_id=payment.user_id,
        wanted=due,
        reference=f"{payment.ledger_reference}:{target}",
        reason=f"{why}: {payment.pack_name} ({payment.amount_display})",
    )
    payment.credits_reversed += taken
    payment.shortfall += due - taken
    if due > taken:
        log.error("payment %s: %s credits could not be taken back (already spent)", payment.pk, due - taken)


# --- webhook -------------------------------------------------------------------


@dataclass(frozen=True)
class EventOutcome:
    status: int
    message: str


INTENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
CHARGE_EVENTS = {"charge.refunded", "charge.dispute.closed"}


def payment_event_handle(*, payload: bytes, signature: str) -> EventOutcome:
    """One Stripe webhook delivery: verify, claim the event id, apply.

    A bad or stale signature is a 400 with nothing changed; an event seen
    before, of a kind we do not use, or about an intent that is not ours is a
    200 (so Stripe stops resending) with nothing changed.
    """
    try:
        event = stripe_api.event_verify(payload, signature)
    except stripe_api.BadSignature as exc:
        log.warning("stripe webhook refused: %s", exc)
        return EventOutcome(400, "bad signature")
    event_id, kind = event.get("id"), event.get("type")
    obj = event["data"].get("object")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str) or not isinstance(obj, dict):
        return EventOutcome(400, "not an event")
    if kind not in INTENT_EVENTS | CHARGE_EVENTS:
        return EventOutcome(200, "ignored")
    try:
        with transaction.atomic():
            # The claim and its effect commit together: a concurrent delivery
            # of the same event waits here and then finds it taken.
            record = PaymentEvent.objects.create(event_id=event_id[:255], type=kind[:64])
            payment, outcome = _dispatch(kind, obj)
            record.payment, record.outcome = payment, outcome
            record.save(update_fields=["payment", "outcome"])
    except IntegrityError:
        return EventOutcome(200, "duplicate")
    except (TypeError, ValueError) as exc:
        log.warning("stripe webhook %s %s: malformed object: %s", kind, event_id, exc)
        return EventOutcome(400, "malformed event")
    return EventOutcome(200, outcome)


def _dispatch(kind: str, obj: dict) -> tuple[Payment | None, str]:
    if kind in INTENT_EVENTS:
        payment = payment_apply(intent=stripe_api.Intent.from_data(obj))
    elif kind == "charge.dispute.closed":
        lost = obj.get("status") == "lost"
        intent_id = obj.get("payment_intent")
        if not isinstance(intent_id, str):
            return None, "no payment intent"
        payment = payment_apply(
            intent=stripe_api.Intent(id=intent_id, status="", amount=0, currency=""), dispute_lost=lost
        )
    else:  # a charge: refunds, cumulative
        intent_id = obj.get("payment_intent")
        if not isinstance(intent_id, str):
            return None, "no payment intent"
        currency = str(obj.get("currency") or "").lower()
        intent = stripe_api.Intent(id=intent_id, status="", amount=int(obj.get("amount") or 0), currency=currency)
        payment = payment_apply(intent=intent, refunded=int(obj.get("amount_refunded") or 0))
    if payment is None:
        return None, "not our payment"
    return payment, f"applied: {payment.status}"

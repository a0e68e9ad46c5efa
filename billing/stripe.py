"""The one module that speaks to Stripe.

It owns a `stripe.StripeClient` (timeouts, a few network retries: the library
sends an idempotency key with every POST, so a retried create cannot make a
second PaymentIntent), turns every answer into a plain `Intent` value and
every failure into `StripeFailure`, and verifies webhook signatures.

Only what both Stripe and the embedded localstripe accept is used:
PaymentIntents with `payment_method_types=["card"]` (localstripe refuses
`automatic_payment_methods`), the payment method set by an update and then a
bare confirm (localstripe refuses a `payment_method` on confirm), and
`latest_charge` expanded for refunds.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class StripeFailure(Exception):
    """Stripe said no or could not be reached. `user_message` is safe to show
    (a card decline's reason); `retryable` says whether trying again later can
    help (network trouble, Stripe's own errors)."""

    def __init__(self, message: str, *, user_message: str = "", retryable: bool = False, code: str = ""):
        super().__init__(message)
        self.user_message, self.retryable, self.code = user_message, retryable, code


class BadSignature(Exception):
    """A webhook whose signature does not verify, or is older than the tolerance."""


@dataclass(frozen=True)
class Intent:
    """What we read of a PaymentIntent (and its latest charge)."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str = ""
    error: str = ""
    amount_refunded: int = 0
    charge_id: str = ""

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Intent":
        """From a PaymentIntent as JSON (an API answer or an event's object).
        `latest_charge` may be an id (not expanded) or the charge itself."""
        charge = data.get("latest_charge")
        charge = charge if isinstance(charge, dict) else {"id": charge or ""}
        error = data.get("last_payment_error") or {}
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency") or "").lower(),
            client_secret=str(data.get("client_secret") or ""),
            error=str(error.get("message") or "") if isinstance(error, dict) else "",
            amount_refunded=int(charge.get("amount_refunded") or 0),
            charge_id=str(charge.get("id") or ""),
        )


def enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_PUBLISHABLE_KEY)


def embedded() -> bool:
    """True when STRIPE_API_BASE is the local fake Stripe (localstripe)."""
    return urlsplit(settings.STRIPE_API_BASE).hostname in LOOPBACK


def js_url() -> str:
    """Stripe.js, or localstripe's mock of it when Stripe is the embedded one."""
    if embedded():
        return f"{settings.STRIPE_API_BASE}/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


def csp_sources() -> dict[str, list[str]]:
    """What a page running Stripe.js must add to the Content-Security-Policy:
    the script, its frames and the API it calls (or the embedded Stripe's
    one origin, which serves all three)."""
    if embedded():
        origin = settings.STRIPE_API_BASE
        return {"script-src": [origin], "connect-src": [origin], "frame-src": [origin]}
    return {
        "script-src": ["https://js.stripe.com"],
        "connect-src": ["https://api.stripe.com"],
        "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
    }


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT)


def _call(fn, *args, **kwargs):
    """Run one API call; every library error becomes StripeFailure."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        raise StripeFailure(str(exc), user_message=exc.user_message or "", code=exc.code or "") from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeFailure(str(exc), retryable=True) from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        raise StripeFailure(str(exc), retryable=status >= 500, code=exc.code or "") from exc


def _intent(obj) -> Intent:
    return Intent.from_data(obj.to_dict())


def intent_create(*, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str) -> Intent:
    """A PaymentIntent for a card payment of `amount` (minor units)."""
    obj = _call(
        client().v1.payment_intents.create,
        params={"amount": amount, "currency": currency, "payment_method_types": ["card"], "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )
    return _intent(obj)


def intent_retrieve(intent_id: str) -> Intent:
    obj = _call(client().v1.payment_intents.retrieve, intent_id, params={"expand": ["latest_charge"]})
    return _intent(obj)


def intent_confirm(intent_id: str, *, payment_method: str) -> Intent:
    """Confirm on the server with the card the browser tokenised. A decline
    raises StripeFailure with the bank's reason in `user_message`."""
    _call(client().v1.payment_intents.update, intent_id, params={"payment_method": payment_method})
    obj = _call(client().v1.payment_intents.confirm, intent_id, params={"expand": ["latest_charge"]})
    return _intent(obj)


def payment_method_from_token(token: str) -> str:
    """A payment method id for a card token (tok_...).

    Stripe.js makes payment methods directly; localstripe's mock Stripe.js
    only makes tokens. Stripe turns a token into a PaymentMethod; localstripe
    cannot, but accepts the token's card (card_...) where a payment method
    goes."""
    if embedded():
        return _call(client().v1.tokens.retrieve, token).card.id
    obj = _call(client().v1.payment_methods.create, params={"type": "card", "card": {"token": token}})
    return obj.id


def event_verify(payload: bytes, signature: str) -> dict[str, Any]:
    """The event in a webhook body, once its Stripe-Signature checks out
    against STRIPE_WEBHOOK_SECRET within the tolerance. Raises BadSignature."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature:
        raise BadSignature("no webhook secret configured or no signature sent")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, settings.STRIPE_WEBHOOK_TOLERANCE
        )
    except (stripe.SignatureVerificationError, ValueError, IndexError) as exc:
        raise BadSignature(str(exc)) from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BadSignature("the body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise BadSignature("the body is not an event")
    return event

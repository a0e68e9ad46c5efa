"""Why billing refuses: every exception a charge can raise.

A module of its own, below both billing.services and billing.limits, so
that the rules can raise them without importing the services that call the
rules. Each is a Refusal: a message for the user, a stable code and the HTTP
status a JSON client gets.
"""

from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from veoproject.refusals import Refusal


class BuyCreditsMessage(str):
    """A "not enough credits" sentence that links to buying when shown in a
    page (Django calls __html__), and stays plain text in JSON, logs and
    emails."""

    def __str__(self) -> str:
        return self  # str() keeps the link (Refusal.message is str(message))

    def __html__(self) -> str:
        return format_html(
            '{} <a href="{}" class="buy-credits">{}</a>', str.__str__(self), reverse("billing:buy"), _("Buy credits")
        )


class InsufficientCredits(Refusal):
    code = "insufficient_credits"
    status = 402

    def __init__(self, *, needed: int, available: int):
        self.needed, self.available = needed, available
        super().__init__(
            BuyCreditsMessage(
                _("This needs %(needed)s credits and you have %(available)s.")
                % {"needed": needed, "available": available}
            )
        )


class UnknownPrice(Refusal):
    """No price row for what was asked: an operator must add one."""

    code = "unknown_price"
    status = 503


class Refused(Refusal):
    """A submission the rules do not allow now (a JSON client gets 429)."""

    code = "refused"
    status = 429


class SubmissionsPaused(Refused):
    code = "paused"


class CapReached(Refused):
    code = "cap_reached"


class RateLimited(Refused):
    code = "rate_limited"


class SpendBreakerTripped(SubmissionsPaused):
    """Admission found abnormal spend: the breaker must trip. Raised out of
    the caller's transaction; `admission()` records the trip after it."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason

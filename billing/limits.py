"""The spending rules checked when a submission is admitted.

Each function reads the ledger (the single source of truth for money) and
raises billing.exceptions.Refused with a message that names the rule and when
it lets up. They run inside job_charge's transaction, with the wallet and the
breaker row locked.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .exceptions import CapReached, RateLimited
from .models import LedgerEntry, Wallet

SPEND_KINDS = (LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND)


def day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def _until(when: datetime, now: datetime) -> str:
    minutes = max(int((when - now).total_seconds() // 60), 1)
    hours, minutes = divmod(minutes, 60)
    span = _("%(h)s h %(m)s min") % {"h": hours, "m": minutes} if hours else _("%(m)s min") % {"m": minutes}
    return _("%(time)s %(zone)s (in %(span)s)") % {
        "time": f"{timezone.localtime(when):%Y-%m-%d %H:%M}",
        "zone": settings.TIME_ZONE,
        "span": span,
    }


def user_spent(user_id: int, since: datetime) -> int:
    """Credits spent: charges less refunds."""
    total = LedgerEntry.objects.filter(user_id=user_id, kind__in=SPEND_KINDS, created_at__gte=since).aggregate(
        s=Sum("amount")
    )["s"]
    return -(total or 0)


def provider_spent(since: datetime, until: datetime | None = None, *, free_tier: bool | None = None) -> int:
    """Provider credits committed (charged jobs less refunded ones); only the
    free tier's or only the paying accounts' when `free_tier` says which."""
    entries = LedgerEntry.objects.filter(kind__in=SPEND_KINDS, created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    if free_tier is not None:
        entries = entries.filter(free_tier=free_tier)
    return entries.aggregate(s=Sum("provider_credits"))["s"] or 0


# Kinds that say nothing about money coming in: an account with only these
# has spent nothing but free credits (the signup grant, promotion codes).
# Any other kind (an operator's grant, a purchase) makes it a paying account.
FREE_KINDS = (LedgerEntry.Kind.SIGNUP, LedgerEntry.Kind.REDEEM, LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.REFUND)


def is_free_tier(user_id: int) -> bool:
    """Whether the account holds nothing but its signup grant."""
    return not LedgerEntry.objects.filter(user_id=user_id).exclude(kind__in=FREE_KINDS).exists()


def check_free_tier_budget(*, provider_credits: int, now: datetime) -> None:
    """The free tier's own budget, per breaker window and per day. Signup
    grants are free to get, so a crowd of new accounts is expected rather
    than abnormal: when it has spent the budget, free-tier submissions wait
    (and say so) while paying accounts and the breaker are untouched."""
    window = timedelta(minutes=settings.BREAKER_WINDOW_MINUTES)
    for limit, start, end in (
        (settings.FREE_TIER_WINDOW_LIMIT, now - window, now + window),
        (settings.FREE_TIER_DAILY_LIMIT, day_start(now), day_start(now) + timedelta(days=1)),
    ):
        if limit and provider_spent(start, free_tier=True) + provider_credits > limit:
            raise CapReached(
                _(
                    "Free credits cannot be used right now: many new accounts are trying the service. "
                    "Please try again %(when)s. Credits you buy are not affected."
                )
                % {"when": _until(end, now)},
                retry_after=int((end - now).total_seconds()),
            )


def user_caps(wallet: Wallet) -> tuple[int, int]:
    daily = settings.USER_DAILY_CAP_CREDITS if wallet.daily_cap is None else wallet.daily_cap
    monthly = settings.USER_MONTHLY_CAP_CREDITS if wallet.monthly_cap is None else wallet.monthly_cap
    return daily, monthly


def check_rate(*, user_id: int, now: datetime) -> None:
    limit = settings.USER_SUBMISSIONS_PER_MINUTE
    if not limit:
        return
    recent = list(
        LedgerEntry.objects.filter(
            user_id=user_id, kind=LedgerEntry.Kind.CHARGE, created_at__gt=now - timedelta(minutes=1)
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        wait = max(int((recent[0] + timedelta(minutes=1) - now).total_seconds()) + 1, 1)
        raise RateLimited(
            _("You can start %(limit)s videos a minute. Please wait %(wait)s seconds and try again.")
            % {"limit": limit, "wait": wait},
            retry_after=wait,
        )


def check_user_caps(*, wallet: Wallet, amount: int, now: datetime) -> None:
    daily, monthly = user_caps(wallet)
    for cap, start, end, message in (
        (
            daily,
            day_start(now),
            day_start(now) + timedelta(days=1),
            _("This would pass your daily spending limit of %(cap)s credits. It resets %(when)s."),
        ),
        (
            monthly,
            month_start(now),
            next_month(month_start(now)),
            _("This would pass your monthly spending limit of %(cap)s credits. It resets %(when)s."),
        ),
    ):
        if cap and user_spent(wallet.user_id, start) + amount > cap:
            raise CapReached(
                message % {"cap": cap, "when": _until(end, now)}, retry_after=int((end - now).total_seconds())
            )


def check_global_caps(*, provider_credits: int, now: datetime) -> None:
    for cap, start, end, message in (
        (
            settings.GLOBAL_DAILY_CAP_PROVIDER_CREDITS,
            day_start(now),
            day_start(now) + timedelta(days=1),
            _("The service has reached its daily generation budget. It resets %(when)s."),
        ),
        (
            settings.GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS,
            month_start(now),
            next_month(month_start(now)),
            _("The service has reached its monthly generation budget. It resets %(when)s."),
        ),
    ):
        if cap and provider_spent(start) + provider_credits > cap:
            raise CapReached(message % {"when": _until(end, now)}, retry_after=int((end - now).total_seconds()))


def spend_trip_reason(*, provider_credits: int, now: datetime) -> str:
    """Why the spend breaker must trip for this paying account's submission
    ('' if it need not). Free-tier spend is not counted: it has its own
    budget (check_free_tier_budget), and a breaker it could trip would stop
    paying users on the say-so of accounts anyone can make."""
    window = timedelta(minutes=settings.BREAKER_WINDOW_MINUTES)
    recent = provider_spent(now - window, free_tier=False) + provider_credits
    if settings.BREAKER_WINDOW_LIMIT and recent > settings.BREAKER_WINDOW_LIMIT:
        return (
            f"Provider spend of {recent} credits in {settings.BREAKER_WINDOW_MINUTES} min passed the limit "
            f"of {settings.BREAKER_WINDOW_LIMIT}."
        )
    if settings.BREAKER_ABNORMAL_MULTIPLE:
        day = timedelta(days=1)
        usual = provider_spent(now - day, now - window, free_tier=False) * (window / (day - window))
        threshold = max(usual * settings.BREAKER_ABNORMAL_MULTIPLE, settings.BREAKER_ABNORMAL_FLOOR)
        if recent > threshold:
            return (
                f"Provider spend of {recent} credits in {settings.BREAKER_WINDOW_MINUTES} min is over "
                f"{settings.BREAKER_ABNORMAL_MULTIPLE:g}x the usual rate ({usual:.0f} per window)."
            )
    return ""

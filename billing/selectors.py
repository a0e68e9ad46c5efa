"""Reads of credits and prices."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, F, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import BreakerState, CreditPack, LedgerEntry, Payment, Price, ProviderBalance, Wallet


def balance_of(user_id: int) -> int:
    return Wallet.objects.filter(user_id=user_id).values_list("balance", flat=True).first() or 0


def ledger_of(user_id: int):
    return LedgerEntry.objects.filter(user_id=user_id).order_by("-id")


def ledger_sum_of(user_id: int) -> int:
    return LedgerEntry.objects.filter(user_id=user_id).aggregate(s=Sum("amount"))["s"] or 0


def wallets_out_of_balance() -> list[tuple[int, int, int]]:
    """(user_id, cached balance, ledger sum) for every wallet that disagrees."""
    sums = dict(LedgerEntry.objects.values("user_id").annotate(s=Sum("amount")).values_list("user_id", "s"))
    wrong = []
    for user_id, balance in Wallet.objects.values_list("user_id", "balance"):
        if sums.get(user_id, 0) != balance:
            wrong.append((user_id, balance, sums.get(user_id, 0)))
    return wrong


def price_table() -> dict[str, Price]:
    """Prices for display: generations from cheapest up, then the upgrades."""
    prices = sorted(Price.objects.all(), key=lambda p: (not p.model, p.credits))
    return {p.code: p for p in prices}


def price_grid(resolutions: tuple[str, ...]) -> list[tuple[str, list[Price | None]]]:
    """The generation prices as rows of (model code, its prices at each of
    `resolutions`), cheapest model first: what the form shows before anyone
    submits."""
    by_model: dict[str, dict[str, Price]] = {}
    for price in Price.objects.exclude(model="").order_by("credits"):
        by_model.setdefault(price.model, {})[price.resolution] = price
    return [(model, [cells.get(r) for r in resolutions]) for model, cells in by_model.items()]


def breaker_is_open() -> bool:
    return BreakerState.objects.filter(name="provider", is_open=True).exists()


def breaker_state() -> BreakerState:
    return BreakerState.objects.filter(name="provider").first() or BreakerState(name="provider")


def latest_provider_balance() -> ProviderBalance | None:
    return ProviderBalance.objects.filter(credits__isnull=False).first()


def reconciliation(days: int = 14, now=None) -> list[dict]:
    """Per day: what the ledger says was committed at the provider, against
    how the provider balance moved (first to last reading of the day, and
    from the last reading of the day before). A large gap means spend the
    app does not know about, or top-ups."""
    now = now or timezone.now()
    since = (timezone.localtime(now) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    spend = dict(
        LedgerEntry.objects.filter(created_at__gte=since, kind__in=("charge", "refund"))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(s=Sum("provider_credits"))
        .values_list("day", "s")
    )
    readings = (
        ProviderBalance.objects.filter(credits__isnull=False, checked_at__gte=since - timedelta(days=1))
        .annotate(day=TruncDate("checked_at"))
        .values("day")
        .annotate(first_id=Min("id"), last_id=Max("id"))
    )
    ids = {r["day"]: (r["first_id"], r["last_id"]) for r in readings}
    credit_of = dict(
        ProviderBalance.objects.filter(id__in=[i for pair in ids.values() for i in pair]).values_list("id", "credits")
    )
    rows = []
    for offset in range(days):
        day = (since + timedelta(days=offset)).date()
        first_last = ids.get(day)
        before = ids.get(day - timedelta(days=1))
        start = credit_of[before[1]] if before else (credit_of[first_last[0]] if first_last else None)
        end = credit_of[first_last[1]] if first_last else None
        moved = start - end if start is not None and end is not None else None
        expected = spend.get(day, 0)
        rows.append(
            {
                "day": day,
                "expected": expected,
                "start": start,
                "end": end,
                "moved": moved,
                "gap": (moved - expected) if moved is not None else None,
                # No reading from the day before (a fresh install, or readings
                # began that day): spend before the first reading is not in
                # "moved", so the gap understates it.
                "partial": before is None and first_last is not None,
            }
        )
    return rows


def active_packs():
    return CreditPack.objects.filter(active=True).order_by("order", "amount")


def payments_of(user_id: int):
    return Payment.objects.filter(user_id=user_id).exclude(status=Payment.Status.CREATED).order_by("-id")


def usd_per_provider_credit():
    """What one provider credit costs the operator, from the price table
    (each price knows both its provider credits and its dollar cost)."""
    totals = Price.objects.aggregate(usd=Sum("cost_usd"), credits=Sum("provider_credits"))
    if not totals["credits"]:
        return Decimal("0.005")
    return totals["usd"] / totals["credits"]


def money_by_day(days: int = 14, now=None) -> list[dict]:
    """Per day, newest last: money in (paid payments less what was refunded
    of them, by the day they were paid, per currency), provider spend in
    dollars (the ledger's provider credits at the price table's rate), and
    the margin in dollars (USD payments less provider spend)."""

    now = now or timezone.now()
    since = (timezone.localtime(now) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    money: dict = {}
    rows = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, paid_at__gte=since)
        .annotate(day=TruncDate("paid_at"))
        .values("day", "currency")
        .annotate(net=Sum(F("amount") - F("amount_refunded")), n=Count("id"))
    )
    for row in rows:
        money.setdefault(row["day"], {})[row["currency"]] = (row["net"] or 0, row["n"])
    spend = dict(
        LedgerEntry.objects.filter(created_at__gte=since, kind__in=("charge", "refund"))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(s=Sum("provider_credits"))
        .values_list("day", "s")
    )
    rate = usd_per_provider_credit()
    out = []
    for offset in range(days):
        day = (since + timedelta(days=offset)).date()
        by_currency = money.get(day, {})
        usd_in = Decimal(by_currency.get("usd", (0, 0))[0]) / 100
        cost = (Decimal(spend.get(day) or 0) * rate).quantize(Decimal("0.01"))
        out.append(
            {
                "day": day,
                "payments": sum(n for _, n in by_currency.values()),
                "money_in": {cur.upper(): Decimal(net) / 100 for cur, (net, _) in sorted(by_currency.items())},
                "usd_in": usd_in,
                "provider_usd": cost,
                "margin_usd": usd_in - cost,
            }
        )
    return out


def shortfall_total() -> int:
    return Payment.objects.aggregate(s=Sum("shortfall"))["s"] or 0

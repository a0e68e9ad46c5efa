"""Reads of credits and prices."""

from django.db.models import Sum

from .models import BreakerState, LedgerEntry, Price, Wallet


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
    """Prices for display: models from cheapest up, then the 1080p upgrade."""
    prices = sorted(Price.objects.all(), key=lambda p: (p.code == "1080p", p.credits))
    return {p.code: p for p in prices}


def breaker_is_open() -> bool:
    return BreakerState.objects.filter(name="provider", is_open=True).exists()


def breaker_state() -> BreakerState:
    return BreakerState.objects.filter(name="provider").first() or BreakerState(name="provider")

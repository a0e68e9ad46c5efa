"""Default prices: seeded by a migration, then edited by operators in admin.

Provider credits follow the provider's published list (about $0.005 each).
"""

from decimal import Decimal

DEFAULT_PRICES = [
    # code, label, user credits, provider credits, operator cost in USD
    ("veo3_fast", "Veo 3 Fast", 10, 60, Decimal("0.30")),
    ("veo3", "Veo 3 Quality", 40, 250, Decimal("1.25")),
    ("1080p", "1080p upgrade", 2, 5, Decimal("0.025")),
]


def ensure_default_prices(price_model) -> None:
    """Create any missing default price (existing rows are left as edited)."""
    for code, label, credits, provider_credits, cost in DEFAULT_PRICES:
        price_model.objects.get_or_create(
            code=code,
            defaults={"label": label, "credits": credits, "provider_credits": provider_credits, "cost_usd": cost},
        )


# name, credits, price in cents (USD), order, best value. A credit costs the
# operator about $0.03 (Veo 3 Fast: 10 credits, $0.30 at the provider), so
# every pack sells above that.
DEFAULT_PACKS = [
    ("Starter", 100, 500, 1, False),
    ("Creator", 500, 2000, 2, False),
    ("Studio", 2000, 7000, 3, True),
]


def ensure_default_packs(pack_model) -> None:
    """Create the default packs when there are none (operators edit them)."""
    if pack_model.objects.exists():
        return
    for name, credits, amount, order, best in DEFAULT_PACKS:
        pack_model.objects.create(
            name=name, credits=credits, amount=amount, currency="usd", order=order, best_value=best
        )

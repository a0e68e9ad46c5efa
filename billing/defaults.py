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

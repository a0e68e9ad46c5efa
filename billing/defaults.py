"""Default prices: seeded by a migration, then edited by operators in admin.

Provider credits follow the provider's current list for Veo 3.1 (about
$0.005 each; shared/kie-api.md): Lite 30/35/150, Fast 60/65/180, Quality
250/255/370 at 720p/1080p/4K. User credits keep the ratio the first prices
set (Fast: 10 credits for 60 provider credits, about 1 for 6), rounded.
"""

from decimal import Decimal

PROVIDER_CREDIT_USD = Decimal("0.005")

# model code, label, {resolution: (user credits, provider credits)}
MODEL_PRICES = [
    ("veo3_lite", "Veo 3 Lite", {"720p": (5, 30), "1080p": (6, 35), "4k": (25, 150)}),
    ("veo3_fast", "Veo 3 Fast", {"720p": (10, 60), "1080p": (11, 65), "4k": (30, 180)}),
    ("veo3", "Veo 3 Quality", {"720p": (40, 250), "1080p": (42, 255), "4k": (62, 370)}),
]
# Derived work made from a finished video: code (= its kind), label, credits, provider credits.
# 4K: "about twice a Fast generation's price" (the provider's notes).
UPGRADE_PRICES = [
    ("1080p", "1080p upgrade", 2, 5),
    ("4k", "4K upgrade", 20, 120),
]


def price_code(model: str, resolution: str) -> str:
    """The row's code: the bare model at 720p (the first round's codes stay), else model_resolution."""
    return model if resolution == "720p" else f"{model}_{resolution}"


def default_rows() -> list[dict]:
    rows = []
    for model, label, by_resolution in MODEL_PRICES:
        for resolution, (credits, provider) in by_resolution.items():
            rows.append(
                {
                    "code": price_code(model, resolution),
                    "model": model,
                    "resolution": resolution,
                    # 720p keeps the first round's label (the model alone).
                    "label": label if resolution == "720p" else f"{label} {'4K' if resolution == '4k' else resolution}",
                    "credits": credits,
                    "provider_credits": provider,
                    "cost_usd": provider * PROVIDER_CREDIT_USD,
                }
            )
    for code, label, credits, provider in UPGRADE_PRICES:
        rows.append(
            {
                "code": code,
                "model": "",
                "resolution": code,
                "label": label,
                "credits": credits,
                "provider_credits": provider,
                "cost_usd": provider * PROVIDER_CREDIT_USD,
            }
        )
    return rows


def ensure_default_prices(price_model) -> None:
    """Create any missing default price; existing rows keep what operators
    set, and only learn their model and resolution if they lacked them."""
    for row in default_rows():
        values = dict(row)
        code = values.pop("code")
        price, created = price_model.objects.get_or_create(code=code, defaults=values)
        if not created and (price.model, price.resolution) != (row["model"], row["resolution"]):
            price_model.objects.filter(pk=price.pk).update(model=row["model"], resolution=row["resolution"])


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

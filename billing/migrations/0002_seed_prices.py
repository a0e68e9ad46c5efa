from decimal import Decimal

from django.db import migrations

# The first round's prices, frozen here: billing.defaults now describes the
# later table (model x resolution), seeded by 0005_price_table.
FIRST_PRICES = [
    ("veo3_fast", "Veo 3 Fast", 10, 60, Decimal("0.30")),
    ("veo3", "Veo 3 Quality", 40, 250, Decimal("1.25")),
    ("1080p", "1080p upgrade", 2, 5, Decimal("0.025")),
]


def seed(apps, schema_editor):
    Price = apps.get_model("billing", "Price")
    for code, label, credits, provider_credits, cost in FIRST_PRICES:
        Price.objects.get_or_create(
            code=code,
            defaults={"label": label, "credits": credits, "provider_credits": provider_credits, "cost_usd": cost},
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

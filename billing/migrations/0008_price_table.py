"""Prices become a table of model x resolution (Veo 3.1 as sold now), seeded
from the provider's current list; the first rows keep what operators set."""

from django.db import migrations, models
from django.db.models import Q

from billing.defaults import ensure_default_prices


def seed(apps, schema_editor):
    ensure_default_prices(apps.get_model("billing", "Price"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0007_merge_0006_ledger_free_tier_0006_seed_credit_packs")]

    operations = [
        migrations.AlterModelOptions(name="price", options={"ordering": ["model", "credits"]}),
        migrations.AddField(
            model_name="price",
            name="model",
            field=models.CharField(blank=True, default="", help_text="The model; empty for upgrades.", max_length=32),
        ),
        migrations.AddField(
            model_name="price",
            name="resolution",
            field=models.CharField(blank=True, default="", help_text="720p, 1080p or 4k.", max_length=8),
        ),
        migrations.AlterField(
            model_name="price",
            name="code",
            field=models.CharField(
                help_text="A name for the row: the model at 720p, model_resolution, or an upgrade.",
                max_length=32,
                unique=True,
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="price",
            constraint=models.UniqueConstraint(
                condition=~Q(model=""), fields=("model", "resolution"), name="price_model_resolution_unique"
            ),
        ),
    ]

from django.db import migrations

from billing.defaults import ensure_default_prices


def seed(apps, schema_editor):
    ensure_default_prices(apps.get_model("billing", "Price"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

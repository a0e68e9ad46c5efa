from django.db import migrations


def seed(apps, schema_editor):
    from billing.defaults import ensure_default_packs

    ensure_default_packs(apps.get_model("billing", "CreditPack"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_payments_and_redeem_codes")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

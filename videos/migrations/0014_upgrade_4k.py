"""The 4K upgrade: Upgrade rows get their own secret callback URL, the
provider's answer times, a result URL to store, what the provider says it
cost, and the mark of the final check before a refund."""

from django.db import migrations, models

import videos.models


def fill_tokens(apps, schema_editor):
    Upgrade = apps.get_model("videos", "Upgrade")
    for upgrade in Upgrade.objects.filter(callback_token__isnull=True).only("pk"):
        Upgrade.objects.filter(pk=upgrade.pk).update(callback_token=videos.models.new_token())


class Migration(migrations.Migration):
    dependencies = [("videos", "0013_offer_resolution_extend")]

    operations = [
        migrations.AddField(
            model_name="upgrade",
            name="callback_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(fill_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="upgrade",
            name="callback_token",
            field=models.CharField(default=videos.models.new_token, editable=False, max_length=64, unique=True),
        ),
        migrations.AddField(
            model_name="upgrade",
            name="requested_at",
            field=models.DateTimeField(
                blank=True, help_text="4K: when the provider accepted the request.", null=True
            ),
        ),
        migrations.AddField(model_name="upgrade", name="callback_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="upgrade",
            name="result_url",
            field=models.URLField(blank=True, default="", max_length=2000),
        ),
        migrations.AddField(
            model_name="upgrade",
            name="credits_consumed",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name="upgrade", name="final_check_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AlterField(
            model_name="upgrade",
            name="kind",
            field=models.CharField(choices=[("1080p", "1080p"), ("4k", "4K")], max_length=8),
        ),
    ]

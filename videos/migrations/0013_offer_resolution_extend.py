"""The whole Veo 3.1 offer on the job: the requested resolution (priced),
what the provider says it made (renamed result_resolution), the video an
extension continues, what the provider says a task cost, and the marks of
the final record-info check and of an empty success (safety filter)."""

from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("videos", "0012_merge_20261128_1819")]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="model",
            field=models.CharField(
                choices=[("veo3_fast", "Veo 3.1 Fast"), ("veo3", "Veo 3.1 Quality"), ("veo3_lite", "Veo 3.1 Lite")],
                default="veo3_fast",
                max_length=32,
            ),
        ),
        migrations.RenameField(model_name="job", old_name="resolution", new_name="result_resolution"),
        migrations.AddField(
            model_name="job",
            name="resolution",
            field=models.CharField(
                choices=[("720p", "720p"), ("1080p", "1080p"), ("4k", "4K")], default="720p", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="extensions",
                to="videos.job",
                verbose_name="extends",
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="credits_consumed",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name="job", name="final_check_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="job", name="empty_result_since", field=models.DateTimeField(blank=True, null=True)
        ),
    ]

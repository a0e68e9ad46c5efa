"""Derived work (the 1080p upgrade) becomes rows of its own: the table."""

import django.db.models.deletion
import django.utils.timezone
import videos.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('videos', '0007_request_choices'),
    ]

    operations = [
        migrations.CreateModel(
            name='Upgrade',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('1080p', '1080p')], max_length=8)),
                ('status', models.CharField(choices=[('pending', 'Processing'), ('succeeded', 'Ready'), ('failed', 'Failed')], default='pending', max_length=12)),
                ('price_credits', models.PositiveIntegerField(help_text='Credits charged, frozen when asked for.')),
                ('reference', models.CharField(default=videos.models.new_upgrade_reference, editable=False, max_length=64, unique=True)),
                ('task_id', models.CharField(blank=True, default='', help_text='The provider task it is made from (or its own, for 4K).', max_length=128)),
                ('file', models.FileField(blank=True, default='', max_length=255, upload_to='videos/')),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('deadline_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.CharField(blank=True, default='', max_length=500)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='upgrade',
            name='job',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='upgrades', to='videos.job'),
        ),
        migrations.AddIndex(
            model_name='upgrade',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='upgrade_due'),
        ),
        migrations.AddConstraint(
            model_name='upgrade',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['pending', 'succeeded'])), fields=('job', 'kind'), name='upgrade_once_per_kind'),
        ),
        ]

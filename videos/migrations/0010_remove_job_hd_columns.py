"""Derived work: the nine hd_* columns leave Job once 0009 has moved them
into Upgrade rows (a migration of its own: PostgreSQL will not alter a table
in the transaction that wrote rows pointing at it)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0009_move_hd_columns_to_upgrades"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='job',
            name='job_hd_due',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_attempts',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_error',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_file',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_next_at',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_price_credits',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_requested_at',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_round',
        ),
        migrations.RemoveField(
            model_name='job',
            name='hd_status',
        ),
    ]

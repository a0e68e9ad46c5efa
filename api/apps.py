from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Developer API"

    def ready(self) -> None:
        # Here, not at the top: apps.py loads before any app's models are
        # ready, and webhooks imports models.
        from videos import signals

        from . import webhooks

        signals.job_finished.connect(webhooks.on_job_finished, dispatch_uid="api.webhooks.job")
        signals.upgrade_finished.connect(webhooks.on_upgrade_finished, dispatch_uid="api.webhooks.upgrade")
        post_migrate.connect(ensure_schedules, sender=self)


def ensure_schedules(**kwargs) -> None:
    """Webhook retries come due in the database; this sweep hands them to the
    worker once a minute (a worker never sleeps waiting to retry)."""
    # A model: importable only once the apps are loaded (see ready()).
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="api.webhooks_due",
        defaults={"func": "api.tasks.webhooks_due", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="api.housekeeping",
        defaults={"func": "api.tasks.housekeeping", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )

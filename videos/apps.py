from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VideosConfig(AppConfig):
    name = "videos"
    verbose_name = "Videos"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from . import live, storage

        post_migrate.connect(ensure_schedules, sender=self)
        storage.warm()
        post_save.connect(live.user_saved, sender=get_user_model(), dispatch_uid="videos.live.user_saved")


def ensure_schedules(**kwargs) -> None:
    """The safety-net tick (polls, deadlines, lost tasks) runs every minute,
    the provider balance check every ten, the sweep of kept uploads hourly."""
    # Imported here because apps.py is loaded before any app's models are
    # ready; a module-level import of a model would fail at start-up.
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="videos.tick",
        defaults={"func": "videos.tasks.tick", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="provider.balance",
        defaults={
            "func": "videos.tasks.provider_balance_check",
            "schedule_type": Schedule.MINUTES,
            "minutes": 10,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name="uploads.stash",
        defaults={"func": "videos.tasks.stash_sweep", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )

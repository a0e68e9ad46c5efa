"""django-q2 entry points: each takes an id and calls one service.

Tasks are delivered at least once (and lost with a dying worker on Redis);
every service here is idempotent and `jobs_tick` finds what was lost.
"""

from billing.services import provider_balance_record

from . import services, stash
from .kie import KieError, default_client
from .models import Upgrade, UpgradeKind
from .queue import recorder


def submit_job(job_id: int) -> None:
    services.job_submit(job_id)


def download_job(job_id: int) -> None:
    services.job_download(job_id)


def poll_job(job_id: int) -> None:
    services.job_poll(job_id)


def expire_job(job_id: int) -> None:
    services.job_expire(job_id)


def upgrade_job(upgrade_id: int) -> None:
    services.upgrade_fetch(upgrade_id)


def expire_upgrade(upgrade_id: int) -> None:
    services.upgrade_expire(upgrade_id)


def hd_job(job_id: int) -> None:
    """A 1080p task queued before upgrades were rows of their own (it names
    the job): fetch that job's pending 1080p upgrade."""
    upgrade = Upgrade.objects.filter(job_id=job_id, kind=UpgradeKind.P1080, status=Upgrade.Status.PENDING).first()
    if upgrade is not None:
        services.upgrade_fetch(upgrade.pk)


def provider_balance_check() -> int | None:
    """Read the provider's credit balance and record it (billing alerts)."""
    try:
        credits = default_client().credits(record=recorder(None))
    except KieError as exc:
        provider_balance_record(credits=None, error=exc.message)
        return None
    provider_balance_record(credits=credits)
    return credits


def tick() -> dict[str, int]:
    return services.jobs_tick()


def stash_sweep() -> int:
    """Hourly: kept uploads of failed submissions nobody came back for."""
    return stash.stash_sweep()

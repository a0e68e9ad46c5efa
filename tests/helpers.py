"""Helpers shared by test modules (fixtures live in conftest.py). Test
modules import from here, never from one another."""

from datetime import timedelta

from django.utils import timezone

from billing.models import LedgerEntry
from videos.models import Job

from .conftest import wait_for


def job_after(response) -> Job:
    """The job a successful generate POST redirected to."""
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))


def settled(job: Job, status: str = Job.Status.SUCCEEDED, timeout: float = 10) -> Job:
    """Wait until `job` reaches `status` (the simulator calls back over loopback)."""
    return wait_for(lambda: Job.objects.filter(pk=job.pk, status=status).first(), timeout=timeout)


def refunds(job: Job) -> int:
    return LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count()


def time_passes(row, field: str) -> None:
    """Make `field` (a due time of a job or an upgrade) lie in the past."""
    type(row).objects.filter(pk=row.pk).update(**{field: timezone.now() - timedelta(seconds=1)})

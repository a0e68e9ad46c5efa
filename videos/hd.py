"""The 1080p upgrade of a finished 16:9 video.

Charged when asked for (price code "1080p"), fetched by the worker, and
retried patiently while the provider answers "still processing" (every
HD_RETRY_SECONDS, at most HD_MAX_ATTEMPTS times); refunded if it never comes.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import services as billing

from . import kie, signals
from .downloads import DownloadError, store_video
from .models import Job
from .services import enqueue, in_language_of, recorder

log = logging.getLogger(__name__)
H = Job.HdStatus


class HdNotAvailable(Exception):
    pass


def job_hd_request(*, job: Job) -> Job:
    """Charge the upgrade and hand it to the worker. Raises HdNotAvailable,
    billing.Refused or billing.InsufficientCredits (nothing written)."""
    if not job.can_upgrade_hd:
        raise HdNotAvailable(_("Only finished 16:9 videos can be upgraded to 1080p."))
    price = billing.price_for("1080p")
    now = timezone.now()
    with billing.admission(), transaction.atomic():
        won = Job.objects.filter(
            pk=job.pk, status=Job.Status.SUCCEEDED, aspect_ratio="16:9", hd_status__in=(H.NONE, H.FAILED)
        ).update(
            hd_status=H.PENDING,
            hd_price_credits=price.credits,
            hd_attempts=0,
            hd_round=F("hd_round") + 1,
            hd_next_at=now,
            hd_requested_at=now,
            hd_error="",
        )
        if not won:
            raise HdNotAvailable(_("This video is already being upgraded."))
        job.refresh_from_db()
        billing.job_charge(
            user_id=job.user_id, price=price, reference=job.hd_reference, reason=f"1080p of video #{job.pk}"
        )
        transaction.on_commit(lambda: enqueue("hd_job", job.pk))
    log.info("job %s: 1080p requested", job.pk)
    return job


def job_hd_fetch(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """One attempt at the 1080p video. Idempotent: a due pending upgrade is
    claimed by moving its next attempt time; others return at once."""
    now = timezone.now()
    retry_at = now + timedelta(seconds=settings.HD_RETRY_SECONDS)
    claimed = Job.objects.filter(pk=job_id, hd_status=H.PENDING, hd_next_at__lte=now).update(
        hd_next_at=retry_at + timedelta(minutes=5), hd_attempts=F("hd_attempts") + 1
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    try:
        url = (client or kie.default_client()).get_1080p(job.task_id, record=recorder(job.pk))
        stored = store_video(url, name=f"videos/{job.user_id}/{secrets.token_urlsafe(16)}-1080p.mp4")
    except (kie.KieError, DownloadError) as exc:
        retryable = exc.retryable
        if retryable and job.hd_attempts < settings.HD_MAX_ATTEMPTS:
            Job.objects.filter(pk=job.pk, hd_status=H.PENDING).update(hd_next_at=retry_at)
            log.info("job %s: 1080p not ready (attempt %s): %s", job.pk, job.hd_attempts, exc)
            return
        hd_fail(job, reason=format_lazy(gettext_lazy("The 1080p version could not be made: {}"), exc))
        return
    with transaction.atomic():
        if Job.objects.filter(pk=job.pk, hd_status=H.PENDING).update(
            hd_status=H.SUCCEEDED, hd_file=stored.name, hd_next_at=None
        ):
            signals.upgrade_finished_after_commit(job.pk, reference=job.hd_reference, quality="1080p", succeeded=True)
    log.info("job %s: 1080p stored %s", job.pk, stored.name)


def hd_fail(job: Job, *, reason) -> bool:
    reason = in_language_of(job.pk, reason)
    with transaction.atomic():
        won = Job.objects.filter(pk=job.pk, hd_status=H.PENDING).update(
            hd_status=H.FAILED, hd_error=reason[:500], hd_next_at=None
        )
        if won:
            billing.credits_refund(reference=job.hd_reference, reason=f"1080p of video #{job.pk} failed")
            signals.upgrade_finished_after_commit(
                job.pk, reference=job.hd_reference, quality="1080p", succeeded=False, error=reason
            )
    if won:
        log.warning("job %s: 1080p failed and refunded: %s", job.pk, reason)
    return bool(won)

"""Copying a finished job's video into our storage, with a poster frame.

A lease keeps two workers from downloading at once (a lost worker's lease
runs out); the job is finished by a conditional update, and files of a
download that lost the race are deleted.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from .. import dispatch, notices, posters, retry
from ..downloads import DownloadError, store_video
from ..models import Job
from .settle import job_fail

log = logging.getLogger(__name__)
S = Job.Status

DOWNLOAD_LEASE = timedelta(minutes=10)


def job_download(job_id: int) -> None:
    """Copy the result into our storage. Idempotent: a lease keeps two
    workers from downloading at once; a lost worker's lease runs out."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=S.DOWNLOADING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(lease_until=now + DOWNLOAD_LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    name = f"videos/{job.user_id}/{secrets.token_urlsafe(16)}.mp4"
    try:
        stored = store_video(job.provider_video_url, name=name)
    except DownloadError as exc:
        log.warning("job %s: download attempt %s failed: %s", job.pk, job.attempts, exc)
        delay = retry.retry_delay("download", job.attempts) if exc.retryable else None
        if delay is not None:
            Job.objects.filter(pk=job.pk, status=S.DOWNLOADING).update(
                lease_until=None, next_attempt_at=now + delay, enqueued_at=None
            )
        else:
            reason = format_lazy(gettext_lazy("We could not save the video: {}"), exc)
            job_fail(job.pk, reason=reason, from_statuses=(S.DOWNLOADING,))
        return
    poster = poster_for(stored.name, user_id=job.user_id)
    with transaction.atomic():
        won = Job.objects.filter(pk=job.pk, status=S.DOWNLOADING).update(
            status=S.SUCCEEDED,
            poster=poster,
            video_file=stored.name,
            video_bytes=stored.size,
            video_sha256=stored.sha256,
            finished_at=timezone.now(),
            lease_until=None,
        )
        if won:
            dispatch.dispatch_after_commit()
            notices.notice_after_commit(job.pk, "ready")
    if not won:  # settled meanwhile by someone else: do not keep stray files
        default_storage.delete(stored.name)
        if poster:
            default_storage.delete(poster)
        return
    log.info("job %s stored %s (%s bytes)", job.pk, stored.name, stored.size)


def poster_for(video_name: str, *, user_id: int) -> str:
    """Store a poster frame of a stored video; '' when none can be made
    (no ffmpeg, or a storage without local paths)."""
    try:
        path = default_storage.path(video_name)
    except NotImplementedError:
        return ""
    jpeg = posters.extract_poster(path)
    if not jpeg:
        return ""
    return default_storage.save(f"posters/{user_id}/{secrets.token_urlsafe(16)}.jpg", ContentFile(jpeg))

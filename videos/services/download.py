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
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from .. import dispatch, notices, posters, retry, storage
from ..downloads import DownloadError, StoredVideo, store_video
from ..models import Job
from .settle import job_fail

log = logging.getLogger(__name__)
S = Job.Status

DOWNLOAD_LEASE = timedelta(minutes=10)


def job_download(job_id: int) -> None:
    """Copy the result into our storage. Idempotent: a lease keeps two
    workers from downloading at once; a lost worker's lease runs out.

    Every attempt ends in a verdict: stored, retried later (the "download"
    rule of videos.retry), or failed and refunded. That holds for faults of
    our own too (storage down, a bug): they count as a retryable attempt
    rather than escaping and leaving the job to its lease. The sweep fails a
    job still downloading at its deadline.
    """
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
    if job.attempts > 1 and retry.retry_delay("download", job.attempts - 1) is None:
        # Earlier attempts ended without a verdict (a worker killed mid-way)
        # and used up the retries: the bound holds all the same.
        _retry_or_fail(job, DownloadError("too many attempts", retryable=False))
        return
    name = f"videos/{job.user_id}/{secrets.token_urlsafe(16)}.mp4"
    stored = None
    try:
        stored = store_video(job.provider_video_url, name=name)
        _finish(job, stored)
    except DownloadError as exc:
        _retry_or_fail(job, exc)
    except Exception as exc:  # our own fault: bounded like a network error, never left hanging
        log.exception("job %s: download attempt %s crashed", job.pk, job.attempts)
        if stored is not None and not Job.objects.filter(pk=job.pk, video_file=stored.name).exists():
            storage.delete(stored.name)  # a file no job points at (the job may have won before the fault)
        _retry_or_fail(job, DownloadError(f"an internal error ({type(exc).__name__})", retryable=True))


def _retry_or_fail(job: Job, exc: DownloadError) -> None:
    log.warning("job %s: download attempt %s failed: %s", job.pk, job.attempts, exc)
    delay = retry.retry_delay("download", job.attempts) if exc.retryable else None
    if delay is not None:
        Job.objects.filter(pk=job.pk, status=S.DOWNLOADING).update(
            lease_until=None, next_attempt_at=timezone.now() + delay, enqueued_at=None
        )
        return
    reason = format_lazy(gettext_lazy("We could not save the video: {}"), exc)
    job_fail(job.pk, reason=reason, from_statuses=(S.DOWNLOADING,))


def _finish(job: Job, stored: StoredVideo) -> None:
    """The job succeeds with `stored` unless someone settled it meanwhile
    (then the files go)."""
    try:
        poster = poster_for(stored.name, user_id=job.user_id)
    except Exception:  # a poster is a nicety: never a reason to lose the video
        log.exception("job %s: no poster", job.pk)
        poster = ""
    try:
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
    except Exception:
        if poster:
            storage.delete(poster)
        raise
    if not won:  # settled meanwhile by someone else: do not keep stray files
        storage.delete(stored.name)
        storage.delete(poster)
        return
    log.info("job %s stored %s (%s bytes)", job.pk, stored.name, stored.size)


def poster_for(video_name: str, *, user_id: int) -> str:
    """Store a poster frame of a stored video; '' when none can be made
    (no ffmpeg, or the store failed: a poster is a nicety, not a reason to
    fail a paid video). ffmpeg reads the stored file where it is (a local
    path or a presigned URL), so no machine needs the worker's disk."""
    try:
        with storage.readable(video_name) as source:
            jpeg = posters.extract_poster(source)
        if not jpeg:
            return ""
        return storage.save(f"posters/{user_id}/{secrets.token_urlsafe(16)}.jpg", ContentFile(jpeg))
    except storage.StorageError:
        return ""

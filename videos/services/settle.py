"""Settling a job: the provider's result (callback or poll) or a failure.

Each move is a conditional update that exactly one caller wins, so the
webhook, the poller, retried tasks and restarted workers settle a job once;
a failure refunds the charge in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import dispatch, kie, notices
from ..models import Job, ProviderCall
from ..queue import enqueue, recorder

log = logging.getLogger(__name__)
S = Job.Status


def in_language_of(job_id: int, text) -> str:
    """`text` (perhaps a lazy translation) as the job's user reads it."""
    language = Job.objects.filter(pk=job_id).values_list("language", flat=True).first() or settings.LANGUAGE_CODE
    with translation.override(language):
        return str(text)


def job_fail(job_id: int, *, reason, from_statuses=Job.ACTIVE) -> bool:
    """Fail an active job and refund its charge, once. Returns whether this
    call did it (False when the job had already moved on). `reason` may be
    a lazy translation: it is written in the job's language."""
    reason = in_language_of(job_id, reason)
    with transaction.atomic():
        won = Job.objects.filter(pk=job_id, status__in=from_statuses).update(
            status=S.FAILED,
            error_message=reason[:1000],
            finished_at=timezone.now(),
            next_poll_at=None,
            lease_until=None,
            next_attempt_at=None,
        )
        if won:
            billing.credits_refund(reference=f"job:{job_id}", reason=f"Video #{job_id} failed")
            dispatch.dispatch_after_commit()
            notices.notice_after_commit(job_id, "failed")
    if won:
        log.info("job %s failed and refunded: %s", job_id, reason)
    return bool(won)


def job_apply_result(job_id: int, result: kie.TaskResult, *, via: str, task_known: bool = False) -> bool:
    """The one settle path for callbacks and polls. Returns whether this
    call moved the job (duplicates and late arrivals return False)."""
    waiting = (S.SUBMITTING, S.SUBMITTED)
    now = timezone.now()
    stamp = {"callback_at": now} if via == "callback" else {}
    if not task_known:  # the result names the task; remember it if the submit has not yet
        Job.objects.filter(pk=job_id, task_id__isnull=True).update(task_id=result.task_id)
    if result.state == "failed":
        Job.objects.filter(pk=job_id, status__in=waiting).update(**stamp)
        return job_fail(
            job_id,
            reason=result.error_message or gettext_lazy("The provider could not generate this video."),
            from_statuses=waiting,
        )
    if result.state == "pending":
        # Success without a URL yet (or still generating): ask again soon.
        Job.objects.filter(pk=job_id, status=S.SUBMITTED).update(
            next_poll_at=now + timedelta(seconds=settings.POLL_GRACE_SECONDS), **stamp
        )
        return False
    with transaction.atomic():
        won = Job.objects.filter(pk=job_id, status__in=waiting).update(
            status=S.DOWNLOADING,
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),  # the download's own clock
            provider_video_url=result.video_url,
            resolution=result.resolution,
            provider_completed_at=result.completed_at or now,
            next_poll_at=None,
            attempts=0,
            next_attempt_at=None,
            lease_until=None,
            enqueued_at=now,  # the download task is handed out on commit
            **stamp,
        )
        if won:
            transaction.on_commit(lambda: enqueue("download_job", job_id, mark=False))
            dispatch.dispatch_after_commit()  # no longer in flight at the provider
    if won:
        log.info("job %s result via %s: %s", job_id, via, result.video_url)
    return bool(won)


def job_callback(*, job: Job, result: kie.TaskResult, endpoint: str) -> bool:
    """Record an accepted callback in the job's history and settle it, in
    one transaction (one commit on the webhook's hot path)."""
    with transaction.atomic():
        ProviderCall.objects.create(
            job=job,
            endpoint=endpoint,
            http_status=200,
            code=200 if result.state != "failed" else result.error_code,
            error=result.error_message[:500],
        )
        return job_apply_result(job.pk, result, via="callback", task_known=job.task_id == result.task_id)


def job_poll(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """Ask the provider for a submitted job's state and settle it."""
    job = Job.objects.filter(pk=job_id, status=S.SUBMITTED, task_id__isnull=False).first()
    if job is None:
        return
    try:
        result = (client or kie.default_client()).record_info(job.task_id, record=recorder(job.pk))
    except kie.KieError as exc:
        log.warning("job %s: poll failed (code=%s): %s", job.pk, exc.code, exc.message)
        return  # the next poll is already scheduled; the deadline bounds it
    if result.task_id != job.task_id:
        log.warning("job %s: status answer named task %s", job.pk, result.task_id)
        return
    job_apply_result(job.pk, result, via="poll")

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

# Failure codes that do not settle a task: the provider may still finish it
# (408: no result for 10 minutes; 455/500: its own trouble). Before a job is
# failed on one, record-info (the final authority) is asked.
AMBIGUOUS_CODES = frozenset({408, 455, 500})
FILTERED = gettext_lazy(
    "The provider's safety filter blocked this video (it finished without a video). Your credits were returned."
)


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
        if via == "callback" and (result.error_code in AMBIGUOUS_CODES or result.error_code is None):
            # Not the last word: ask the authority now (the poll settles it;
            # if that task is lost, the sweep finds the poll due). Only the
            # first such callback asks: duplicates cost no extra reads.
            if Job.objects.filter(pk=job_id, status=S.SUBMITTED, callback_at__isnull=True).update(
                next_poll_at=now, **stamp
            ):
                transaction.on_commit(lambda: enqueue("poll_job", job_id))
            log.info("job %s: ambiguous failure %s via callback; asking record-info", job_id, result.error_code)
            return False
        Job.objects.filter(pk=job_id, status__in=waiting).update(**stamp)
        return job_fail(
            job_id,
            reason=result.error_message or gettext_lazy("The provider could not generate this video."),
            from_statuses=waiting,
        )
    if result.state == "pending":
        if result.empty_success and _empty_for_too_long(job_id, now):
            return job_fail(job_id, reason=FILTERED, from_statuses=waiting)
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
            result_resolution=result.resolution,
            credits_consumed=result.credits_consumed,
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


def _empty_for_too_long(job_id: int, now) -> bool:
    """A success without a video: remember when it was first seen; once it
    stayed empty past KIE_EMPTY_RESULT_GRACE_SECONDS it is the safety filter.
    (An empty success has also been seen just before the URLs were filled.)"""
    Job.objects.filter(pk=job_id, empty_result_since__isnull=True).update(empty_result_since=now)
    since = Job.objects.filter(pk=job_id).values_list("empty_result_since", flat=True).first()
    return since is not None and (now - since).total_seconds() >= settings.KIE_EMPTY_RESULT_GRACE_SECONDS


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


EXPIRED = gettext_lazy("The video took too long and was cancelled. Your credits were returned.")


def job_expire(job_id: int, *, client: kie.KieClient | None = None) -> bool:
    """A job past its deadline: ask record-info once (the provider is the
    final authority), deliver it if the task succeeded, else fail and refund.
    Claimed by stamping final_check_at, so the question is asked once."""
    now = timezone.now()
    waiting = (S.SUBMITTING, S.SUBMITTED)
    if not Job.objects.filter(pk=job_id, status__in=waiting, final_check_at__isnull=True).update(final_check_at=now):
        return False
    job = Job.objects.get(pk=job_id)
    if job.task_id:
        try:
            result = (client or kie.default_client()).record_info(job.task_id, record=recorder(job.pk))
        except kie.KieError as exc:
            log.warning("job %s: final record-info failed (code=%s): %s", job.pk, exc.code, exc.message)
        else:
            if result.task_id == job.task_id and result.state == "succeeded":
                log.info("job %s: past its deadline but the provider made it: delivering", job.pk)
                return job_apply_result(job.pk, result, via="final check", task_known=True)
            if result.empty_success:
                return job_fail(job.pk, reason=FILTERED, from_statuses=waiting)
    return job_fail(job.pk, reason=EXPIRED, from_statuses=waiting)


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

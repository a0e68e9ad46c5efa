"""Sending a dispatched job to the provider, and what a refusal means.

A job is claimed by a conditional update (queued → submitting), so a task
delivered twice sends once; a refusal worth retrying puts it back in the
queue with its next attempt time (videos.retry), keeping its running slot.
A generate whose answer was lost is never resent: the job waits for its
unique callback URL until the deadline.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import dispatch, kie, retry
from ..models import Job
from ..queue import recorder
from .create import request_of
from .settle import job_fail

log = logging.getLogger(__name__)
S = Job.Status

SUBMIT_LEASE = timedelta(minutes=3)


def callback_url(job: Job) -> str:
    return settings.PUBLIC_BASE_URL + reverse("kie_callback", args=[job.callback_token])


def job_submit(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """Send a dispatched job to the provider, once. Idempotent: only a
    queued, dispatched job whose retry time has come is claimed; anyone else
    returns at once. Whatever goes wrong becomes the job's next attempt
    (videos.retry) or a failure with a refund: this never waits."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=S.QUEUED, dispatched_at__isnull=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=S.SUBMITTING, attempts=F("attempts") + 1, lease_until=now + SUBMIT_LEASE, next_attempt_at=None)
    )
    if not claimed:
        return
    try:
        _submit_claimed(job_id, client=client)
    except Exception:
        # Something of ours failed with the job claimed. Whether the generate
        # call went out is unknown, so it is treated as possibly delivered
        # (as a lost answer is): the job waits for its callback until the
        # deadline, then fails and is refunded. Never resent, never left
        # in `submitting`.
        log.exception("job %s: submit crashed", job_id)
        now = timezone.now()
        Job.objects.filter(pk=job_id, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )


def _submit_claimed(job_id: int, *, client: kie.KieClient | None) -> None:
    job = Job.objects.select_related("parent").get(pk=job_id)
    wait = dispatch.provider_permit()
    if wait:  # the provider's rate window is full: no attempt was made, come back when it has room
        _requeue(job, delay=retry.permit_delay(wait), attempts=F("attempts") - 1)
        log.info("job %s: no provider permit for %.1fs; rescheduled", job.pk, wait)
        return
    try:
        task_id = _send(client or kie.default_client(), job)
    except kie.KieError as exc:
        _after_submit_error(job, exc)
        return
    now = timezone.now()
    with transaction.atomic():
        # A fast callback may have stored the task id (and settled) already.
        Job.objects.filter(pk=job.pk, task_id__isnull=True).update(task_id=task_id)
        Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            next_poll_at=now + retry.first_poll_delay(job.model),
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )
    log.info("job %s submitted task=%s", job.pk, task_id)


def _send(client: kie.KieClient, job: Job) -> str:
    """One billed call that starts the job's task: generate, or for an
    extension the extend endpoint on its parent's task."""
    if job.parent_id is not None:
        return client.extend(
            task_id=job.parent.task_id,
            prompt=job.prompt,
            model=job.model,
            seed=job.seed,
            watermark=job.watermark,
            callback_url=callback_url(job),
            record=recorder(job.pk),
        )
    return client.generate(request_of(job), callback_url=callback_url(job), record=recorder(job.pk))


def _requeue(job: Job, *, delay: timedelta, **changes) -> None:
    """Back to the queue, keeping the running slot, until `delay` passed;
    the sweep (or the next dispatch) hands it to a worker again then."""
    Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
        status=S.QUEUED, next_attempt_at=timezone.now() + delay, lease_until=None, enqueued_at=None, **changes
    )


def rate_limited_answers(job: Job) -> int:
    """How often the provider answered this job's generate with 429."""
    return job.provider_calls.filter(endpoint__endswith="/generate", code=429).count()


def _after_submit_error(job: Job, exc: kie.KieError) -> None:
    now = timezone.now()
    if exc.maybe_delivered:
        # The provider may have started (and will bill) this generation. We
        # do not resend it: its callback URL is unique to this job, so if it
        # exists its result still arrives; if nothing comes by the deadline
        # the job fails and is refunded.
        Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )
        log.warning("job %s: generate answer lost (%s); waiting for a callback", job.pk, exc.message)
        return
    if exc.handling.breaker:
        log.error("job %s: provider needs an operator: code=%s %s", job.pk, exc.code, exc.message)
        billing.breaker_trip(reason=f"Provider answered {exc.code}: {exc.handling.meaning} ({exc.message})")
    # Each claim that got this far made one generate call: the calls that
    # were not rate limited are the failures of the "later" kind.
    rule = exc.handling.retry
    rate_limited = rate_limited_answers(job)
    failures = rate_limited if rule == "backoff" else job.attempts - rate_limited
    delay = retry.retry_delay(rule, failures)
    if delay is not None:
        _requeue(job, delay=delay)
        log.warning("job %s: %s retry %s in %.1fs (code=%s)", job.pk, rule, failures, delay.total_seconds(), exc.code)
        return
    job_fail(job.pk, reason=user_message(exc), from_statuses=(S.SUBMITTING,))


def user_message(exc: kie.KieError):
    """What the user reads when the provider refused (lazy: job_fail writes
    it in the job's language). The provider's own words stay as they are."""
    if exc.code == 429:
        return gettext_lazy(
            "The video service is too busy right now. Your credits were returned; please try again later."
        )
    if exc.handling.alert:
        return gettext_lazy("The video service is unavailable right now. Your credits were returned.")
    if exc.code == 422:
        return format_lazy(gettext_lazy("The provider could not accept this request: {}"), exc.message)
    if exc.message:
        return format_lazy(gettext_lazy("The provider could not make this video: {}"), exc.message)
    return format_lazy(
        gettext_lazy("The provider could not make this video ({}). Your credits were returned."), exc.code
    )

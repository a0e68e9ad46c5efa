"""Sending a dispatched job to the provider, and what a refusal means.

A job is claimed by a conditional update (queued → submitting), so a task
delivered twice sends once. A generate whose answer was lost is never
resent: the job waits for its unique callback URL until the deadline.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import dispatch, kie
from ..models import Job
from ..queue import recorder
from ..retry import BACKOFF_STEPS, backoff_delay, first_poll_delay
from .create import request_of
from .settle import job_fail

log = logging.getLogger(__name__)
S = Job.Status

SUBMIT_LEASE = timedelta(minutes=3)


def callback_url(job: Job) -> str:
    return settings.PUBLIC_BASE_URL + reverse("kie_callback", args=[job.callback_token])


def job_submit(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """Send a dispatched job to the provider. Idempotent: only a queued,
    dispatched job whose retry time has come is claimed; anyone else
    returns at once. A 429 is retried here with exponential backoff; other
    transient errors put the job back in the queue (keeping its slot)."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=S.QUEUED, dispatched_at__isnull=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=S.SUBMITTING, attempts=F("attempts") + 1, lease_until=now + SUBMIT_LEASE, next_attempt_at=None)
    )
    if not claimed:
        return
    job = Job.objects.select_related("parent").get(pk=job_id)
    request = request_of(job)
    client = client or kie.default_client()
    backoffs = 0
    while True:
        if not dispatch.provider_permit():
            _requeue(job, delay=timedelta(seconds=5))
            return
        try:
            task_id = _send(client, job, request)
            break
        except kie.KieError as exc:
            if exc.handling.retry == "backoff" and backoffs < len(BACKOFF_STEPS):
                delay = backoff_delay(backoffs)
                log.warning("job %s: provider rate limit, retry in %.1fs", job.pk, delay)
                time.sleep(delay)
                backoffs += 1
                Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(lease_until=timezone.now() + SUBMIT_LEASE)
                continue
            _after_submit_error(job, exc)
            return
    now = timezone.now()
    with transaction.atomic():
        # A fast callback may have stored the task id (and settled) already.
        Job.objects.filter(pk=job.pk, task_id__isnull=True).update(task_id=task_id)
        Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            next_poll_at=now + first_poll_delay(job.model),
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )
    log.info("job %s submitted task=%s", job.pk, task_id)


def _send(client: kie.KieClient, job: Job, request) -> str:
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
    return client.generate(request, callback_url=callback_url(job), record=recorder(job.pk))


def _requeue(job: Job, *, delay: timedelta) -> None:
    """Back to the queue, keeping the running slot, until `delay` passed."""
    Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
        status=S.QUEUED, next_attempt_at=timezone.now() + delay, lease_until=None, enqueued_at=None
    )


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
    delays = settings.KIE_RETRY_DELAYS
    if exc.handling.retry == "later" and job.attempts <= len(delays):
        delay = timedelta(seconds=delays[job.attempts - 1])
        _requeue(job, delay=delay)
        log.warning("job %s: submit retry %s in %ss (code=%s)", job.pk, job.attempts, delay.seconds, exc.code)
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

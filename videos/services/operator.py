"""What an operator does to a job from the admin: retry it or refund it."""

from __future__ import annotations

from django.db import IntegrityError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import dispatch
from ..models import Job
from ..queue import enqueue
from .create import job_create, request_of
from .settle import job_fail

S = Job.Status


def job_retry(job_id: int) -> Job | None:
    """An operator's retry. A job waiting for a retry is sent now; a failed
    job is submitted again as a new job for its owner (charged and admitted
    like any other, so it raises what job_create raises), at most once: the
    new job's unique `retry_of` makes a second or raced retry return the
    first one's job instead. Returns the job that will run, or None if there
    was nothing to retry."""
    job = Job.objects.get(pk=job_id)
    if job.status == S.QUEUED:
        Job.objects.filter(pk=job.pk, status=S.QUEUED).update(next_attempt_at=None)
        if job.dispatched_at:
            enqueue("submit_job", job.pk)
        else:
            dispatch.jobs_dispatch()
        return job
    if job.status != S.FAILED:
        return None
    earlier = Job.objects.filter(retry_of=job).first()
    if earlier is not None:
        return earlier
    try:
        return job_create(user=job.user, request=request_of(job), retry_of=job)
    except IntegrityError:  # a concurrent retry of the same job won; its charge stands, ours never happened
        return Job.objects.filter(retry_of=job).first()


def job_refund(job_id: int, *, actor) -> bool:
    """An operator's refund: an active job is failed and refunded; a
    finished one is refunded as goodwill (once, like every refund)."""
    job = Job.objects.get(pk=job_id)
    if job.status in Job.ACTIVE:
        reason = format_lazy(
            gettext_lazy("Cancelled by an operator. Your {} credits were returned."), job.price_credits
        )
        return job_fail(job.pk, reason=reason)
    entry = billing.credits_refund(reference=job.charge_reference, reason=f"Video #{job.pk}: refunded by an operator")
    return entry is not None

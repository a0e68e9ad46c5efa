"""Who may go to the provider, and when.

Two global decisions, each taken under a lock on the single ProviderGate
row so that any number of web and worker processes agree:

- running slots: a queued job is dispatched (granted a slot) only while its
  user has fewer than USER_RUNNING_SLOTS running jobs and fewer than
  GLOBAL_INFLIGHT_CAP jobs are at the provider; the rest wait, oldest first.
  A slot is held from dispatch until the job is final.
- send permits: every generate request takes a permit; at most
  PROVIDER_RATE_LIMIT permits exist per PROVIDER_RATE_WINDOW_SECONDS. A job
  without one is rescheduled for when the window has room.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from billing.selectors import breaker_is_open

from .models import Job, ProviderGate, SendPermit
from .queue import enqueue

S = Job.Status

# Holding a slot: dispatched and not yet final.
RUNNING = Q(status__in=(S.SUBMITTING, S.SUBMITTED, S.DOWNLOADING)) | Q(status=S.QUEUED, dispatched_at__isnull=False)
# At the provider (or about to be): what the global cap counts.
INFLIGHT = Q(status__in=(S.SUBMITTING, S.SUBMITTED)) | Q(status=S.QUEUED, dispatched_at__isnull=False)
DISPATCH_BATCH = 200


def submissions_open() -> bool:
    """Whether new work may go to the provider (the circuit breaker)."""
    return not breaker_is_open()


def jobs_dispatch() -> list[int]:
    """Grant free running slots to queued jobs, oldest first, and hand them
    to the worker. Returns the ids dispatched. Safe to call any time, from
    any process: the gate lock makes concurrent calls take turns."""
    if not Job.objects.filter(status=S.QUEUED, dispatched_at__isnull=True).exists():
        return []  # nothing waits: no need to take the global lock
    if not submissions_open():
        return []
    with transaction.atomic():
        ProviderGate.lock()
        free = settings.GLOBAL_INFLIGHT_CAP - Job.objects.filter(INFLIGHT).count()
        if free <= 0:
            return []
        running = dict(
            Job.objects.filter(RUNNING).values("user_id").annotate(n=Count("id")).values_list("user_id", "n")
        )
        full = [user_id for user_id, n in running.items() if n >= settings.USER_RUNNING_SLOTS]
        waiting = (
            Job.objects.filter(status=S.QUEUED, dispatched_at__isnull=True)
            .exclude(user_id__in=full)
            .order_by("id")
            .values_list("id", "user_id")[:DISPATCH_BATCH]
        )
        granted: list[int] = []
        for job_id, user_id in waiting:
            if len(granted) >= free:
                break
            if running.get(user_id, 0) >= settings.USER_RUNNING_SLOTS:
                continue
            running[user_id] = running.get(user_id, 0) + 1
            granted.append(job_id)
        if granted:
            Job.objects.filter(pk__in=granted, status=S.QUEUED, dispatched_at__isnull=True).update(
                dispatched_at=timezone.now()
            )
            transaction.on_commit(lambda: _enqueue_all(granted))
    return granted


def _enqueue_all(job_ids: list[int]) -> None:
    for job_id in job_ids:
        enqueue("submit_job", job_id)


def dispatch_after_commit() -> None:
    """Call inside a transaction that queues a job or ends a job's run:
    once it commits, free slots go to the next jobs in the queue, and
    retries that have come due go to the worker."""
    transaction.on_commit(_dispatch_and_retry)


def _dispatch_and_retry() -> None:
    jobs_dispatch()
    retries_hand_out()


def provider_permit() -> float:
    """Take a permit to send one generate request now. Returns 0 when taken,
    else the seconds until the sliding window makes room (the caller
    reschedules the job for then: nobody waits here)."""
    window = timedelta(seconds=settings.PROVIDER_RATE_WINDOW_SECONDS)
    with transaction.atomic():
        ProviderGate.lock()
        now = timezone.now()
        recent = SendPermit.objects.filter(created_at__gt=now - window)
        if recent.count() < settings.PROVIDER_RATE_LIMIT:
            SendPermit.objects.create(created_at=now)
            return 0.0
        oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
    return max((oldest + window - now).total_seconds(), 0.01)


def retries_hand_out(now=None) -> int:
    """Hand rescheduled work whose time has come (a submit after a provider
    refusal or a full rate window, a download after a broken transfer) to
    the worker. Called after every dispatch and by the sweep, so a retry
    waits for the next event or tick, never in a worker. Each row is claimed
    by stamping its hand-over, so concurrent callers do not both send it."""
    now = now or timezone.now()
    due = (
        Job.objects.filter(Q(status=S.QUEUED, dispatched_at__isnull=False) | Q(status=S.DOWNLOADING))
        .filter(next_attempt_at__lte=now, enqueued_at__isnull=True, lease_until__isnull=True)
        .order_by("next_attempt_at")
        .values_list("pk", "status")[:DISPATCH_BATCH]
    )
    handed = 0
    for pk, status in due:
        if Job.objects.filter(pk=pk, enqueued_at__isnull=True).update(enqueued_at=now):
            enqueue("submit_job" if status == S.QUEUED else "download_job", pk, mark=False)
            handed += 1
    return handed


def permits_prune(now=None) -> int:
    """Forget permits older than any window (called by the tick)."""
    horizon = (now or timezone.now()) - timedelta(seconds=settings.PROVIDER_RATE_WINDOW_SECONDS * 6)
    return SendPermit.objects.filter(created_at__lt=horizon).delete()[0]

"""The scheduled safety net: finds work that is due or was lost.

Run once a minute (videos.tasks.tick), and cheap when there is nothing to
do: every query walks a small index of due work, oldest first.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from .. import dispatch
from ..models import Job, Upgrade
from ..queue import enqueue
from ..retry import poll_interval
from .settle import EXPIRED, job_fail
from .upgrade import EXPIRED as UPGRADE_EXPIRED
from .upgrade import upgrade_fail

log = logging.getLogger(__name__)

S = Job.Status

REQUEUE_AFTER = timedelta(seconds=60)  # a task handed out this long ago and not started is taken as lost
POLL_BATCH = 1000  # due polls (and lost tasks) handed out per tick; each is a queued task


def jobs_tick(now: datetime | None = None) -> dict[str, int]:
    """Due polls, deadlines, stale workers, lost tasks, free slots and
    upgrade retries. Returns counts."""
    now = now or timezone.now()
    counts = {"polled": 0, "expired": 0, "stale": 0, "requeued": 0, "dispatched": 0, "upgrades": 0}

    # Each query orders by its due time (oldest first), which also lets the
    # database walk the small index of due work instead of the whole table.
    due = (
        Job.objects.filter(status=S.SUBMITTED, task_id__isnull=False, next_poll_at__lte=now)
        .order_by("next_poll_at")
        .values_list("pk", "poll_count", "next_poll_at")[:POLL_BATCH]
    )
    for pk, poll_count, due_at in due:
        # Claim this poll so that an overlapping tick does not send it twice.
        if Job.objects.filter(pk=pk, status=S.SUBMITTED, next_poll_at=due_at).update(
            next_poll_at=now + poll_interval(poll_count + 1), poll_count=F("poll_count") + 1
        ):
            enqueue("poll_job", pk)
            counts["polled"] += 1

    # Every non-final state but `submitting` ends at its deadline: queued
    # (from creation), submitted (from the submit), downloading (from the
    # result). A job in `submitting` is mid-call to the provider and is
    # owned by its lease instead (below): failing it now could refund a
    # generation the provider is about to bill. Rows from before queued and
    # downloading had deadlines count from their creation. A submitted job
    # with a task is not failed here: the worker asks record-info once (the
    # provider is the final authority, job_expire); if that task was lost,
    # it fails REQUEUE_AFTER later without asking.
    started_long_ago = now - timedelta(seconds=settings.JOB_DEADLINE_SECONDS)
    expired = Job.objects.filter(status__in=(S.QUEUED, S.SUBMITTED, S.DOWNLOADING)).filter(
        Q(deadline_at__lt=now) | Q(deadline_at__isnull=True, created_at__lt=started_long_ago)
    )
    ask = expired.filter(status=S.SUBMITTED, task_id__isnull=False, final_check_at__isnull=True)
    for pk in ask.order_by("deadline_at").values_list("pk", flat=True)[:POLL_BATCH]:
        if _guarded(pk, enqueue, "expire_job", pk) is not None:
            counts["expired"] += 1
    asked_long_ago = Q(final_check_at__lt=now - REQUEUE_AFTER)
    unanswerable = ~Q(status=S.SUBMITTED) | Q(task_id__isnull=True)
    for pk in (
        expired.filter(unanswerable | asked_long_ago).order_by("deadline_at").values_list("pk", flat=True)[:POLL_BATCH]
    ):
        if _guarded(pk, job_fail, pk, reason=TOO_LONG):
            counts["expired"] += 1

    # A worker died mid-submit: we cannot tell whether the provider got it,
    # so treat it as possibly delivered (wait for a callback until the deadline).
    counts["stale"] = Job.objects.filter(status=S.SUBMITTING, lease_until__lt=now).update(
        status=S.SUBMITTED,
        submitted_at=now,
        lease_until=None,
        deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
    )

    lost = (
        Job.objects.filter(Q(status=S.QUEUED, dispatched_at__isnull=False) | Q(status=S.DOWNLOADING))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REQUEUE_AFTER))
        .order_by("next_attempt_at")
        .values_list("pk", "status")[:POLL_BATCH]
    )
    for pk, status in lost:
        if _guarded(pk, enqueue, "submit_job" if status == S.QUEUED else "download_job", pk) is not None:
            counts["requeued"] += 1

    counts["dispatched"] = len(dispatch.jobs_dispatch())
    dispatch.permits_prune(now)

    pending = Upgrade.objects.filter(status=Upgrade.Status.PENDING)
    # Past the deadline: asked once (upgrade_expire) before failing; if that
    # task was lost, failed REQUEUE_AFTER later without asking.
    late = pending.filter(deadline_at__lt=now)
    for pk in (
        late.filter(final_check_at__isnull=True).order_by("deadline_at").values_list("pk", flat=True)[:POLL_BATCH]
    ):
        if _guarded(None, enqueue, "expire_upgrade", pk, mark=False) is not None:
            counts["expired"] += 1
    for upgrade in late.filter(final_check_at__lt=now - REQUEUE_AFTER)[:POLL_BATCH]:
        if _guarded(upgrade.job_id, upgrade_fail, upgrade, reason=UPGRADE_EXPIRED):
            counts["expired"] += 1
    due = pending.filter(next_attempt_at__lte=now).order_by("next_attempt_at")
    for pk in due.values_list("pk", flat=True)[:POLL_BATCH]:
        if _guarded(None, enqueue, "upgrade_job", pk, mark=False) is not None:
            counts["upgrades"] += 1
    return counts


TOO_LONG = EXPIRED  # one wording for every job that ran out of time


def _guarded(job_id: int | None, action, *args, **kwargs):
    """`action(*args, **kwargs)`, or None if it raised: one job's fault
    (a database hiccup, a bug) must not stop the sweep for every other job."""
    try:
        result = action(*args, **kwargs)
    except Exception:
        log.exception("sweep: %s failed for job %s", getattr(action, "__name__", action), job_id)
        return None
    return True if result is None else result

"""Property-based proof that settlement is exact under any order of events.

Each example creates real jobs against the simulator, then hypothesis throws
a random sequence at them: task deliveries duplicated, reordered and lost,
callbacks of every kind (also duplicated and late), polls, worker crashes,
deadlines passing, operator refunds. The queue is a list the test drives so
that hypothesis chooses the order; everything behind it is the real code.
After every step and at the end: balances equal ledger sums, no job is
charged twice or refunded twice, and in the end every job is final and
refunded exactly when it failed.
"""

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_sum_of
from veoproject.refusals import Refusal
from videos import kie, services, tasks
from videos import queue as queue_module
from videos.models import Job, Upgrade
from videos.vocabulary import VideoRequest

from .conftest import make_user

S = Job.Status
# Deliveries and callbacks are what races; they come up most often.
KINDS = ["run_next", "run_random", "redeliver", "callback_ok", "callback_fail"] * 3 + [
    "callback_pending",
    "poll",
    "lose",
    "crash_worker",
    "tick_lost",
    "tick_deadline",
    "operator_refund",
]
EVENTS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=0, max_value=50)), max_size=30)
counter = {"n": 0}


@pytest.fixture
def queue(monkeypatch):
    """Tasks handed to the worker land here; the test delivers them."""
    items: list[tuple[str, int]] = []
    # Only the hand-over to django-q2 is replaced; enqueue's own bookkeeping runs.
    monkeypatch.setattr(
        queue_module, "async_task", lambda func, job_id, **_: items.append((func.split(".")[-1], job_id))
    )
    return items


def deliver(task: str, job_id: int) -> None:
    getattr(tasks, task)(job_id)


def check_money(user, jobs) -> None:
    assert balance_of(user.pk) == ledger_sum_of(user.pk) >= 0
    for job in jobs:
        ref = job.charge_reference
        assert LedgerEntry.objects.filter(kind="charge", reference=ref).count() <= 1
        assert LedgerEntry.objects.filter(kind="refund", reference=ref).count() <= 1


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=EVENTS,
    job_count=st.integers(min_value=1, max_value=3),
    outcome=st.sampled_from(["success", "fail"]),
    submit_first=st.booleans(),
)
def test_any_order_of_events_settles_every_job_exactly_once(
    live, sim, queue, django_user_model, settings, events, job_count, outcome, submit_first
):
    # Examples share the database: spend adds up across them, and the spend
    # breaker and caps (tested elsewhere) must not step in.
    settings.BREAKER_WINDOW_LIMIT = settings.BREAKER_ABNORMAL_MULTIPLE = 0
    settings.USER_SUBMISSIONS_PER_MINUTE = 0
    settings.GLOBAL_DAILY_CAP_PROVIDER_CREDITS = settings.GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS = 0
    settings.FREE_TIER_WINDOW_LIMIT = settings.FREE_TIER_DAILY_LIMIT = 0  # examples share the database
    sim.reset()
    sim.config(callbacks=False, delay=0, outcome=outcome)
    counter["n"] += 1
    user = make_user(django_user_model, f"prop{counter['n']}", credits=100)
    jobs = []
    for i in range(job_count):
        jobs.append(services.job_create(user=user, request=VideoRequest(prompt=f"property {counter['n']}.{i}")))
    while submit_first and queue:  # most runs start with the jobs at the provider
        deliver(*queue.pop(0))
    refunded_by_operator: set[int] = set()
    finals: dict[int, str] = {}

    for event, n in events:
        job = Job.objects.get(pk=jobs[n % len(jobs)].pk)
        if event == "run_next" and queue:
            deliver(*queue.pop(0))
        elif event == "run_random" and queue:
            deliver(*queue.pop(n % len(queue)))
        elif event == "redeliver" and queue:
            deliver(*queue[n % len(queue)])  # at-least-once: runs, and stays queued
        elif event == "lose" and queue:
            queue.pop(n % len(queue))
        elif event.startswith("callback") and job.task_id:
            result = {
                "callback_ok": kie.TaskResult(job.task_id, "succeeded", (f"{sim.url}/files/{job.task_id}.mp4",)),
                "callback_fail": kie.TaskResult(job.task_id, "failed", error_message="simulated failure"),
                "callback_pending": kie.TaskResult(job.task_id, "pending"),
            }[event]
            services.job_callback(job=job, result=result, endpoint="callback (property)")
        elif event == "poll":
            services.job_poll(job.pk)
        elif event == "crash_worker":
            Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        elif event == "tick_lost":
            services.jobs_tick(now=timezone.now() + timedelta(minutes=2))
        elif event == "tick_deadline":
            services.jobs_tick(now=timezone.now() + timedelta(seconds=settings.JOB_DEADLINE_SECONDS + 60))
        elif event == "operator_refund" and services.job_refund(job.pk, actor="property") and job.status in Job.FINAL:
            refunded_by_operator.add(job.pk)
        check_money(user, jobs)
        for j in Job.objects.filter(pk__in=[j.pk for j in jobs]):
            if j.pk in finals:
                assert j.status == finals[j.pk], "a final job changed state"
            elif j.status in Job.FINAL:
                finals[j.pk] = j.status

    # Let time pass and the worker catch up until nothing is left to do.
    for _ in range(12):
        while queue:
            deliver(*queue.pop(0))
        if not Job.objects.filter(pk__in=[j.pk for j in jobs], status__in=Job.ACTIVE).exists():
            break
        Job.objects.filter(pk__in=[j.pk for j in jobs]).update(
            lease_until=None, next_attempt_at=None, next_poll_at=timezone.now() - timedelta(seconds=1)
        )
        services.jobs_tick(now=timezone.now() + timedelta(minutes=2))
        services.jobs_tick(now=timezone.now() + timedelta(seconds=settings.JOB_DEADLINE_SECONDS + 60))

    check_money(user, jobs)
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]):
        assert job.status in Job.FINAL, f"job {job.pk} stuck in {job.status}"
        refunds = LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count()
        assert LedgerEntry.objects.filter(kind="charge", reference=job.charge_reference).count() == 1
        if job.status == S.FAILED:
            assert refunds == 1
        else:
            assert refunds == (1 if job.pk in refunded_by_operator else 0)
            assert job.video_file and job.video_bytes


UPGRADE_KINDS = ["run_next", "run_random", "redeliver", "callback_ok", "callback_fail"] * 3 + [
    "callback_pending",
    "lose",
    "tick_due",
    "tick_deadline",
    "ask_again",
]
UPGRADE_EVENTS = st.lists(
    st.tuples(st.sampled_from(UPGRADE_KINDS), st.integers(min_value=0, max_value=50)), max_size=25
)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=UPGRADE_EVENTS, uhd_fails=st.booleans(), kinds=st.sampled_from([("4k",), ("1080p", "4k"), ("1080p",)]))
def test_any_order_of_events_settles_every_upgrade_exactly_once(
    live, sim, queue, django_user_model, settings, events, uhd_fails, kinds
):
    """Derived work under any order of deliveries, callbacks (4K: ok,
    failed, empty, duplicated), lost tasks, ticks and deadlines: each upgrade
    is charged once, ends final, and is refunded exactly when it failed."""
    settings.BREAKER_WINDOW_LIMIT = settings.BREAKER_ABNORMAL_MULTIPLE = 0
    settings.USER_SUBMISSIONS_PER_MINUTE = 0
    settings.GLOBAL_DAILY_CAP_PROVIDER_CREDITS = settings.GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS = 0
    settings.HD_MAX_ATTEMPTS = 3
    settings.FREE_TIER_WINDOW_LIMIT = settings.FREE_TIER_DAILY_LIMIT = (
        0  # many users: the free tier's caps are tested elsewhere
    )
    sim.reset()
    sim.config(callbacks=False, delay=0, hd_delay=0, uhd_delay=0)
    counter["n"] += 1
    user = make_user(django_user_model, f"uprop{counter['n']}", credits=200)
    prompt = f"upgrade property {counter['n']}" + (" [sim:uhdfail]" if uhd_fails else "")
    job = services.job_create(user=user, request=VideoRequest(prompt=prompt))
    while queue:
        deliver(*queue.pop(0))
    services.job_poll(job.pk)  # the finished video the upgrades are made from
    while queue:
        deliver(*queue.pop(0))
    job.refresh_from_db()
    assert job.status == S.SUCCEEDED
    upgrades = [services.upgrade_request(job=job, kind=kind) for kind in kinds]
    finals: dict[int, str] = {}

    def check() -> None:
        assert balance_of(user.pk) == ledger_sum_of(user.pk) >= 0
        for upgrade in Upgrade.objects.filter(job=job):
            assert LedgerEntry.objects.filter(kind="charge", reference=upgrade.reference).count() == 1
            assert LedgerEntry.objects.filter(kind="refund", reference=upgrade.reference).count() <= 1
            if upgrade.pk in finals:
                assert upgrade.status == finals[upgrade.pk], "a final upgrade changed state"
            elif upgrade.status != "pending":
                finals[upgrade.pk] = upgrade.status

    for event, n in events:
        upgrade = Upgrade.objects.get(pk=upgrades[n % len(upgrades)].pk)
        if event == "run_next" and queue:
            deliver(*queue.pop(0))
        elif event == "run_random" and queue:
            deliver(*queue.pop(n % len(queue)))
        elif event == "redeliver" and queue:
            deliver(*queue[n % len(queue)])
        elif event == "lose" and queue:
            queue.pop(n % len(queue))
        elif event.startswith("callback") and upgrade.kind == "4k" and upgrade.requested_at:
            url = f"{sim.url}/files/{upgrade.task_id}.mp4"
            result = {
                "callback_ok": kie.TaskResult(upgrade.task_id, "succeeded", (url,)),
                "callback_fail": kie.TaskResult(upgrade.task_id, "failed", error_code=500, error_message="unavailable"),
                "callback_pending": kie.TaskResult(upgrade.task_id, "pending", empty_success=True),
            }[event]
            if upgrade.status == "pending":  # as the view: settled upgrades ignore callbacks
                services.upgrade_callback(upgrade=upgrade, result=result, endpoint="callback 4k (property)")
        elif event == "tick_due":
            Upgrade.objects.filter(pk=upgrade.pk, status="pending").update(next_attempt_at=timezone.now())
            services.jobs_tick()
        elif event == "tick_deadline":
            services.jobs_tick(now=timezone.now() + timedelta(seconds=settings.JOB_DEADLINE_SECONDS + 60))
        elif event == "ask_again":
            # Refused while pending or made; a failed one may be asked again (a new upgrade).
            with contextlib.suppress(Refusal):
                upgrades.append(services.upgrade_request(job=job, kind=upgrade.kind))
        check()

    for _ in range(12):
        while queue:
            deliver(*queue.pop(0))
        if not Upgrade.objects.filter(job=job, status="pending").exists():
            break
        Upgrade.objects.filter(job=job, status="pending").update(next_attempt_at=timezone.now())
        services.jobs_tick()
        services.jobs_tick(now=timezone.now() + timedelta(seconds=settings.JOB_DEADLINE_SECONDS + 60))

    check()
    for upgrade in Upgrade.objects.filter(job=job):
        assert upgrade.status in ("succeeded", "failed"), f"upgrade {upgrade.pk} stuck"
        refunds = LedgerEntry.objects.filter(kind="refund", reference=upgrade.reference).count()
        assert refunds == (1 if upgrade.status == "failed" else 0)
        if upgrade.status == "succeeded":
            assert upgrade.file and not (upgrade.kind == "4k" and uhd_fails and not upgrade.result_url)

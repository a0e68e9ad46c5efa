"""Provider faults through the simulator: every code gets its handling,
retries are deliberate, slots and rate limits hold, 1080p and reuse."""

import socket
import time

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import BreakerEvent, LedgerEntry
from billing.selectors import balance_of, breaker_is_open, ledger_sum_of
from billing.services import breaker_reset
from videos import dispatch, services, tasks
from videos.models import Job, SendPermit, Upgrade

from .conftest import make_user, submit, wait_for
from .helpers import job_after, refunds, settled, time_passes

S = Job.Status


@pytest.fixture(autouse=True)
def backoff_in_seconds(settings):
    # A retry waits on the row until its time; tests move that time with
    # time_passes, so nothing comes due behind their back.
    settings.KIE_BACKOFF_BASE_SECONDS = 10.0
    settings.ADMINS = [("Ops", "ops@example.com")]


def rescheduled(job: Job) -> Job:
    """The job is back in the queue, keeping its slot, with a next attempt
    time: waiting on the row, not in a worker."""
    job.refresh_from_db()
    assert job.status == S.QUEUED and job.dispatched_at and job.next_attempt_at and not job.lease_until
    return job


def test_429_is_retried_with_backoff_then_succeeds(live, sim, alice_client):
    sim.config(generate_error=429, generate_error_times=3)
    job = job_after(submit(alice_client))
    for answers in (1, 2, 3):
        assert sim.calls("generate") == answers
        time_passes(rescheduled(job), "next_attempt_at")
        services.jobs_tick()
    job = settled(job)
    assert sim.calls("generate") == 4
    codes = list(job.provider_calls.filter(endpoint__contains="generate").values_list("code", flat=True))
    assert codes == [429, 429, 429, 200]


def test_429_waits_on_the_row_with_growing_delays(live, sim, alice_client):
    sim.config(generate_error=429)
    job = job_after(submit(alice_client))
    waits = []
    for _ in range(3):
        job = rescheduled(job)
        waits.append((job.next_attempt_at - timezone.now()).total_seconds())
        assert services.jobs_tick()["requeued"] == 0  # not before its time
        time_passes(job, "next_attempt_at")
        services.jobs_tick()
    # 10, 20, 40 s with ±50 % jitter
    assert 4 <= waits[0] <= 15 and 9 <= waits[1] <= 30 and 19 <= waits[2] <= 60


def test_429_that_never_ends_gives_up_and_refunds(live, sim, alice_client, alice):
    sim.config(generate_error=429)
    job = job_after(submit(alice_client))
    for _ in range(6):  # six backoffs: 1, 2, 4, 8, 16, 32
        time_passes(rescheduled(job), "next_attempt_at")
        services.jobs_tick()
    job.refresh_from_db()
    assert job.status == S.FAILED and "too busy" in job.error_message
    assert sim.calls("generate") == 7  # the first try and six backoffs
    assert refunds(job) == 1 and balance_of(alice.pk) == 50


def test_rate_limits_do_not_use_up_the_retries_of_server_errors(live, sim, alice_client, settings):
    settings.KIE_RETRY_DELAYS = [1]
    job = job_after(submit(alice_client, prompt="x [sim:error=429]"))
    time_passes(rescheduled(job), "next_attempt_at")
    sim.config(generate_error=500, generate_error_times=1)
    Job.objects.filter(pk=job.pk).update(prompt="x")
    services.jobs_tick()  # 500: its first (and only allowed) retry comes
    time_passes(rescheduled(job), "next_attempt_at")
    services.jobs_tick()
    settled(job)


@pytest.mark.parametrize("code", [455, 500])
def test_maintenance_and_server_errors_are_retried_later(live, sim, alice_client, alice, code):
    sim.config(generate_error=code, generate_error_times=2)
    job = job_after(submit(alice_client))
    for attempt in (1, 2):
        job.refresh_from_db()
        assert job.status == S.QUEUED and job.attempts == attempt and job.dispatched_at  # keeps its slot
        assert services.jobs_tick()["requeued"] == 0  # not before the delay
        time_passes(job, "next_attempt_at")
        services.jobs_tick()
    job = settled(job)
    assert sim.calls("generate") == 3 and balance_of(alice.pk) == 40


def test_persistent_server_errors_end_in_a_refund(live, sim, alice_client, alice, settings):
    settings.KIE_RETRY_DELAYS = [1, 1]
    sim.config(generate_error=500)
    job = job_after(submit(alice_client))
    for _ in range(2):
        time_passes(job, "next_attempt_at")
        services.jobs_tick()
    job.refresh_from_db()
    assert job.status == S.FAILED and sim.calls("generate") == 3
    assert refunds(job) == 1 and balance_of(alice.pk) == 50


def test_unreachable_provider_is_retried_not_lost(live, alice_client, settings, sim):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.KIE_API_BASE_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    assert job.status == S.QUEUED and job.attempts == 1
    settings.KIE_API_BASE_URL = sim.url  # the provider is back
    time_passes(job, "next_attempt_at")
    services.jobs_tick()
    settled(job)


@pytest.mark.parametrize("code", [401, 402, 505])
def test_account_problems_trip_the_breaker_and_stop_submissions(live, sim, alice_client, alice, admin_user, code):
    job = job_after(submit(alice_client, prompt=f"x [sim:error={code}]"))
    job.refresh_from_db()
    assert job.status == S.FAILED and refunds(job) == 1
    assert breaker_is_open()
    assert BreakerEvent.objects.get().reason.startswith(f"Provider answered {code}")
    assert any("Circuit breaker tripped" in m.subject and "ops@example.com" in m.to for m in mail.outbox)
    # New work is refused before any charge or provider call.
    response = submit(alice_client)
    assert response.status_code == 400 and "paused" in response.content.decode()
    assert balance_of(alice.pk) == 50 and sim.calls("generate") == 1
    # Work queued meanwhile waits; the operator's reset lets it go.
    queued = Job.objects.create(user=alice, prompt="waiting", price_credits=0)
    assert dispatch.jobs_dispatch() == []
    assert breaker_reset(actor=admin_user, reason="topped up the account")
    assert dispatch.jobs_dispatch() == [queued.pk]
    assert [e.kind for e in BreakerEvent.objects.order_by("id")] == ["trip", "reset"]


def test_running_slots_queue_work_in_order(live, sim, alice_client, alice, settings):
    settings.USER_RUNNING_SLOTS = 1
    sim.config(delay=2.0)  # long enough that the first is still generating while the others are asked for
    jobs = [job_after(submit(alice_client, prompt=f"clip {i}")) for i in range(3)]
    states = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("id").values_list("status", "dispatched_at"))
    assert states[0][0] == S.SUBMITTED and [s for s, _ in states[1:]] == [S.QUEUED, S.QUEUED]
    assert all(d is None for _, d in states[1:])  # waiting for a slot, not dispatched
    for job in jobs:
        settled(job, timeout=20)
    order = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("submitted_at").values_list("pk", flat=True))
    assert order == [j.pk for j in jobs]
    assert sim.calls("generate") == 3 and balance_of(alice.pk) == 20


def test_global_inflight_cap_is_shared_by_all_users(live, sim, alice_client, bob_client, settings):
    settings.GLOBAL_INFLIGHT_CAP = 1
    sim.config(delay=2.0)  # the first is still at the provider when the second is asked for
    first = job_after(submit(alice_client))
    second = job_after(submit(bob_client))
    second.refresh_from_db()
    assert second.status == S.QUEUED and second.dispatched_at is None
    settled(first)
    settled(second, timeout=20)


def test_failure_frees_the_slot(live, sim, alice_client, settings):
    settings.USER_RUNNING_SLOTS = 1
    sim.config(delay=0.3)
    failing = job_after(submit(alice_client, prompt="x [sim:fail]"))
    waiting = job_after(submit(alice_client))
    settled(failing, S.FAILED)
    settled(waiting)


def test_provider_rate_permits_hold_the_window(db, settings):
    settings.PROVIDER_RATE_LIMIT = 3
    settings.PROVIDER_RATE_WINDOW_SECONDS = 0.5
    assert [dispatch.provider_permit() for _ in range(3)] == [0, 0, 0]
    wait = dispatch.provider_permit()
    assert 0 < wait <= 0.5 and SendPermit.objects.count() == 3  # the fourth is told when, not kept waiting
    time.sleep(wait)
    assert dispatch.provider_permit() == 0
    stamps = sorted(SendPermit.objects.values_list("created_at", flat=True))
    assert (stamps[3] - stamps[0]).total_seconds() >= 0.5


def test_a_job_without_a_permit_is_rescheduled_for_when_the_window_has_room(live, sim, alice_client, settings):
    settings.PROVIDER_RATE_LIMIT, settings.PROVIDER_RATE_WINDOW_SECONDS = 1, 60
    SendPermit.objects.create(created_at=timezone.now())  # the window is full
    job = rescheduled(job_after(submit(alice_client)))
    assert job.attempts == 0 and sim.calls("generate") == 0  # no attempt was made or spent
    assert 55 <= (job.next_attempt_at - timezone.now()).total_seconds() <= 62
    SendPermit.objects.all().delete()  # the window has moved on
    time_passes(job, "next_attempt_at")
    services.jobs_tick()
    assert settled(job).attempts == 1


# --- 1080p ------------------------------------------------------------------------


def hd_upgrade(client, job):
    return client.post(f"/videos/{job.pk}/upgrade/")


def upgrade_asked(client, sim, *, hd_delay: float) -> tuple[Job, Upgrade]:
    """A finished video, and the 1080p upgrade just asked for it (the
    provider takes `hd_delay` seconds to make it)."""
    sim.config(hd_delay=hd_delay)
    job = settled(job_after(submit(client)))
    assert hd_upgrade(client, job).status_code == 302
    return job, job.upgrades.get()


def test_1080p_upgrade_is_charged_retried_and_stored(live, sim, alice_client, alice):
    sim.config(hd_delay=0.5)
    job = settled(job_after(submit(alice_client)))
    page = alice_client.get(f"/videos/{job.pk}/").content.decode()
    assert "Upgrade to 1080p · 2 credits" in page
    assert hd_upgrade(alice_client, job).status_code == 302
    upgrade = job.upgrades.get()
    assert upgrade.status == "pending" and balance_of(alice.pk) == 38  # the provider is still processing
    assert upgrade.price_credits == 2 and upgrade.kind == "1080p"
    assert services.jobs_tick()["upgrades"] == 0  # not before the retry time
    time.sleep(0.5)
    time_passes(upgrade, "next_attempt_at")
    assert services.jobs_tick()["upgrades"] == 1
    upgrade.refresh_from_db()
    assert upgrade.status == "succeeded" and upgrade.file and upgrade.attempts == 2
    response = alice_client.get(f"/videos/{job.pk}/file?quality=1080p")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('1080p.mp4"')
    assert sim.calls("get-1080p-video") == 2
    assert hd_upgrade(alice_client, job).status_code == 302  # made already: refused, not charged again
    assert job.upgrades.count() == 1
    assert LedgerEntry.objects.filter(kind="charge", reference=upgrade.reference).count() == 1
    assert balance_of(alice.pk) == 38


def test_1080p_that_never_comes_is_refunded(live, sim, alice_client, alice, settings):
    settings.HD_MAX_ATTEMPTS = 2
    job, upgrade = upgrade_asked(alice_client, sim, hd_delay=1000)
    time_passes(upgrade, "next_attempt_at")
    services.jobs_tick()
    upgrade.refresh_from_db()
    assert upgrade.status == "failed" and balance_of(alice.pk) == 40 == ledger_sum_of(alice.pk)
    assert LedgerEntry.objects.filter(kind="refund", reference=upgrade.reference, amount=2).count() == 1
    assert "credits were returned" in alice_client.get(f"/videos/{job.pk}/").content.decode()


def test_1080p_past_its_deadline_is_failed_and_refunded_by_the_sweep(live, sim, alice_client, alice):
    job, upgrade = upgrade_asked(alice_client, sim, hd_delay=1000)
    assert upgrade.deadline_at > timezone.now() and balance_of(alice.pk) == 38
    time_passes(upgrade, "deadline_at")
    assert services.jobs_tick()["expired"] == 1
    upgrade.refresh_from_db()
    assert upgrade.status == "failed" and "too long" in upgrade.error
    assert balance_of(alice.pk) == 40 == ledger_sum_of(alice.pk)
    assert services.jobs_tick()["expired"] == 0  # refunded once


def test_a_failed_1080p_can_be_asked_again_and_is_charged_again(live, sim, alice_client, alice, settings):
    settings.HD_MAX_ATTEMPTS = 1
    job, first = upgrade_asked(alice_client, sim, hd_delay=1000)
    time_passes(first, "next_attempt_at")
    services.jobs_tick()
    first.refresh_from_db()
    assert first.status == "failed" and balance_of(alice.pk) == 40
    sim.config(hd_delay=0)
    hd_upgrade(alice_client, job)
    second = job.upgrades.exclude(pk=first.pk).get()
    assert second.reference != first.reference
    second.refresh_from_db()
    assert second.status == "succeeded" and balance_of(alice.pk) == 38 == ledger_sum_of(alice.pk)


def test_a_1080p_task_queued_before_upgrades_were_rows_still_runs(live, sim, alice_client):
    job, upgrade = upgrade_asked(alice_client, sim, hd_delay=1000)
    sim.config(hd_delay=0)
    time_passes(upgrade, "next_attempt_at")
    tasks.hd_job(job.pk)  # such a task names the job, not the upgrade
    upgrade.refresh_from_db()
    assert upgrade.status == "succeeded" and upgrade.file


def test_1080p_only_for_finished_16_9_or_9_16_videos_of_the_owner(live, sim, alice_client, bob_client, alice):
    sim.config(hd_delay=0)
    auto = settled(job_after(submit(alice_client, aspect_ratio="Auto")))
    hd_upgrade(alice_client, auto)
    assert not auto.upgrades.exists() and balance_of(alice.pk) == 40  # Auto: the shape made is unknown
    portrait = settled(job_after(submit(alice_client, aspect_ratio="9:16")))
    hd_upgrade(alice_client, portrait)
    assert portrait.upgrades.get().status == "succeeded" and balance_of(alice.pk) == 28
    landscape = settled(job_after(submit(alice_client)))
    assert hd_upgrade(bob_client, landscape).status_code == 404
    assert alice_client.get(f"/videos/{landscape.pk}/upgrade/").status_code == 405


def test_1080p_fetch_is_idempotent(live, sim, alice_client):
    sim.config(hd_delay=0)
    job = settled(job_after(submit(alice_client)))
    hd_upgrade(alice_client, job)
    upgrade = job.upgrades.get()
    services.upgrade_fetch(upgrade.pk)
    services.upgrade_fetch(upgrade.pk)
    assert sim.calls("get-1080p-video") == 1


# --- reuse ---------------------------------------------------------------------------


def test_identical_seeded_request_reuses_the_video(live, sim, alice_client, alice, settings):
    settings.VIDEO_REUSE_SCOPE, settings.VIDEO_REUSE_PERCENT = "user", 0
    first = settled(job_after(submit(alice_client, seed="12345")))
    again = job_after(submit(alice_client, seed="12345"))
    again.refresh_from_db()
    assert again.status == S.SUCCEEDED and again.reused_from_id == first.pk
    assert again.video_sha256 == first.video_sha256
    assert sim.calls("generate") == 1 and balance_of(alice.pk) == 40
    assert alice_client.get(f"/videos/{again.pk}/file").status_code == 200


def test_reuse_price_and_scope(live, sim, alice_client, bob_client, alice, bob, settings):
    settings.VIDEO_REUSE_SCOPE, settings.VIDEO_REUSE_PERCENT = "user", 50
    settled(job_after(submit(alice_client, seed="22222")))
    job_after(submit(alice_client, seed="22222"))
    assert balance_of(alice.pk) == 35  # 10, then half price
    settled(job_after(submit(bob_client, seed="22222")))  # another user: a new generation
    assert sim.calls("generate") == 2
    settings.VIDEO_REUSE_SCOPE = "global"
    job_after(submit(bob_client, seed="22222", watermark=""))
    assert sim.calls("generate") == 2
    settings.VIDEO_REUSE_SCOPE = "off"
    settled(job_after(submit(alice_client, seed="22222")))
    assert sim.calls("generate") == 3


def test_no_reuse_without_a_seed_or_with_other_settings(live, sim, alice_client, settings):
    settings.VIDEO_REUSE_SCOPE = "user"
    settled(job_after(submit(alice_client)))
    settled(job_after(submit(alice_client)))
    settled(job_after(submit(alice_client, seed="33333")))
    settled(job_after(submit(alice_client, seed="33333", aspect_ratio="9:16")))
    assert sim.calls("generate") == 4


def test_api_key_is_in_no_page_and_no_log(live, sim, alice_client, admin_client, caplog, settings):
    job = settled(job_after(submit(alice_client)))
    pages = [
        alice_client.get(f"/videos/{job.pk}/").content,
        admin_client.get(f"/admin/videos/job/{job.pk}/change/").content,
        admin_client.get("/admin/").content,
    ]
    assert all(settings.KIE_API_KEY.encode() not in page for page in pages)
    assert settings.KIE_API_KEY not in caplog.text


def test_another_users_slots_are_not_blocked(live, sim, django_user_model, settings):
    settings.USER_RUNNING_SLOTS = 1
    sim.config(delay=5)
    from django.test import Client

    users = [make_user(django_user_model, f"u{i}") for i in range(3)]
    clients = []
    for user in users:
        c = Client()
        c.force_login(user)
        clients.append(c)
    for c in clients:
        submit(c)
        submit(c)
    dispatched = Job.objects.filter(dispatched_at__isnull=False).values_list("user_id", flat=True)
    assert sorted(dispatched) == sorted(u.pk for u in users)  # one each, the second of each waits
    wait_for(lambda: sim.calls("generate") == 3)

"""The real background worker: `manage.py qcluster` processes on the ORM
broker, sharing the test database with the live server and the simulator;
killed with SIGKILL at awkward moments and started again."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from billing.selectors import balance_of, ledger_sum_of
from videos import services
from videos.models import Job

from .conftest import ROOT, submit, wait_for
from .servers import database_url, empty_redis

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_env(live, sim, settings, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the web side enqueues for real
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "Q_SYNC": "off",
        "Q_WORKERS": "1",
        "KIE_API_BASE_URL": sim.url,
        "PUBLIC_BASE_URL": live.url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }


def start_worker(env) -> subprocess.Popen:
    # Its own process group, so that a kill takes its worker processes too.
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_worker(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Stop the worker and every process of its group, and wait until they
    are all gone: a straggler would keep the SQLite write lock."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def job_in(response) -> Job:
    return Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))


def leases_run_out(job: Job) -> None:
    """Time passes: the killed worker's lease on the job expires, and the
    task it had been handed is long overdue."""
    past = timezone.now() - timedelta(minutes=15)
    Job.objects.filter(pk=job.pk).update(lease_until=past, enqueued_at=past)


def test_worker_process_submits_and_stores(worker_env, alice_client):
    proc = start_worker(worker_env)
    try:
        job = job_in(submit(alice_client))
        job.refresh_from_db()
        # The request itself did not call the provider: it only queued the work.
        assert job.status == Job.Status.QUEUED and job.task_id is None
        done = wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.SUCCEEDED).first(), timeout=45)
    finally:
        kill_worker(proc, signal.SIGTERM)
    assert done.video_file and done.video_bytes > 0


def test_worker_killed_mid_download_recovers(worker_env, sim, alice_client, alice, settings):
    sim.config(video_bytes=3_000_000, file_rate=1_000_000)  # a three-second download
    proc = start_worker(worker_env)
    job = job_in(submit(alice_client))
    wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.DOWNLOADING).exists(), timeout=30)
    wait_for(lambda: sim.calls("file") == 1, timeout=10)
    kill_worker(proc)  # mid-download
    job.refresh_from_db()
    assert job.status == Job.Status.DOWNLOADING and not job.video_file
    sim.config(file_rate=0)
    proc = start_worker(worker_env)
    try:
        leases_run_out(job)
        services.jobs_tick()  # the scheduled safety net finds the abandoned download
        done = wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.SUCCEEDED).first(), timeout=30)
    finally:
        kill_worker(proc, signal.SIGTERM)
    assert done.video_bytes == 3_000_000 and sim.calls("file") == 2
    stored = list((Path(settings.MEDIA_ROOT) / "videos" / str(alice.pk)).iterdir())
    assert len(stored) == 1  # no half-written file left behind
    assert balance_of(alice.pk) == 40 == ledger_sum_of(alice.pk)


def test_worker_killed_mid_submit_recovers(worker_env, sim, alice_client, alice):
    sim.config(latency=2.0)  # the generate request hangs for two seconds
    proc = start_worker(worker_env)
    job = job_in(submit(alice_client))
    wait_for(lambda: sim.arrived("generate") == 1, timeout=30)  # on the wire, its answer not back yet
    kill_worker(proc)  # mid-submit: did the provider get it? The app cannot know.
    sim.config(latency=0)
    job.refresh_from_db()
    assert job.status in (Job.Status.SUBMITTING, Job.Status.DOWNLOADING)
    proc = start_worker(worker_env)
    try:
        leases_run_out(job)
        services.jobs_tick()  # not resent: the job waits for its callback
        done = wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=Job.FINAL).first(), timeout=30)
    finally:
        kill_worker(proc, signal.SIGTERM)
    # The provider did get it (the simulator finished the request), and its
    # callback settled the job: one generation, one charge, no refund.
    assert done.status == Job.Status.SUCCEEDED and done.task_id
    assert sim.calls("generate") == 1 and balance_of(alice.pk) == 40


def test_worker_stops_within_seconds_of_sigterm_while_the_provider_refuses(worker_env, sim, alice_client):
    """A 429 is rescheduled on the row, not slept through in the worker (which
    once held a worker for about 95 s and made qcluster ignore SIGTERM)."""
    sim.config(generate_error=429)
    proc = start_worker({**worker_env, "KIE_BACKOFF_BASE_SECONDS": "20"})
    try:
        job = job_in(submit(alice_client))
        wait_for(lambda: sim.calls("generate") >= 1, timeout=30)
        rescheduled = wait_for(
            lambda: Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, next_attempt_at__isnull=False).first()
        )
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # to the main process, as a service manager would
        proc.wait(timeout=15)
        stopped_after = time.monotonic() - started
        wait_for(lambda: not group_alive(proc), timeout=5)  # its worker processes went with it
    finally:
        kill_worker(proc)
    assert stopped_after < 5, f"qcluster took {stopped_after:.1f}s to stop"
    assert rescheduled.next_attempt_at > timezone.now()  # the retry waits on the row
    assert sim.calls("generate") == 1


def group_alive(proc: subprocess.Popen) -> bool:
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def redis_url():
    with empty_redis(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")) as url:
        yield url


def test_worker_on_the_redis_broker(worker_env, redis_url, monkeypatch, alice_client):
    """With REDIS_URL set, web and worker exchange tasks through Redis."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "ORM", None)  # the web side, as REDIS_URL would configure it
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    # A queue of this run's own, so that no other worker on the same Redis takes its tasks.
    queue = f"veo-test-{os.getpid()}"
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    monkeypatch.setattr(Conf, "PREFIX", queue)  # tasks are signed with it as the salt
    proc = start_worker({**worker_env, "REDIS_URL": redis_url, "Q_QUEUE_NAME": queue})
    try:
        job = job_in(submit(alice_client))
        done = wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.SUCCEEDED).first(), timeout=45)
    finally:
        kill_worker(proc, signal.SIGTERM)
    assert done.video_file
    assert not OrmQ.objects.exists()  # nothing went through the database broker


def test_worker_process_makes_an_extension_and_a_4k_upgrade(worker_env, sim, alice_client, alice):
    """The offer's derived work through a real worker: an extension (a new
    job on the extend endpoint) and a 4K upgrade settled by its callback."""
    from videos.models import Upgrade

    sim.config(uhd_delay=0.5)
    proc = start_worker(worker_env)
    try:
        original = job_in(submit(alice_client))
        original = wait_for(lambda: Job.objects.filter(pk=original.pk, status="succeeded").first(), timeout=45)
        response = alice_client.post(f"/videos/{original.pk}/extend/", {"prompt": "The boat sails on"})
        extension = wait_for(lambda: Job.objects.filter(pk=job_in(response).pk, status="succeeded").first(), timeout=45)
        alice_client.post(f"/videos/{original.pk}/upgrade/", {"quality": "4k"})
        upgrade = wait_for(
            lambda: Upgrade.objects.filter(job=original, kind="4k", status="succeeded").first(), timeout=45
        )
    finally:
        kill_worker(proc, signal.SIGTERM)
    assert extension.parent_id == original.pk and extension.video_bytes > original.video_bytes
    assert upgrade.file and sim.calls("get-4k-video") == 1 and sim.calls("extend") == 1
    assert balance_of(alice.pk) == 50 - 10 - 10 - 20 == ledger_sum_of(alice.pk)

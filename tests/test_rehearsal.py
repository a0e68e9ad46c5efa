"""A rehearsal of many machines on loopback: two web processes (gunicorn)
and two workers (qcluster), each with its own empty MEDIA_ROOT, sharing
PostgreSQL, Redis (broker, cache, sessions) and the object store. A video
submitted through one web and settled by a callback to the other is served
to its owner through either; a worker killed mid-download is replaced by
the other. Nothing lands on any machine's disk."""

import os
import re
import signal
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from billing.selectors import balance_of, ledger_sum_of
from videos import services
from videos.models import Job

from .conftest import ROOT, generate_data, postgres_only, wait_for
from .servers import Gunicorn, database_url, empty_redis, stop_group

pytestmark = [pytest.mark.slow, postgres_only]

SAMPLE = (Path(__file__).resolve().parent.parent / "kiesim" / "sample.mp4").read_bytes()
S = Job.Status


@pytest.fixture
def redis_url():
    with empty_redis(os.environ.get("TEST_REDIS_REHEARSAL_URL", "redis://127.0.0.1:6379/6")) as url:
        yield url


class Machines:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.roots: list[Path] = []
        self.webs = [Gunicorn({}), Gunicorn({})]
        self.workers: list[subprocess.Popen] = []

    def own_root(self) -> str:
        root = Path(tempfile.mkdtemp(prefix="veo-machine-"))
        self.roots.append(root)
        return str(root)

    def start_webs(self) -> None:
        for web in self.webs:
            web.env.update(self.env, MEDIA_ROOT=self.own_root(), WEB_CONCURRENCY="1", WEB_THREADS="4")
            web.start()
        for web in self.webs:
            web.wait()

    def start_worker(self) -> subprocess.Popen:
        env = {**os.environ, **self.env, "MEDIA_ROOT": self.own_root(), "Q_SYNC": "off", "Q_WORKERS": "1"}
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def files_on_disks(self) -> list[Path]:
        return [p for root in self.roots for p in root.rglob("*") if p.is_file()]

    def stop(self) -> None:
        for proc in self.workers:
            stop_group(proc, signal.SIGKILL)  # nothing to finish: the test is over
        for web in self.webs:
            web.stop()


@pytest.fixture
def machines(live, sim, seaweed, redis_url, monkeypatch):
    from django_q.conf import Conf

    queue = f"veo-rehearsal-{os.getpid()}"
    # This test process enqueues too (the tick below), through the same Redis.
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    monkeypatch.setattr(Conf, "PREFIX", queue)
    env = {
        **seaweed.env(),
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "Q_QUEUE_NAME": queue,
        "KIE_API_BASE_URL": sim.url,
        "SESSION_COOKIE_SECURE": "off",
        "CSRF_COOKIE_SECURE": "off",
        "CONN_MAX_AGE": "0",
    }
    group = Machines(env)
    # The provider calls back the second web: callback URLs name it.
    env["PUBLIC_BASE_URL"] = group.webs[1].url
    try:
        group.start_webs()
        yield group
    finally:
        group.stop()


def signed_in(web: Gunicorn, client) -> requests.Session:
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    return session


def submit_through(web: Gunicorn, session: requests.Session) -> int:
    form = session.get(f"{web.url}/videos/new/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = session.post(
        f"{web.url}/videos/new/", data={**generate_data(), "csrfmiddlewaretoken": token}, allow_redirects=False
    )
    assert response.status_code == 302, response.text[:500]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def fetch_video(web: Gunicorn, session: requests.Session, pk: int) -> bytes:
    answer = session.get(f"{web.url}/videos/{pk}/file", allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.status_code
    return requests.get(answer.headers["Location"], timeout=10).content


def test_many_machines(machines, sim, seaweed, alice_client, bob_client, alice):
    web_a, web_b = machines.webs
    first_worker = machines.start_worker()
    machines.start_worker()
    alice_web = signed_in(web_a, alice_client)

    # Submitted through web A, called back on web B, stored in the bucket.
    pk = submit_through(web_a, alice_web)
    job = wait_for(lambda: Job.objects.filter(pk=pk, status=S.SUCCEEDED).first(), timeout=60)
    assert job.callback_at and job.video_file.name in seaweed.keys("videos/")
    for web in (web_a, web_b):
        assert fetch_video(web, alice_web, pk) == SAMPLE
        live = alice_web.get(f"{web.url}/videos/{pk}/status.json", timeout=10).json()
        assert live["status"] == "succeeded" and live["video_url"] == f"/videos/{pk}/file"
        bob_web = signed_in(web, bob_client)
        assert bob_web.get(f"{web.url}/videos/{pk}/file", allow_redirects=False).status_code == 404
    for web in (web_a, web_b):
        assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200

    # A worker dies mid-download; the other one finishes the job.
    for proc in machines.workers:
        stop_group(proc, signal.SIGKILL)
    machines.workers.clear()
    sim.config(video_bytes=3_000_000, file_rate=1_000_000)  # a three-second download
    first_worker = machines.start_worker()
    pk = submit_through(web_b, signed_in(web_b, alice_client))
    wait_for(lambda: Job.objects.filter(pk=pk, status=S.DOWNLOADING).exists(), timeout=60)
    wait_for(lambda: sim.calls("file") == 2, timeout=20)  # the first job's file, then this one's
    second_worker = machines.start_worker()
    stop_group(first_worker, signal.SIGKILL)  # mid-download
    assert Job.objects.get(pk=pk).status == S.DOWNLOADING
    sim.config(file_rate=0)
    past = timezone.now() - timedelta(minutes=15)
    Job.objects.filter(pk=pk).update(lease_until=past, enqueued_at=past)  # the dead worker's lease runs out
    services.jobs_tick()  # the safety net hands the download out again, to the live worker
    job = wait_for(lambda: Job.objects.filter(pk=pk, status=S.SUCCEEDED).first(), timeout=60)
    assert second_worker.poll() is None and job.video_bytes == 3_000_000 and sim.calls("file") == 3
    assert len(seaweed.client().get_object(Bucket=seaweed.bucket, Key=job.video_file.name)["Body"].read()) == 3_000_000
    assert fetch_video(web_a, alice_web, pk)[:12] == fetch_video(web_b, alice_web, pk)[:12]

    assert machines.files_on_disks() == []  # every file went to the shared store
    assert balance_of(alice.pk) == 30 == ledger_sum_of(alice.pk)

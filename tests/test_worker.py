"""The real background worker: a `manage.py qcluster` process on the ORM
broker, sharing the test database with the live server and the simulator."""

import os
import signal
import subprocess
import sys

import pytest
from django.db import connection

from videos.models import Job

from .conftest import ROOT, submit, wait_for


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(live, sim, settings, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the web side enqueues for real
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "Q_SYNC": "off",
        "Q_WORKERS": "1",
        "KIE_API_BASE_URL": sim.url,
        "PUBLIC_BASE_URL": live.url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_worker_process_submits_and_stores(worker, alice_client, alice):
    response = submit(alice_client)
    job = Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
    # The request itself did not call the provider: it only queued the work.
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.task_id is None
    done = wait_for(
        lambda: Job.objects.filter(pk=job.pk, status=Job.Status.SUCCEEDED).first(), timeout=45, interval=0.2
    )
    assert done.video_file and done.video_bytes > 0

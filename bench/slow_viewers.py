"""Light-page latency while many slow viewers watch videos, under gunicorn
(the project's gunicorn.conf.py) and PostgreSQL, as in production: nginx
in front with local storage and X-Accel-Redirect (`--mode nginx`), or the
object store serving presigned URLs (`--mode s3`, SeaweedFS on loopback).
`--mode django` streams through Django as before, for contrast.

Measures the login page's p99 with 0 viewers, then with N viewers each
reading the whole video at a throttled rate. Target: ratio <= 1.5, and
every viewer gets the whole file.

    .venv/bin/python bench/slow_viewers.py [--mode nginx|s3|django] [--viewers 200] [--mb 3] [--kbps 100]
"""

import argparse
import os
import subprocess
import tempfile
import threading
import time

import requests
from harness import percentile, report, scratch_postgres, setup

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["nginx", "s3", "django"], default="nginx")
parser.add_argument("--viewers", type=int, default=200)
parser.add_argument("--mb", type=float, default=3.0)
parser.add_argument("--kbps", type=int, default=100, help="each viewer's reading rate, KB/s")
parser.add_argument("--seconds", type=float, default=15.0, help="length of each latency sample")
parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
args = parser.parse_args()

from tests.servers import Gunicorn, Nginx, SeaweedFS, app_locations  # noqa: E402

DB = "veo_bench_viewers"
scratch_postgres(args.server, DB)
media = tempfile.mkdtemp(prefix="veo-bench-media-")
store = SeaweedFS().start() if args.mode == "s3" else None
env = {
    "DATABASE_URL": f"{args.server}/{DB}",
    "MEDIA_ROOT": media,
    "CONN_MAX_AGE": "60",
    "SESSION_COOKIE_SECURE": "off",
    "CSRF_COOKIE_SECURE": "off",
    "WEB_ACCESS_LOG": "",
    **(store.env() if store else {}),
}
if args.mode == "nginx":
    env["MEDIA_X_ACCEL_PREFIX"] = "/protected-media/"
setup(**env)

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402

from videos import storage  # noqa: E402
from videos.models import Job  # noqa: E402

size = int(args.mb * 1024 * 1024)
video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(size - 12)
user = get_user_model().objects.create_user("viewer", password="pw-viewer")
name = storage.save(f"videos/{user.pk}/bench.mp4", ContentFile(video))
job = Job.objects.create(user=user, prompt="bench", price_credits=10, status="succeeded", video_file=name)
session = SessionStore()
session.update(
    {
        "_auth_user_id": str(user.pk),
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": user.get_session_auth_hash(),
    }
)
session.create()
cookies = {"sessionid": session.session_key}

web = Gunicorn({"DJANGO_SETTINGS_MODULE": "veoproject.settings"}).start().wait()  # the environment set above
front = Nginx(
    app_locations(media_root=media, prefix=env.get("MEDIA_X_ACCEL_PREFIX", "")),
    upstream_port=web.port,
    connections=4096,
).start()
base = front.url


def light_page_latencies(seconds: float, clients: int = 4, pause: float = 0.05) -> list[float]:
    """The login page, from a few clients at a modest pace (the site's other
    visitors), for `seconds`: the latencies in ms."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        http = requests.Session()
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = http.get(f"{base}/accounts/login/", timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            time.sleep(pause)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def start_viewer() -> subprocess.Popen:
    """One slow viewer: the owner's video, read whole at `kbps` (curl, a
    process of its own, so the viewers cost the measuring process nothing)."""
    return subprocess.Popen(
        [
            "curl",
            "--silent",
            "--show-error",
            "--location",
            "--limit-rate",
            f"{args.kbps}k",
            "--cookie",
            f"sessionid={cookies['sessionid']}",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code} %{size_download}",
            f"{base}/videos/{job.pk}/file",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


try:
    light_page_latencies(3)  # warm-up
    quiet = light_page_latencies(args.seconds)
    viewers = [start_viewer() for _ in range(args.viewers)]
    time.sleep(3)  # every viewer connected and streaming
    busy = light_page_latencies(args.seconds)
    outcomes = [viewer.communicate(timeout=size / (args.kbps * 1024) * 3 + 120) for viewer in viewers]
finally:
    front.stop()
    web.stop()
    if store:
        store.stop()

whole = sum(1 for out, _ in outcomes if out.split() == ["200", str(size)])
failures = [f"{out} {err}".strip()[:200] for out, err in outcomes if out.split() != ["200", str(size)]]
p99_quiet, p99_busy = percentile(quiet, 99), percentile(busy, 99)
report(
    f"Light page vs {args.viewers} slow viewers ({args.mode}), gunicorn.conf.py + PostgreSQL, "
    f"{args.mb:g} MB video at {args.kbps} KB/s each",
    [
        (
            "light page, 0 viewers",
            f"p50 {percentile(quiet, 50):.1f} ms, p99 {p99_quiet:.1f} ms ({len(quiet)} requests)",
        ),
        (
            f"light page, {args.viewers} viewers",
            f"p50 {percentile(busy, 50):.1f} ms, p99 {p99_busy:.1f} ms ({len(busy)} requests)",
        ),
        ("p99 ratio", f"{p99_busy / p99_quiet:.2f} (target <= 1.5)"),
        ("viewers with the whole file", f"{whole} of {args.viewers}"),
        ("viewer failures", "; ".join(sorted(set(failures)))[:500] or "none"),
    ],
)

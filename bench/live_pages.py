"""Open job pages: each checks its job's status.json every 2 s (on average,
jittered), as static/js/live.js does, sending If-None-Match. How many pages
can be open at once with p99 under 200 ms? Production layout on loopback:
nginx in front, gunicorn (gunicorn.conf.py), PostgreSQL, Redis (cache,
sessions). Half the jobs are queued (unchanged: 304), half generating
(progress moves every ~1.7 s: a fresh 200, from the cache).

Needs wrk (apt-get install wrk). Target: >= 5,000 pages.

    .venv/bin/python bench/live_pages.py [--pages 1000,2000,3000,5000] [--seconds 20]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import redis
from harness import report, scratch_postgres, setup

parser = argparse.ArgumentParser()
parser.add_argument("--pages", default="1000,2000,3000,4000,5000,6000")
parser.add_argument("--seconds", type=int, default=20)
parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
parser.add_argument("--users", type=int, default=500)
args = parser.parse_args()
steps = [int(n) for n in args.pages.split(",")]

from tests.servers import Gunicorn, Nginx, app_locations  # noqa: E402

DB = "veo_bench_live"
scratch_postgres(args.server, DB)
redis.from_url(args.redis).flushdb()
setup(
    DATABASE_URL=f"{args.server}/{DB}",
    REDIS_URL=args.redis,
    CONN_MAX_AGE="60",
    SESSION_COOKIE_SECURE="off",
    CSRF_COOKIE_SECURE="off",
    WEB_ACCESS_LOG="",
)

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.cached_db import SessionStore  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from videos import live, selectors  # noqa: E402
from videos.models import Job  # noqa: E402

most = max(steps)
per_user = -(-most // args.users)
User = get_user_model()
pages = []  # (path, cookie, etag or "")
now = timezone.now()
for u in range(args.users):
    user = User.objects.create(username=f"viewer{u}")  # no password to hash: sessions are made below
    session = SessionStore()
    session.update(
        {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
    )
    session.create()
    jobs = Job.objects.bulk_create(
        [
            Job(
                user=user,
                prompt="live",
                price_credits=10,
                status="queued" if i % 2 else "submitted",
                submitted_at=None if i % 2 else now - timedelta(seconds=10),
            )
            for i in range(per_user)
        ]
    )
    for job in jobs:
        # What the page already holds: the answer it got when it opened.
        etag = (
            live.respond(RequestFactory().get("/"), selectors.status_payload(job))["ETag"]
            if job.status == "queued"
            else ""
        )
        pages.append((f"/videos/{job.pk}/status.json", f"sessionid={session.session_key}", etag))
pages = pages[:most]

web = Gunicorn({"DJANGO_SETTINGS_MODULE": "veoproject.settings"}).start().wait()
front = Nginx(app_locations(), upstream_port=web.port, connections=most * 2 + 1024).start()

LUA = """
local pages = %s
local counter = 0
function setup(thread)
  thread:set("first", counter)
  counter = counter + 1
end
function init(args)
  i = first
  step = tonumber(args[1])
end
function delay()
  return 1500 + math.random(1000)
end
function request()
  local page = pages[(i %% #pages) + 1]
  i = i + step
  local headers = {["Cookie"] = page[2], ["Accept"] = "application/json"}
  if page[3] ~= "" then headers["If-None-Match"] = page[3] end
  return wrk.format("GET", page[1], headers)
end
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  io.write("p99_us " .. latency:percentile(99) .. "\\n")
  io.write("p50_us " .. latency:percentile(50) .. "\\n")
end
"""


TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by every live process of a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def run(n: int) -> dict:
    threads = 2
    table = "{" + ",".join("{" + ",".join(json.dumps(x) for x in p) + "}" for p in pages[:n]) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % table)
    command = ["wrk", f"-t{threads}", f"-c{n}", f"-d{args.seconds}s", "--timeout", "10s", "-s", script.name]
    cpu_before = group_cpu(web.proc.pid), group_cpu(front.proc.pid)
    out = subprocess.run([*command, front.url, str(threads)], capture_output=True, text=True, check=True).stdout
    cpu_after = group_cpu(web.proc.pid), group_cpu(front.proc.pid)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "pages": n,
        "rps": rps,
        "p50": float(re.search(r"p50_us ([\d.]+)", out).group(1)) / 1000,
        "p99": float(re.search(r"p99_us ([\d.]+)", out).group(1)) / 1000,
        "errors": int(errors.group(1)) if errors else 0,
        "socket": socket_errors.group(1) if socket_errors else "none",
        "gunicorn_ms": (cpu_after[0] - cpu_before[0]) / total * 1000,
        "nginx_ms": (cpu_after[1] - cpu_before[1]) / total * 1000,
    }


results = []
try:
    run(min(steps))  # warm-up: every worker and thread connected, sessions in the cache
    for n in steps:
        results.append(run(n))
        print(results[-1], flush=True)
finally:
    front.stop()
    web.stop()

reached = max((r["pages"] for r in results if r["p99"] < 200 and not r["errors"]), default=0)
report(
    "Open job pages, one status check every 2 s each (nginx, gunicorn.conf.py, PostgreSQL, Redis)",
    [
        *(
            (
                f"{r['pages']} pages",
                f"{r['rps']:.0f} checks/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                f"non-2xx/3xx {r['errors']}, socket errors {r['socket']}; CPU a check: gunicorn "
                f"{r['gunicorn_ms']:.2f} ms, nginx {r['nginx_ms']:.2f} ms",
            )
            for r in results
        ),
        ("most pages with p99 < 200 ms", f"{reached} (target >= 5,000)"),
        (
            "pages two idle cores could carry (CPU a check, every 2 s)",
            f"{2 * 2 / (min(r['gunicorn_ms'] + r['nginx_ms'] for r in results) / 1000):.0f}",
        ),
    ],
)

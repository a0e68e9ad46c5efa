"""The API beside the pages: the same work (create a video; read one) through
/api/v1/ with a token and through the pages with a session, under gunicorn
and PostgreSQL, driven by wrk on loopback; /healthz as the ceiling.

Creates are admitted, charged and queued (no worker runs, so nothing reaches
the provider); limits and caps are off so that every request does the whole
work. "API create + key" sends a fresh Idempotency-Key with each request.
Every API request is counted against its token's minute (one conditional
UPDATE), with a limit too high to refuse, as in a default install. Each
figure is the median of --rounds runs taken in rotating order, since other
work on a shared machine comes and goes.

Needs PostgreSQL (a scratch database `veo_bench_api` is created) and wrk
(apt-get install wrk).

    .venv/bin/python bench/api_load.py [--seconds 8] [--connections 16] [--workers 4] [--rounds 3]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests
from harness import NO_LIMITS, ROOT, report, scratch_postgres, setup

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=int, default=8)
parser.add_argument("--connections", type=int, default=16)
parser.add_argument("--workers", type=int, default=4)
parser.add_argument("--rounds", type=int, default=3, help="each figure is the median of this many runs")
parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
args = parser.parse_args()
if not shutil.which("wrk"):
    sys.exit("wrk is not installed: apt-get install wrk")

ENV = {
    "DATABASE_URL": scratch_postgres(args.server, "veo_bench_api"),
    "Q_SYNC": "off",  # creates are queued for a worker; none runs here
    **NO_LIMITS,
    "USER_RUNNING_SLOTS": "1000000",
    "API_REQUESTS_PER_MINUTE": "0",
    "CONN_MAX_AGE": "60",
}
setup(**ENV)
from django.contrib.auth import get_user_model  # noqa: E402

from api.services import token_create  # noqa: E402
from billing.services import credits_grant  # noqa: E402
from videos.models import Job  # noqa: E402

PROMPT = "A load test of a busy street"
FORM = {
    "prompt": PROMPT,
    "model": "veo3_fast",
    "generation_type": "TEXT_2_VIDEO",
    "aspect_ratio": "16:9",
    "enable_translation": "on",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "veoproject.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env={
            **os.environ,
            "SESSION_COOKIE_SECURE": "off",
            "CSRF_COOKIE_SECURE": "off",
            "SECURE_SSL_REDIRECT": "off",
            **env,
        },
        start_new_session=True,
    )


def wait_up(base: str) -> None:
    for _ in range(150):
        try:
            if requests.get(f"{base}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)


def login(base: str, username: str) -> dict:
    s = requests.Session()
    s.get(f"{base}/accounts/login/", timeout=10)
    token = s.cookies["csrftoken"]
    r = s.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302, r.status_code
    return {"csrftoken": token, "sessionid": s.cookies["sessionid"]}


def wrk(url: str, lua: str = "") -> tuple[float, str, int, int]:
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "--timeout", "10s"]
    if lua:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua)
        cmd += ["-s", script.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0, int(timeouts.group(1)) if timeouts else 0


def lua(method: str, headers: dict, body: str = "", fresh_key: bool = False) -> str:
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items()]
    if fresh_key:  # a new Idempotency-Key per request, distinct across wrk threads
        lines += [
            "local counter = 0",
            "setup = function(thread) thread:set('id', counter); counter = counter + 1 end",
            "init = function(args) n = 0 end",
            "request = function()",
            "  n = n + 1",
            '  wrk.headers["Idempotency-Key"] = "bench-" .. id .. "-" .. n',
            "  return wrk.format()",
            "end",
        ]
    return "\n".join(lines)


def row(name: str, result: tuple[float, str, int, int], ceiling: float) -> tuple[str, str]:
    rps, p99, errors, timeouts = result
    return (
        name,
        f"{rps:.0f} req/s, p99 {p99}, {rps / ceiling:.2f} of the ceiling, non-2xx {errors}, timeouts {timeouts}",
    )


User = get_user_model()
loader = User.objects.create_user("loader", password="pw-loader")
credits_grant(user=loader, amount=10**9, reason="benchmark")
done = Job.objects.create(user=loader, prompt="done", price_credits=10, status="succeeded")
raw = token_create(user=loader, name="bench")[1]
bearer = {"Authorization": f"Bearer {raw}"}

scenarios: dict[str, tuple[str, str]] = {}
samples: dict[str, list[tuple[float, str, int, int]]] = {}
port = free_port()
base = f"http://127.0.0.1:{port}"
# The token limit is on (as by default) but too high to refuse: every API
# request pays for counting.
server = start_gunicorn(port, API_REQUESTS_PER_MINUTE="100000000")
try:
    wait_up(base)
    cookies = login(base, "loader")
    session = {"Cookie": f"csrftoken={cookies['csrftoken']}; sessionid={cookies['sessionid']}"}
    json_post = {**bearer, "Content-Type": "application/json"}
    scenarios = {
        "ceiling": (f"{base}/healthz", ""),
        "page read": (f"{base}/videos/{done.pk}/status.json", lua("GET", session)),
        "api read": (f"{base}/api/v1/videos/{done.pk}", lua("GET", bearer)),
        "page create": (
            f"{base}/videos/new/",
            lua(
                "POST",
                {
                    **session,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "X-CSRFToken": cookies["csrftoken"],
                },
                body="&".join(f"{k}={v.replace(' ', '+')}" for k, v in FORM.items()),
            ),
        ),
        "api create": (f"{base}/api/v1/videos", lua("POST", json_post, body=json.dumps({"prompt": PROMPT}))),
        "api create + key": (
            f"{base}/api/v1/videos",
            lua("POST", json_post, json.dumps({"prompt": PROMPT}), fresh_key=True),
        ),
    }
    names = list(scenarios)
    for round_ in range(args.rounds):  # rotate the order: a busy moment hits each in turn
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            samples.setdefault(name, []).append(wrk(*scenarios[name]))
finally:
    stop(server)
results = {name: sorted(runs)[len(runs) // 2] for name, runs in samples.items()}  # the median run by req/s
ceiling = results["ceiling"][0]
report(
    f"API beside the pages, gunicorn ({args.workers} workers) + PostgreSQL, wrk -c{args.connections} "
    f"for {args.seconds}s, median of {args.rounds} runs",
    [
        row("trivial view /healthz (ceiling)", results["ceiling"], ceiling),
        row("read one video, page (/videos/<id>/status.json, session)", results["page read"], ceiling),
        row("read one video, API (GET /api/v1/videos/<id>, token)", results["api read"], ceiling),
        row("create a video, page (POST /videos/new/, session + CSRF)", results["page create"], ceiling),
        row("create a video, API (POST /api/v1/videos)", results["api create"], ceiling),
        row("create a video, API with a fresh Idempotency-Key each", results["api create + key"], ceiling),
        ("jobs created in all", Job.objects.filter(prompt=PROMPT).count()),
        ("load average at the end (other work on the machine)", " ".join(f"{x:.1f}" for x in os.getloadavg())),
    ],
)

"""Load: the callback and submit endpoints under gunicorn with PostgreSQL,
driven by wrk from a second process on loopback, beside a trivial view
(/healthz) in the same run as the ceiling. Target: callbacks at least half
the ceiling. Then money under load: 1,000 submissions from 50 users at once;
afterwards every balance equals its ledger sum and no cap was exceeded.

Needs PostgreSQL (a scratch database `veo_bench` is created) and wrk
(apt-get install wrk).

    .venv/bin/python bench/load.py [--seconds 10] [--connections 32] [--workers 4]
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
import threading
import time
from collections import Counter

import requests
from harness import NO_LIMITS, ROOT, report, scratch_postgres, setup

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=int, default=10)
parser.add_argument("--connections", type=int, default=32)
parser.add_argument("--workers", type=int, default=4)
parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
args = parser.parse_args()
if not shutil.which("wrk"):
    sys.exit("wrk is not installed: apt-get install wrk")

ENV = {
    "DATABASE_URL": scratch_postgres(args.server, "veo_bench"),
    "Q_SYNC": "off",  # submissions are queued for a worker; none runs here
    **NO_LIMITS,
    "CONN_MAX_AGE": "60",
}
setup(**ENV)
from django.contrib.auth import get_user_model  # noqa: E402

from billing.models import LedgerEntry, Wallet  # noqa: E402
from billing.selectors import wallets_out_of_balance  # noqa: E402
from billing.services import credits_grant  # noqa: E402
from videos.models import Job  # noqa: E402

FORM = {
    "prompt": "A load test of a busy street",
    "model": "veo3_fast",
    "generation_type": "TEXT_2_VIDEO",
    "aspect_ratio": "16:9",
    "enable_translation": "on",
}
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
base = f"http://127.0.0.1:{port}"
server = subprocess.Popen(
    [
        str(ROOT / ".venv/bin/gunicorn"),
        "veoproject.wsgi",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ],
    cwd=ROOT,
    # Plain http on loopback: clients would drop Secure cookies.
    # Benchmark users log in without verifying an address (none is sent).
    env={
        **os.environ,
        "SESSION_COOKIE_SECURE": "off",
        "CSRF_COOKIE_SECURE": "off",
        "SECURE_SSL_REDIRECT": "off",
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "LOGIN_RATE": "",  # fifty users log in from one address
    },
    start_new_session=True,
)


def wait_up() -> None:
    for _ in range(100):
        try:
            if requests.get(f"{base}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def login(username: str) -> dict:
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


def wrk(path: str, lua: str = "") -> tuple[float, str]:
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency"]
    if lua:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua)
        cmd += ["-s", script.name]
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0


def lua_post(body: str, headers: dict) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items()]
    return "\n".join(lines)


try:
    wait_up()
    User = get_user_model()
    loader = User.objects.create_user("loader", password="pw-loader")
    credits_grant(user=loader, amount=10**9, reason="benchmark")
    done = Job.objects.create(user=loader, prompt="done", price_credits=10, status="succeeded", task_id="f" * 32)
    # Jobs waiting for their result, each to receive one first callback.
    waiting = Job.objects.bulk_create(
        [
            Job(user=loader, prompt="w", price_credits=10, status="submitted", task_id=f"{i:032x}")
            for i in range(30_000)
        ],
        batch_size=5000,
    )
    cookies = login("loader")
    callback = json.dumps(
        {"code": 200, "msg": "ok", "data": {"taskId": done.task_id, "info": {"resultUrls": ["https://x/v.mp4"]}}}
    )
    firsts = "\n".join(
        [
            "local tokens = {" + ",".join(json.dumps(j.callback_token) for j in waiting) + "}",
            "local tasks = {" + ",".join(json.dumps(j.task_id) for j in waiting) + "}",
            "local counter = 0",
            "setup = function(thread) thread:set('id', counter); counter = counter + 1 end",
            "init = function(args) i = id * 15000 end",
            "request = function()",
            "  i = i + 1",
            '  local body = \'{"code": 200, "msg": "ok", "data": {"taskId": "\' .. tasks[i] .. \'", '
            '"info": {"resultUrls": ["https://x/v.mp4"]}}}\'',
            '  return wrk.format("POST", "/hooks/kie/" .. tokens[i] .. "/", {["Content-Type"] = "application/json"}, body)',
            "end",
        ]
    )
    form = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in FORM.items())
    ceiling = wrk("/healthz")
    first = wrk("/", firsts)
    settled = Job.objects.filter(prompt="w", status="downloading").count()
    hooks = wrk(f"/hooks/kie/{done.callback_token}/", lua_post(callback, {"Content-Type": "application/json"}))
    submits = wrk(
        "/videos/new/",
        lua_post(
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Cookie": f"csrftoken={cookies['csrftoken']}; sessionid={cookies['sessionid']}",
                "X-CSRFToken": cookies["csrftoken"],
            },
        ),
    )
    report(
        f"Load under gunicorn ({args.workers} workers) + PostgreSQL, wrk -c{args.connections} for {args.seconds}s",
        [
            ("trivial view /healthz (ceiling)", f"{ceiling[0]:.0f} req/s, p99 {ceiling[1]}"),
            (
                "callback, first delivery (settles a job)",
                f"{first[0]:.0f} req/s, p99 {first[1]}, {first[0] / ceiling[0]:.2f} of the ceiling (target >= 0.5), non-2xx {first[2]}, jobs settled {settled}",
            ),
            (
                "callback, duplicate delivery",
                f"{hooks[0]:.0f} req/s, p99 {hooks[1]}, {hooks[0] / ceiling[0]:.2f} of the ceiling (target >= 0.5), non-2xx {hooks[2]}",
            ),
            (
                "submit endpoint",
                f"{submits[0]:.0f} req/s, p99 {submits[1]}, {submits[0] / ceiling[0]:.2f} of the ceiling, non-2xx {submits[2]}",
            ),
        ],
    )

    # Money under load: 50 users, each with 150 credits and a daily cap of
    # 100 (ten fast videos), fire 20 submissions each, 1,000 at once.
    users = []
    for i in range(50):
        user = User.objects.create_user(f"crowd{i}", password=f"pw-crowd{i}")
        credits_grant(user=user, amount=150, reason="benchmark")
        Wallet.objects.filter(user=user).update(daily_cap=100)
        users.append((user, login(user.username)))
    statuses: list[int] = []
    barrier = threading.Barrier(100)

    def fire(cookie: dict, count: int) -> None:
        s = requests.Session()
        s.cookies.update(cookie)
        barrier.wait()
        for _ in range(count):
            r = s.post(
                f"{base}/videos/new/",
                data=FORM,
                timeout=60,
                headers={"X-CSRFToken": cookie["csrftoken"], "Accept": "application/json"},
            )
            statuses.append(r.status_code)

    started = time.perf_counter()
    threads = [threading.Thread(target=fire, args=(cookie, 10)) for _, cookie in users for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    spent = {
        u.pk: -sum(LedgerEntry.objects.filter(user=u, kind__in=("charge", "refund")).values_list("amount", flat=True))
        for u, _ in users
    }
    accepted = Counter(Job.objects.filter(user__in=[u for u, _ in users]).values_list("user_id", flat=True))
    report(
        "Money under load: 1,000 submissions from 50 users at once (150 credits, daily cap 100 each)",
        [
            ("answers", dict(Counter(statuses))),
            ("time", f"{seconds:.1f} s ({len(statuses) / seconds:.0f} submissions/s)"),
            ("jobs accepted per user", dict(Counter(accepted.values()))),
            ("most spent by one user", f"{max(spent.values())} credits (cap 100)"),
            ("wallets whose balance differs from the ledger sum", len(wallets_out_of_balance())),
            ("negative balances", Wallet.objects.filter(balance__lt=0).count()),
        ],
    )
finally:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)

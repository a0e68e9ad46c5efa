"""From a callback's arrival to the job showing `succeeded` with its 10 MB
file stored, with one worker process (django-q2 on the database broker, or
on Redis with --redis). Target: median under 1 s.

    .venv/bin/python bench/callback_to_ready.py [--jobs 40] [--redis]
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from harness import ROOT, median, percentile, report, roomy_limits, serve_app, setup, submit, user_with_credits

parser = argparse.ArgumentParser()
parser.add_argument("--jobs", type=int, default=40)
parser.add_argument("--redis", action="store_true", help="use Redis (REDIS_URL or 127.0.0.1:6379) as the broker")
args = parser.parse_args()

env = {"Q_SYNC": "off", "Q_WORKERS": "1"}
if args.redis:
    env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7")
tmp = setup(**env)
from django.conf import settings  # noqa: E402

from kiesim.process import SimulatorProcess  # noqa: E402
from videos.models import Job  # noqa: E402

roomy_limits(settings)
sim = SimulatorProcess("--delay", "1", "--video-bytes", str(10 * 1024 * 1024))
settings.KIE_API_BASE_URL = sim.url
app = serve_app()
worker = subprocess.Popen(
    [sys.executable, "manage.py", "qcluster"],
    cwd=ROOT,
    env={**os.environ, "KIE_API_BASE_URL": sim.url, "PUBLIC_BASE_URL": app},
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    start_new_session=True,
)
try:
    user = user_with_credits("timer", 1_000_000)
    ids = []
    for i in range(args.jobs):
        ids.append(submit(user, prompt=f"ready {i}").pk)
        time.sleep(0.5)  # one at a time: this measures latency, not a backlog
    deadline = time.monotonic() + 120
    while Job.objects.filter(pk__in=ids).exclude(status__in=Job.FINAL).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
finally:
    os.killpg(worker.pid, signal.SIGKILL)  # figures are in the database already
    worker.wait(timeout=20)
    sim.stop()

jobs = Job.objects.filter(pk__in=ids, status="succeeded")
latency = [(j.finished_at - j.callback_at).total_seconds() for j in jobs if j.callback_at]
report(
    f"Callback to ready, 10 MB video, one worker, {'Redis' if args.redis else 'database'} broker",
    [
        ("jobs succeeded", f"{len(latency)} of {len(ids)}"),
        ("median", f"{median(latency):.3f} s (target < 1 s)"),
        ("p95", f"{percentile(latency, 95):.3f} s"),
        ("max", f"{max(latency):.3f} s"),
        ("bytes per video", jobs.first().video_bytes),
    ],
)

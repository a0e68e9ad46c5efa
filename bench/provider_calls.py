"""Provider calls per completed job.

1. 200 jobs with callbacks on: target at most 1.1 calls a job on average.
2. 200 five-minute jobs with every callback lost, time scaled down (all
   durations × SCALE, default 0.1): target at most 8, beside what polling every 10 s
   from submission would have cost for the same jobs.
3. 4K upgrades of finished videos with callbacks on: target the request
   plus at most one status read each (at most 2 calls an upgrade).

    .venv/bin/python bench/provider_calls.py [--jobs 200] [--scale 0.1] [--upgrades 50]
"""

import argparse
import math
import threading
import time
from collections import Counter

from harness import median, report, roomy_limits, serve_app, setup, submit, user_with_credits, wait_until_final

parser = argparse.ArgumentParser()
parser.add_argument("--jobs", type=int, default=200)
parser.add_argument("--scale", type=float, default=0.1, help="time scale for the no-callback run")
parser.add_argument("--upgrades", type=int, default=50, help="4K upgrades in the third run")
args = parser.parse_args()

setup()
from django.conf import settings  # noqa: E402

from kiesim.process import SimulatorProcess  # noqa: E402
from videos import services  # noqa: E402
from videos.models import Job, ProviderCall, Upgrade  # noqa: E402

roomy_limits(settings)
sim = SimulatorProcess()
settings.KIE_API_BASE_URL = sim.url
serve_app()
users = [user_with_credits(f"u{i}", 1_000_000) for i in range(20)]


def run(label: str, *, delay: float, callbacks: bool, tick_every: float) -> list[int]:
    sim.reset()
    sim.config(delay=delay, callbacks=callbacks)
    ids = [submit(users[i % len(users)], prompt=f"{label} {i}").pk for i in range(args.jobs)]
    stop = threading.Event()

    def ticker():  # the scheduled tick, at the scaled interval
        while not stop.wait(tick_every):
            services.jobs_tick()

    threading.Thread(target=ticker, daemon=True).start()
    wait_until_final(ids, timeout=max(delay * 10, 120), every=0.2)
    stop.set()
    ok = Job.objects.filter(pk__in=ids, status="succeeded").count()
    per_job = Counter(Job.objects.filter(pk__in=ids).values_list("provider_calls__job_id", flat=True))
    calls = [
        per_job.get(pk, 0) - Job.objects.get(pk=pk).provider_calls.filter(endpoint__startswith="callback").count()
        for pk in ids
    ]
    stats = sim.stats()["calls"]
    return ok, calls, stats


# 1. Callbacks on: the provider's own timing does not matter; 2 s jobs.
settings.PROVIDER_RATE_WINDOW_SECONDS = 10 * args.scale
ok, calls, stats = run("callbacks", delay=2, callbacks=True, tick_every=60 * args.scale)
report(
    f"Provider calls per job, callbacks on ({args.jobs} jobs)",
    [
        ("jobs succeeded", ok),
        ("provider calls per job, mean", f"{sum(calls) / len(calls):.3f} (target <= 1.1)"),
        ("distribution", dict(sorted(Counter(calls).items()))),
        ("simulator saw", stats),
    ],
)

# 3. 4K upgrades with callbacks on: the request, then the callback (a status
# read only if the callback were late past UHD_FIRST_CHECK_SECONDS).
sim.config(uhd_delay=2)
made = list(Job.objects.filter(status="succeeded", prompt__startswith="callbacks").order_by("id")[: args.upgrades])
started = {job.pk: services.upgrade_request(job=job, kind="4k") for job in made}
for _ in range(240):  # the scheduled tick runs meanwhile, as in production
    if not Upgrade.objects.filter(pk__in=[u.pk for u in started.values()], status="pending").exists():
        break
    services.jobs_tick()
    time.sleep(0.5)
upgrade_calls = []
for job_pk, upgrade in started.items():
    upgrade.refresh_from_db()
    upgrade_calls.append(
        ProviderCall.objects.filter(job_id=job_pk, created_at__gte=upgrade.created_at)
        .exclude(endpoint__startswith="callback")
        .count()
    )
report(
    f"Provider calls per 4K upgrade, callbacks on ({len(started)} upgrades)",
    [
        ("upgrades made", Upgrade.objects.filter(pk__in=[u.pk for u in started.values()], status="succeeded").count()),
        ("provider calls per upgrade, mean", f"{sum(upgrade_calls) / max(len(upgrade_calls), 1):.3f} (target <= 2)"),
        ("provider calls per upgrade, max", max(upgrade_calls, default=0)),
        ("distribution", dict(sorted(Counter(upgrade_calls).items()))),
        ("simulator saw", sim.stats()["calls"]),
    ],
)

# 2. Callbacks lost, five-minute jobs, all times scaled.
s = args.scale
settings.VEO_TYPICAL_SECONDS = {"veo3_fast": 150 * s, "veo3": 240 * s}
settings.POLL_GRACE_SECONDS = 30 * s
settings.POLL_INTERVAL_SECONDS = 30 * s
settings.POLL_MAX_INTERVAL_SECONDS = 300 * s
settings.JOB_DEADLINE_SECONDS = max(int(1800 * s), 60)
ok, calls, stats = run("polled", delay=300 * s, callbacks=False, tick_every=60 * s)
jobs = Job.objects.filter(status="succeeded", prompt__startswith="polled")
durations = [(j.provider_completed_at - j.submitted_at).total_seconds() / s for j in jobs if j.submitted_at]
naive = [1 + math.ceil(d / 10) for d in durations]  # generate + a poll every 10 s until done
report(
    f"Provider calls per job, callbacks lost, 5-minute jobs (time x{s})",
    [
        ("jobs succeeded", ok),
        ("provider calls per job, mean", f"{sum(calls) / len(calls):.2f} (target <= 8)"),
        ("provider calls per job, max", max(calls)),
        ("distribution", dict(sorted(Counter(calls).items()))),
        ("job duration (unscaled), median", f"{median(durations):.0f} s"),
        ("polling every 10 s would cost, mean", f"{sum(naive) / len(naive):.1f} calls a job"),
        ("simulator saw", stats),
    ],
)
sim.stop()

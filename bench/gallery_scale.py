"""The gallery page with 10, 1,000 and 10,000 jobs for one user: queries
per page (must not grow) and render time (largest / smallest <= 1.5).

    .venv/bin/python bench/gallery_scale.py [--renders 40]
"""

import argparse
import time

from harness import QueryCounter, median, report, setup, user_with_credits

parser = argparse.ArgumentParser()
parser.add_argument("--renders", type=int, default=40)
args = parser.parse_args()

setup()
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from videos.models import Job  # noqa: E402

STATUSES = ["succeeded"] * 7 + ["failed", "submitted", "queued"]


def fill(user, count: int) -> None:
    now = timezone.now()
    have = Job.objects.filter(user=user).count()
    Job.objects.bulk_create(
        [
            Job(
                user=user,
                prompt=f"A benchmark prompt number {i} about a lighthouse in a storm",
                status=STATUSES[i % len(STATUSES)],
                price_credits=10,
                video_file=f"videos/{user.pk}/{i}.mp4" if STATUSES[i % len(STATUSES)] == "succeeded" else "",
                error_message="Flagged by content policy" if STATUSES[i % len(STATUSES)] == "failed" else "",
                submitted_at=now,
            )
            for i in range(have, count)
        ],
        batch_size=2000,
    )


user = user_with_credits("gallery", 10)
client = Client(HTTP_HOST="localhost")
client.force_login(user)
rows, times = [], {}
for count in (10, 1_000, 10_000):
    fill(user, count)
    client.get("/videos/")  # warm caches
    with QueryCounter() as queries:
        response = client.get("/videos/")
    assert response.status_code == 200
    samples = []
    for _ in range(args.renders):
        started = time.perf_counter()
        client.get("/videos/")
        samples.append(time.perf_counter() - started)
    times[count] = median(samples)
    rows.append((f"{count:>6} jobs", f"{queries.count} queries, median render {times[count] * 1000:.1f} ms"))
rows.append(("largest / smallest", f"{times[10_000] / times[10]:.2f} (target <= 1.5)"))
report("Gallery at scale (page 1, 12 cards, SQLite)", rows)

"""The cost of history: one tick of the scheduled poller and sweeper, one
balance reading, and the /billing/ page, with 100 and with 100,000 finished
jobs and ledger entries in the tables. Target: ratio at most 1.5 (indexes,
no scans of finished work).

    .venv/bin/python bench/history_cost.py [--repeat 30] [--postgres URL]
"""

import argparse
import time

from harness import QueryCounter, median, report, setup

parser = argparse.ArgumentParser()
parser.add_argument("--repeat", type=int, default=30)
parser.add_argument("--postgres", default="", help="a PostgreSQL URL for a scratch database (else SQLite)")
args = parser.parse_args()

setup(**({"DATABASE_URL": args.postgres} if args.postgres else {}))
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.models import LedgerEntry, Wallet  # noqa: E402
from billing.services import provider_balance_record  # noqa: E402
from videos.models import Job  # noqa: E402
from videos.services import jobs_tick  # noqa: E402

User = get_user_model()
USERS = 100


def fill(total: int) -> None:
    """Finished jobs and their ledger entries, spread over USERS users."""
    users = list(User.objects.exclude(username="me").order_by("id")[:USERS])
    have = Job.objects.exclude(user__username="me").count()
    now = timezone.now()
    jobs, entries = [], []
    for i in range(have, total):
        user = users[i % USERS]
        jobs.append(
            Job(
                user=user,
                prompt=f"history {i}",
                status="succeeded" if i % 5 else "failed",
                price_credits=10,
                video_file=f"videos/{i}.mp4",
                submitted_at=now,
                finished_at=now,
            )
        )
        entries.append(
            LedgerEntry(
                user=user,
                kind="grant",
                amount=10,
                balance_after=10 * (i // USERS + 1),
                reference=f"bench:{i}",
                reason="history",
            )
        )
    Job.objects.bulk_create(jobs, batch_size=5000)
    LedgerEntry.objects.bulk_create(entries, batch_size=5000)


def timed(fn) -> tuple[float, int]:
    fn()  # warm
    samples = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    with QueryCounter() as queries:
        fn()
    return median(samples), queries.count


for i in range(USERS):
    user = User.objects.create_user(f"h{i}", password="x")
    Wallet.objects.create(user=user, balance=0)
# The user whose page is measured has the same own history in both runs;
# what grows is everything else in the tables.
me = User.objects.create_user("me", password="x")
Wallet.objects.create(user=me, balance=300)
LedgerEntry.objects.bulk_create(
    [LedgerEntry(user=me, kind="grant", amount=10, balance_after=10 * (i + 1), reason="mine") for i in range(30)]
)
client = Client(HTTP_HOST="localhost")
client.force_login(me)
measures = {
    "tick (polls, deadlines, lost tasks, dispatch)": jobs_tick,
    "balance reading": lambda: provider_balance_record(credits=10_000),
    "/billing/ page": lambda: client.get("/billing/"),
}
results = {}
for total in (100, 100_000):
    fill(total)
    results[total] = {name: timed(fn) for name, fn in measures.items()}

rows = []
for name in measures:
    (small, q1), (large, q2) = results[100][name], results[100_000][name]
    rows.append(
        (
            name,
            f"{small * 1000:.2f} ms ({q1} queries) -> {large * 1000:.2f} ms ({q2} queries), ratio {large / small:.2f}",
        )
    )
report("Cost of history, 100 vs 100,000 finished jobs and ledger entries (target ratio <= 1.5)", rows)

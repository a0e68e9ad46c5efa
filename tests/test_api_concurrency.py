"""The API under real concurrency (PostgreSQL only): many simultaneous
requests with one Idempotency-Key make one video and one charge; the
per-token request limit holds when many requests race for the last places."""

import threading

import pytest
import requests

from api.models import IdempotencyKey
from api.services import token_create
from billing.models import LedgerEntry
from billing.selectors import balance_of, wallets_out_of_balance
from videos.models import Job

from .conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.slow]

BODY = {"prompt": "A paper boat drifting down a rainy street, close-up, soft light"}


def at_once(count: int, send) -> list[requests.Response]:
    """Call `send(i)` from `count` threads released together."""
    barrier = threading.Barrier(count)
    responses: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        responses[i] = send(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


@pytest.fixture(autouse=True)
def no_submission_limit(settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 0
    settings.API_REQUESTS_PER_MINUTE = 0


def test_concurrent_identical_requests_with_one_key_charge_once(live, alice):
    raw = token_create(user=alice, name="t")[1]
    headers = {"Authorization": f"Bearer {raw}", "Idempotency-Key": "race-1"}
    url = f"{live.url}/api/v1/videos"
    responses = at_once(16, lambda i: requests.post(url, json=BODY, headers=headers, timeout=60))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1 and Job.objects.filter(user=alice).count() == 1
    assert LedgerEntry.objects.filter(user=alice, kind="charge").count() == 1 and balance_of(alice.pk) == 40
    # Once the first has finished, every retry gets its answer.
    again = requests.post(url, json=BODY, headers=headers, timeout=60)
    assert again.status_code == 201 and again.json()["id"] in ids
    assert IdempotencyKey.objects.get(user=alice, key="race-1").state == "done"


def test_concurrent_requests_with_one_key_and_different_bodies_make_one_video(live, alice):
    raw = token_create(user=alice, name="t")[1]
    headers = {"Authorization": f"Bearer {raw}", "Idempotency-Key": "race-2"}
    url = f"{live.url}/api/v1/videos"
    responses = at_once(12, lambda i: requests.post(url, json={**BODY, "seed": 10000 + i}, headers=headers, timeout=60))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409, 422}, statuses
    assert Job.objects.filter(user=alice).count() == 1 and balance_of(alice.pk) == 40


def test_concurrent_requests_with_different_keys_each_count(live, alice):
    raw = token_create(user=alice, name="t")[1]
    url = f"{live.url}/api/v1/videos"
    responses = at_once(
        8,
        lambda i: requests.post(
            url, json=BODY, headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": f"k-{i}"}, timeout=60
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    # 50 credits: five fast videos, then 402; never more, never a 500.
    assert statuses.count(201) == 5 and statuses.count(402) == 3, statuses
    assert balance_of(alice.pk) == 0 and wallets_out_of_balance() == []
    assert IdempotencyKey.objects.filter(user=alice).count() == 5  # refused keys are freed for a retry


def test_the_token_limit_holds_under_a_burst(live, alice, settings):
    settings.API_REQUESTS_PER_MINUTE = 5
    raw = token_create(user=alice, name="t")[1]
    url = f"{live.url}/api/v1/balance"
    responses = at_once(20, lambda i: requests.get(url, headers={"Authorization": f"Bearer {raw}"}, timeout=60))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 5 and statuses.count(429) == 15, statuses

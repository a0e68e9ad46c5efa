"""Real concurrent requests against the live server (PostgreSQL only): a
user with credits for N jobs who fires many more at once gets exactly N
accepted; caps hold under the same race; ledger sums equal balances."""

import threading

import pytest
import requests

from billing.models import LedgerEntry, Wallet
from billing.selectors import balance_of, wallets_out_of_balance
from billing.services import credits_grant
from videos import services
from videos.models import Job, Upgrade
from videos.vocabulary import VideoRequest

from .conftest import generate_data, make_user, postgres_only, wait_for

pytestmark = [postgres_only, pytest.mark.slow]


def logged_in_session(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302
    return session


def fire(base: str, session: requests.Session, count: int, path: str = "/videos/new/") -> list[int]:
    """`count` simultaneous submissions (POSTs to `path`) from one signed-in
    browser session."""
    statuses: list[int] = []
    barrier = threading.Barrier(count)
    cookies = session.cookies.get_dict()

    def post() -> None:
        s = requests.Session()
        s.cookies.update(cookies)
        barrier.wait()
        response = s.post(
            f"{base}{path}",
            data=generate_data(),
            headers={"X-CSRFToken": cookies["csrftoken"], "Accept": "application/json"},
            timeout=60,
            allow_redirects=False,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.fixture(autouse=True)
def plain_http_cookies(settings):
    # The live server speaks plain http, over which clients drop Secure cookies.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def roomy(settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 1000
    settings.USER_RUNNING_SLOTS = 1000


def test_credits_for_five_accept_exactly_five(live, sim, django_user_model, roomy):
    user = make_user(django_user_model, "racer", credits=50)
    statuses = fire(live.url, logged_in_session(live.url, "racer"), 25)
    assert statuses.count(201) == 5 and statuses.count(402) == 20
    assert Job.objects.filter(user=user).count() == 5
    assert balance_of(user.pk) == 0 and wallets_out_of_balance() == []


def test_daily_cap_holds_under_the_race(live, sim, django_user_model, roomy):
    user = make_user(django_user_model, "capped", credits=50)
    credits_grant(user=user, amount=150, reason="top up")
    Wallet.objects.filter(user=user).update(daily_cap=30)
    statuses = fire(live.url, logged_in_session(live.url, "capped"), 20)
    assert statuses.count(201) == 3 and statuses.count(429) == 17
    assert balance_of(user.pk) == 170 and wallets_out_of_balance() == []


def test_rate_limit_holds_under_the_race(live, sim, django_user_model, settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 4
    settings.USER_RUNNING_SLOTS = 1000
    make_user(django_user_model, "quick", credits=500)
    statuses = fire(live.url, logged_in_session(live.url, "quick"), 15)
    assert statuses.count(201) == 4 and statuses.count(429) == 11


def test_many_users_at_once(live, sim, django_user_model, roomy):
    users = [make_user(django_user_model, f"crowd{i}", credits=30) for i in range(5)]
    sessions = [logged_in_session(live.url, u.username) for u in users]
    results: dict[str, list[int]] = {}
    threads = [
        threading.Thread(target=lambda u=u, s=s: results.__setitem__(u.username, fire(live.url, s, 8)))
        for u, s in zip(users, sessions, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.count(201) == 3 for r in results.values()), results
    assert all(balance_of(u.pk) == 0 for u in users) and wallets_out_of_balance() == []


def test_racing_upgrade_requests_charge_once(live, sim, django_user_model, roomy):
    user = make_user(django_user_model, "upgrader", credits=50)
    job = services.job_create(user=user, request=VideoRequest(prompt="A lighthouse at dusk"))
    wait_for(lambda: Job.objects.filter(pk=job.pk, status=Job.Status.SUCCEEDED).exists(), timeout=20)
    sim.config(hd_delay=1000)  # every upgrade stays pending while the others arrive
    statuses = fire(live.url, logged_in_session(live.url, "upgrader"), 12, path=f"/videos/{job.pk}/upgrade/")
    assert statuses == [302] * 12  # each answered (refused ones with a message), none a 500
    upgrade = Upgrade.objects.get(job=job)
    assert LedgerEntry.objects.filter(kind="charge", reference=upgrade.reference).count() == 1
    assert balance_of(user.pk) == 50 - 10 - 2 and wallets_out_of_balance() == []

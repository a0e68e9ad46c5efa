"""A crowd of fresh accounts spending their signup grants cannot stop the
service: their spend never trips the spend breaker and has a budget of its
own; paying accounts go on whatever the free tier does."""

import pytest
from django.conf import settings as django_settings
from django.test import Client

from billing.models import LedgerEntry, Price
from billing.selectors import balance_of, breaker_is_open, wallets_out_of_balance
from billing.services import credits_grant
from videos.models import Job

from .conftest import make_user, submit


@pytest.fixture
def crowd(db, django_user_model, sim):
    """Twenty accounts that signed up, verified, and hold only their grant."""
    users = [make_user(django_user_model, f"fresh{i}", credits=django_settings.SIGNUP_GRANT_CREDITS) for i in range(20)]
    clients = []
    for user in users:
        client = Client()
        client.force_login(user)
        clients.append(client)
    return users, clients


def spend_grants_on_quality(clients) -> list[int]:
    """Each account submits quality videos until its grant runs out."""
    statuses = []
    for client in clients:
        for _ in range(3):
            response = submit(client, model="veo3")
            statuses.append(response.status_code)
            if response.status_code != 302:
                break
    return statuses


def paying_user(django_user_model):
    user = make_user(django_user_model, "payer", credits=django_settings.SIGNUP_GRANT_CREDITS)
    credits_grant(user=user, amount=200, reason="bought a pack")
    client = Client()
    client.force_login(user)
    return user, client


def test_twenty_fresh_accounts_spending_their_grant_leave_the_service_open(crowd, django_user_model, settings):
    users, clients = crowd
    quality = Price.objects.get(code="veo3")
    # The scenario is one that tripped the old breaker: the crowd's provider
    # spend in one window is well past the abnormal-spend floor.
    assert len(users) * (settings.SIGNUP_GRANT_CREDITS // quality.credits) * quality.provider_credits > (
        settings.BREAKER_ABNORMAL_FLOOR
    )
    statuses = spend_grants_on_quality(clients)
    assert statuses.count(302) == 20 and not [s for s in statuses if s >= 500]
    assert all(balance_of(u.pk) == settings.SIGNUP_GRANT_CREDITS - quality.credits for u in users)
    assert LedgerEntry.objects.filter(kind="charge", free_tier=True).count() == 20
    assert not breaker_is_open()

    payer, client = paying_user(django_user_model)
    for model in ("veo3", "veo3_fast"):
        assert submit(client, model=model).status_code == 302
    assert not LedgerEntry.objects.filter(user=payer, kind="charge", free_tier=True).exists()
    # A twenty-first fresh account is still welcome too.
    late = Client()
    late.force_login(make_user(django_user_model, "late"))
    assert submit(late, model="veo3").status_code == 302
    assert not breaker_is_open() and not wallets_out_of_balance()


def test_a_crowd_past_the_free_budget_waits_and_paying_users_do_not(crowd, django_user_model, settings):
    users, clients = crowd
    settings.FREE_TIER_WINDOW_LIMIT = 1_000  # four quality videos
    statuses = []
    for client in clients:
        response = submit(client, model="veo3")
        statuses.append(response.status_code)
        if response.status_code == 400:
            assert "Free credits cannot be used right now" in response.content.decode()
            assert "Credits you buy are not affected" in response.content.decode()
    assert statuses.count(302) == 4 and statuses.count(400) == 16
    assert Job.objects.count() == 4 and not breaker_is_open()

    _, client = paying_user(django_user_model)
    assert submit(client, model="veo3").status_code == 302
    assert not breaker_is_open() and not wallets_out_of_balance()


def test_the_free_budget_is_also_daily(crowd, settings):
    _, clients = crowd
    settings.FREE_TIER_DAILY_LIMIT = 400  # one quality video (250)
    assert submit(clients[0], model="veo3").status_code == 302
    response = submit(clients[1], model="veo3")
    assert response.status_code == 400 and "Free credits cannot be used right now" in response.content.decode()


def test_paying_accounts_still_trip_the_breaker_on_abnormal_spend(crowd, django_user_model, settings):
    settings.BREAKER_WINDOW_LIMIT = 300
    _, clients = crowd
    spend_grants_on_quality(clients[:5])  # free tier: 1,250 provider credits, no trip
    assert not breaker_is_open()
    _, client = paying_user(django_user_model)
    assert submit(client, model="veo3").status_code == 302
    response = submit(client, model="veo3")
    assert response.status_code == 400 and breaker_is_open()


def test_refunds_of_free_tier_charges_stay_free_tier(live, crowd, sim):
    users, clients = crowd
    submit(clients[0], model="veo3", prompt="A paper boat on a rainy street [sim:error=422]")
    refund = LedgerEntry.objects.get(kind="refund")
    assert refund.free_tier and refund.user == users[0]
    assert balance_of(users[0].pk) == 50

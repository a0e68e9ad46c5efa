"""Money in under real concurrency (PostgreSQL only): the same Stripe event
delivered by several webhook requests at once credits once; a code's uses
hold however many people redeem it at once, and one user redeeming in many
tabs gets it once."""

import json
import threading
import time

import pytest
import requests
import stripe

from billing.models import CreditPack, LedgerEntry, Payment, RedeemCode, Redemption
from billing.redeem import codes_create
from billing.selectors import balance_of, wallets_out_of_balance

from .conftest import STRIPE_TEST_SECRET, make_user, postgres_only

pytestmark = [postgres_only]

CSRF = "c" * 32


@pytest.fixture(autouse=True)
def plain_http_cookies(settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


def session_of(user) -> requests.Session:
    """A browser session of `user` for the live server (a real login
    session, a CSRF cookie and the matching header)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", CSRF)
    session.headers["X-CSRFToken"] = CSRF
    return session


def at_once(calls) -> list:
    """Run the callables together (released by one barrier); their results."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_same_event_from_many_requests_credits_once(live_server, stripe_on, django_user_model):
    user = make_user(django_user_model, "payer", credits=0)
    pack = CreditPack.objects.create(name="Creator", credits=500, amount=2000)
    payment = Payment.objects.create(
        user=user, pack=pack, pack_name=pack.name, credits=500, amount=2000, currency="usd", intent_id="pi_race1"
    )
    event = {
        "id": "evt_race1",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_race1", "status": "succeeded", "amount": 2000, "currency": "usd"}},
    }
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_TEST_SECRET)
    url = f"{live_server.url}/billing/stripe/webhook/"

    def deliver():
        return requests.post(url, data=body, headers={"Stripe-Signature": header}, timeout=30).status_code

    statuses = at_once([deliver] * 8)
    assert statuses == [200] * 8
    assert LedgerEntry.objects.filter(kind="purchase", user=user).count() == 1
    assert balance_of(user.pk) == 500 and wallets_out_of_balance() == []
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_webhook_and_return_page_racing_credit_once(live_server, stripe_on, django_user_model):
    """The intent succeeds at Stripe; its event (delivered four times) and
    four loads of the return page all arrive at once."""
    user = make_user(django_user_model, "racer", credits=0)
    pack = CreditPack.objects.create(name="Creator", credits=500, amount=2000)
    api = stripe.StripeClient("sk_test_veo_tests", base_addresses={"api": stripe_on.url})
    intent = api.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "payment_method_types": ["card"]})
    payment = Payment.objects.create(
        user=user, pack=pack, pack_name=pack.name, credits=500, amount=2000, currency="usd", intent_id=intent.id
    )
    card = api.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    api.v1.payment_intents.update(intent.id, params={"payment_method": card.id})
    succeeded = api.v1.payment_intents.confirm(intent.id).to_dict()
    body = json.dumps(
        {
            "id": "evt_race3",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": succeeded},
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_TEST_SECRET)
    hook = f"{live_server.url}/billing/stripe/webhook/"
    browser = session_of(user)
    page = f"{live_server.url}/billing/payments/{payment.pk}/"
    calls = [lambda: requests.post(hook, data=body, headers={"Stripe-Signature": header}, timeout=30).status_code] * 4
    calls += [lambda: browser.get(page, timeout=30).status_code] * 4
    assert at_once(calls) == [200] * 8
    assert LedgerEntry.objects.filter(kind="purchase", user=user).count() == 1
    assert balance_of(user.pk) == 500 and wallets_out_of_balance() == []


def test_concurrent_redemptions_never_exceed_uses(live_server, django_user_model):
    users = [make_user(django_user_model, f"fan{i}", credits=0) for i in range(8)]
    [code] = codes_create(credits=20, count=1, uses=3)
    sessions = [session_of(u) for u in users]
    url = f"{live_server.url}/billing/redeem/"
    statuses = at_once(
        [
            lambda s=s: s.post(url, data={"code": code.code}, allow_redirects=False, timeout=30).status_code
            for s in sessions
        ]
    )
    assert statuses.count(302) == 3 and statuses.count(400) == 5, statuses
    assert RedeemCode.objects.get(pk=code.pk).uses == 3 == Redemption.objects.count()
    assert sum(balance_of(u.pk) for u in users) == 60 and wallets_out_of_balance() == []


def test_one_user_many_tabs_redeems_once(live_server, django_user_model):
    user = make_user(django_user_model, "tabs", credits=0)
    [code] = codes_create(credits=20, count=1, uses=10)
    session = session_of(user)
    url = f"{live_server.url}/billing/redeem/"
    statuses = at_once(
        [lambda: session.post(url, data={"code": code.code}, allow_redirects=False, timeout=30).status_code] * 6
    )
    assert statuses.count(302) == 1 and statuses.count(400) == 5, statuses
    assert balance_of(user.pk) == 20 and wallets_out_of_balance() == []

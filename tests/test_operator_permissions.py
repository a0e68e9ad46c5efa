"""Operators act only within their permissions: staff status alone, or the
view permissions, move no money and open no breaker; amounts are checked
strictly; every operator action is recorded with who and why; a retry makes
at most one new job however it is raced."""

import threading
import unicodedata

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from billing.models import BreakerEvent, BreakerState, LedgerEntry, Price, Wallet
from billing.selectors import balance_of, breaker_is_open, wallets_out_of_balance
from billing.services import breaker_trip, provider_balance_record
from videos.models import Job

from .conftest import postgres_only


def staff(django_user_model, username: str, *perms: str):
    user = django_user_model.objects.create_user(username, password="pw-" + username, is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    client = Client()
    client.force_login(user)
    return user, client


VIEW_PERMS = [
    "billing.view_wallet",
    "billing.view_ledgerentry",
    "billing.view_price",
    "billing.view_breakerstate",
    "billing.view_breakerevent",
    "billing.view_providerbalance",
    "videos.view_job",
]


@pytest.fixture
def world(alice):
    """A failed job, a finished one, a submitted one, an open breaker."""
    failed = Job.objects.create(user=alice, prompt="p", price_credits=10, status="failed")
    done = Job.objects.create(user=alice, prompt="q", price_credits=10, status="succeeded")
    submitted = Job.objects.create(user=alice, prompt="r", price_credits=10, status="submitted", task_id="t1")
    breaker_trip(reason="Provider answered 402")
    provider_balance_record(credits=1000)
    return {"wallet": Wallet.objects.get(user=alice), "jobs": [failed, done, submitted]}


def money_endpoints(world) -> list[tuple[str, str, dict]]:
    """Every endpoint that moves money or changes how the service runs."""
    wallet, jobs = world["wallet"], world["jobs"]
    ids = [j.pk for j in jobs]
    price = Price.objects.get(code="veo3_fast")
    adjust = f"/admin/billing/wallet/{wallet.pk}/adjust/"
    return [
        ("get", adjust, {}),
        ("post", adjust, {"amount": "1000", "reason": "me"}),
        ("post", adjust, {"amount": "-10", "reason": "them"}),
        ("get", "/admin/billing/breakerstate/reset/", {}),
        ("post", "/admin/billing/breakerstate/reset/", {"reason": "go"}),
        ("get", "/admin/billing/providerbalance/reconciliation/", {}),
        ("post", f"/admin/billing/wallet/{wallet.pk}/change/", {"daily_cap": "0", "monthly_cap": "0"}),
        ("post", f"/admin/billing/price/{price.pk}/change/", {**_price_form(price), "credits": "1"}),
        *(
            ("post", "/admin/videos/job/", {"action": name, "_selected_action": ids, "reason": "x"})
            for name in ("repoll", "retry", "refund")
        ),
    ]


def _price_form(price) -> dict:
    return {
        "code": price.code,
        "label": price.label,
        "credits": price.credits,
        "provider_credits": price.provider_credits,
        "cost_usd": price.cost_usd,
    }


def snapshot():
    return (
        LedgerEntry.objects.count(),
        Job.objects.count(),
        breaker_is_open(),
        list(Wallet.objects.values_list("daily_cap", "monthly_cap")),
        list(Price.objects.values_list("credits", flat=True)),
        list(Job.objects.order_by("pk").values_list("status", flat=True)),
    )


@pytest.mark.parametrize("perms", [[], VIEW_PERMS], ids=["staff-no-permission", "staff-view-only"])
def test_staff_without_the_permission_get_403_and_nothing_changes(django_user_model, world, perms):
    _, client = staff(django_user_model, "op", *perms)
    before = snapshot()
    endpoints = money_endpoints(world)
    for method, url, data in endpoints:
        response = getattr(client, method)(url, data)
        # Reconciliation only reads: the view permissions are what it needs.
        expected = 200 if perms and url.endswith("/reconciliation/") else 403
        assert response.status_code == expected, (method, url, data, response.status_code)
    assert snapshot() == before
    assert len(endpoints) == 11


def test_view_only_staff_see_no_money_buttons(django_user_model, world):
    _, client = staff(django_user_model, "viewer", *VIEW_PERMS)
    wallet = world["wallet"]
    assert "Grant / adjust" not in client.get(f"/admin/billing/wallet/{wallet.pk}/change/").content.decode()
    assert "Reset the breaker" not in client.get("/admin/billing/breakerstate/").content.decode()
    jobs = client.get("/admin/videos/job/").content.decode()
    assert 'value="retry"' not in jobs and 'value="refund"' not in jobs and 'value="repoll"' not in jobs


def test_grant_and_take_are_separate_permissions(django_user_model, world):
    wallet = world["wallet"]
    url = f"/admin/billing/wallet/{wallet.pk}/adjust/"
    _, granter = staff(django_user_model, "granter", "billing.view_wallet", "billing.grant_credits")
    _, taker = staff(django_user_model, "taker", "billing.view_wallet", "billing.take_credits")
    assert "may not take" in granter.post(url, {"amount": "-5", "reason": "x"}).content.decode()
    assert "may not grant" in taker.post(url, {"amount": "5", "reason": "x"}).content.decode()
    assert balance_of(wallet.user_id) == 50
    assert granter.post(url, {"amount": "5", "reason": "ticket 1"}).status_code == 302
    assert taker.post(url, {"amount": "-3", "reason": "ticket 2"}).status_code == 302
    assert balance_of(wallet.user_id) == 52


def test_breaker_reset_needs_its_permission(django_user_model, world):
    user, client = staff(django_user_model, "resetter", "billing.view_breakerstate", "billing.reset_breaker")
    assert "Reset the breaker" in client.get("/admin/billing/breakerstate/").content.decode()
    assert client.post("/admin/billing/breakerstate/reset/", {"reason": "topped up"}).status_code == 302
    assert not breaker_is_open()
    event = BreakerEvent.objects.first()
    assert (event.kind, event.actor, event.reason) == ("reset", user, "topped up")


HOSTILE_AMOUNTS = [
    *("9" * n for n in range(7, 41)),  # past the limit, past int64, past any column
    *("-" + "9" * n for n in range(7, 41)),
    "100001",
    "-100001",
    "1.5",
    "1.0",
    "-0.5",
    "1e3",
    "1E3",
    "0x10",
    "0b1",
    "0o7",
    "1_000",
    "1,000",
    "١٠",
    "１０",
    "½",
    "²",
    "Ⅻ",
    "NaN",
    "inf",
    "-inf",
    "ten",
    "10 credits",
    "--5",
    "+-5",
    "5-",
    "0",
    "-0",
    "+0",
    "00000",
    "",
    " ",
    "\x00",
    "5\x00",
    "\u200b5",
    "5\u202e",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "1; DROP TABLE billing_wallet",
    "{{ 7*7 }}",
    "%s%s%s",
    "💰",
    "5" * 10_000,
]
# Every non-ASCII decimal digit Unicode knows, which int() would read as a number.
UNICODE_DIGITS = [ch + "0" for ch in map(chr, range(0x80, 0x20000)) if unicodedata.category(ch) == "Nd"]


def test_hostile_amounts_are_form_errors_and_post_nothing(django_user_model, world):
    wallet = world["wallet"]
    _, client = staff(
        django_user_model, "banker", "billing.view_wallet", "billing.grant_credits", "billing.take_credits"
    )
    url = f"/admin/billing/wallet/{wallet.pk}/adjust/"
    entries = LedgerEntry.objects.count()
    statuses = []
    for amount in HOSTILE_AMOUNTS:
        response = client.post(url, {"amount": amount, "reason": "hostile"})
        statuses.append(response.status_code)
        assert response.status_code == 200, (amount[:40], response.status_code)
        assert 'class="errorlist' in response.content.decode(), amount[:40]
    assert LedgerEntry.objects.count() == entries and balance_of(wallet.user_id) == 50
    assert len(HOSTILE_AMOUNTS) >= 80 and not [s for s in statuses if s >= 500]


def test_every_unicode_digit_is_refused_by_the_adjust_form():
    """The same form the view uses, without the page around it: all of
    Unicode's ~680 non-ASCII digits, alone and mixed with ASCII ones."""
    from billing.admin import AdjustForm

    inputs = [*UNICODE_DIGITS, *(("1" + d[0] + "1") for d in UNICODE_DIGITS)]
    for amount in inputs:
        form = AdjustForm({"amount": amount, "reason": "x"}, may_grant=True, may_take=True)
        assert not form.is_valid() and "amount" in form.errors, amount
    assert len(inputs) >= 1200


HOSTILE_REASONS = ["", " ", "\t\n", "x" * 301, "x" * 100_000, "\x00bad"]


def test_hostile_reasons_and_unknown_ids(django_user_model, world):
    wallet = world["wallet"]
    _, client = staff(
        django_user_model,
        "banker",
        "billing.view_wallet",
        "billing.grant_credits",
        "billing.reset_breaker",
        "billing.view_breakerstate",
        "videos.view_job",
        "videos.retry_job",
        "videos.refund_job",
        "videos.repoll_job",
    )
    before = snapshot()
    for reason in HOSTILE_REASONS:
        assert (
            client.post(f"/admin/billing/wallet/{wallet.pk}/adjust/", {"amount": "5", "reason": reason}).status_code
            == 200
        )
        assert client.post("/admin/billing/breakerstate/reset/", {"reason": reason}).status_code == 200
    for bad_id in ["0", "999999", "9" * 19, "9" * 40, "-1", "abc", "1.5", "١"]:
        # Ids the URL pattern takes are 404; others fall to the admin's "no such object" redirect.
        assert client.get(f"/admin/billing/wallet/{bad_id}/adjust/", follow=True).status_code in (200, 404)
        for action in ("repoll", "retry", "refund"):
            response = client.post(
                "/admin/videos/job/", {"action": action, "_selected_action": [bad_id], "reason": "x"}, follow=True
            )
            assert response.status_code == 200, (action, bad_id)
    # Money-moving actions need a reason.
    response = client.post(
        "/admin/videos/job/", {"action": "refund", "_selected_action": [world["jobs"][1].pk]}, follow=True
    )
    assert "Give a reason" in response.content.decode()
    assert snapshot() == before


def test_every_operator_action_is_recorded_with_who_and_why(live, sim, django_user_model, world, alice_client):
    failed, done, _ = world["jobs"]
    user, client = staff(
        django_user_model,
        "carer",
        "billing.view_wallet",
        "billing.grant_credits",
        "videos.view_job",
        "videos.retry_job",
        "videos.refund_job",
    )
    BreakerState.objects.update(is_open=False)  # the world's breaker would refuse the retry
    client.post(f"/admin/billing/wallet/{world['wallet'].pk}/adjust/", {"amount": "7", "reason": "ticket 9"})
    Job.objects.filter(pk=failed.pk).update(prompt="A paper boat on a rainy street")
    client.post(
        "/admin/videos/job/", {"action": "retry", "_selected_action": [failed.pk, done.pk], "reason": "ticket 9"}
    )
    retry = Job.objects.get(retry_of=failed)
    client.post("/admin/videos/job/", {"action": "refund", "_selected_action": [retry.pk], "reason": "ticket 9"})
    assert balance_of(retry.user_id) == 57
    messages = list(LogEntry.objects.filter(user=user).values_list("change_message", flat=True))
    assert any(m.startswith("Credits +7: ticket 9") for m in messages)
    assert any(m.startswith("Retry (job #") and m.endswith("ticket 9") for m in messages)
    assert "Refund: ticket 9" in messages
    grant = LedgerEntry.objects.filter(kind="grant").get()
    assert (grant.actor, grant.reason) == (user, "ticket 9")
    # The user sees that an operator acted, never who.
    history = alice_client.get("/billing/").content.decode()
    assert "Operator adjustment" in history and "carer" not in history
    assert not wallets_out_of_balance()


def test_retry_twice_makes_one_job(live, sim, admin_client, alice):
    failed = Job.objects.create(user=alice, prompt="A paper boat on a rainy street", price_credits=10, status="failed")
    for _ in range(3):
        admin_client.post("/admin/videos/job/", {"action": "retry", "_selected_action": [failed.pk], "reason": "r"})
    assert Job.objects.filter(retry_of=failed).count() == 1
    assert balance_of(alice.pk) == 40


@postgres_only
def test_raced_retries_make_one_job(live, sim, django_user_model, alice, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.USER_SUBMISSIONS_PER_MINUTE = 1000
    failed = Job.objects.create(user=alice, prompt="A paper boat on a rainy street", price_credits=10, status="failed")
    _, client = staff(django_user_model, "racer", "videos.view_job", "videos.retry_job")
    cookies = {"sessionid": client.cookies["sessionid"].value}
    page = requests.get(f"{live.url}/admin/videos/job/", cookies=cookies, timeout=10)
    cookies["csrftoken"] = page.cookies["csrftoken"]
    count = 8
    barrier, statuses = threading.Barrier(count), []

    def click() -> None:
        barrier.wait()
        response = requests.post(
            f"{live.url}/admin/videos/job/",
            data={"action": "retry", "_selected_action": [failed.pk], "reason": "raced", "index": "0"},
            cookies=cookies,
            headers={"X-CSRFToken": cookies["csrftoken"], "Referer": f"{live.url}/admin/videos/job/"},
            timeout=60,
            allow_redirects=False,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [302] * count
    assert Job.objects.filter(retry_of=failed).count() == 1
    assert LedgerEntry.objects.filter(user=alice, kind="charge").count() == 1
    assert balance_of(alice.pk) == 40 and not wallets_out_of_balance()


def test_hostile_caps_and_prices_are_form_errors_never_5xx(admin_client, alice):
    """The stock admin forms operators edit money rules with: caps and prices."""
    wallet = Wallet.objects.get(user=alice)
    price = Price.objects.get(code="veo3_fast")
    values = [v for v in HOSTILE_AMOUNTS if v.isascii() or len(v) < 3][:60]
    statuses = []
    for value in values:
        statuses.append(
            admin_client.post(
                f"/admin/billing/wallet/{wallet.pk}/change/", {"daily_cap": value, "monthly_cap": ""}
            ).status_code
        )
        for field in ("credits", "provider_credits", "cost_usd"):
            statuses.append(
                admin_client.post(
                    f"/admin/billing/price/{price.pk}/change/", {**_price_form(price), field: value}
                ).status_code
            )
    assert len(statuses) >= 240 and not [s for s in statuses if s >= 500]
    assert set(statuses) <= {200, 302}
    price.refresh_from_db()
    wallet.refresh_from_db()
    assert price.credits > 0 and price.provider_credits >= 0 and price.cost_usd >= 0
    assert wallet.daily_cap is None or wallet.daily_cap >= 0  # a huge cap is no cap, as the form says

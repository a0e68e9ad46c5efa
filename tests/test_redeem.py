"""Redeem codes: made by operators (command and admin), redeemed once per
code and user, never past their uses, guessing throttled, each redemption a
ledger entry naming the code."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import LedgerEntry, RedeemCode, Redemption
from billing.redeem import codes_create, normalize
from billing.selectors import balance_of, wallets_out_of_balance

from .conftest import make_user


@pytest.fixture(autouse=True)
def ledger_holds(db):
    yield
    assert wallets_out_of_balance() == []


def test_command_prints_codes_one_a_line(db, capsys):
    call_command("create_redeem_codes", "--credits", "25", "--count", "3", "--expires", "7", "--uses", "2")
    lines = capsys.readouterr().out.split()
    assert len(lines) == 3 and len(set(lines)) == 3
    codes = RedeemCode.objects.filter(code__in=lines)
    assert codes.count() == 3
    for code in codes:
        assert (code.credits, code.max_uses, code.uses) == (25, 2, 0)
        assert timedelta(days=6, hours=23) < code.expires_at - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize(
    "args", [["--credits", "0", "--count", "1"], ["--credits", "5", "--count", "-1"], ["--count", "1"]]
)
def test_command_refuses_bad_numbers(db, args):
    with pytest.raises((CommandError, SystemExit)):
        call_command("create_redeem_codes", *args)
    assert not RedeemCode.objects.exists()


def test_redeem_adds_credits_with_a_ledger_entry(alice_client, alice):
    [code] = codes_create(credits=30, count=1)
    response = alice_client.post("/billing/redeem/", {"code": code.code.lower().replace("-", " ")})
    assert response.status_code == 302
    assert balance_of(alice.pk) == 80
    entry = LedgerEntry.objects.get(kind="redeem")
    assert entry.amount == 30 and code.code in entry.reason
    code.refresh_from_db()
    assert code.uses == 1


def test_one_redemption_per_code_and_user(alice_client, alice):
    [code] = codes_create(credits=30, count=1, uses=5)
    alice_client.post("/billing/redeem/", {"code": code.code})
    response = alice_client.post("/billing/redeem/", {"code": code.code})
    assert response.status_code == 400 and "already redeemed" in response.content.decode()
    assert balance_of(alice.pk) == 80


def test_uses_are_not_exceeded(alice_client, bob_client, bob):
    [code] = codes_create(credits=30, count=1)  # one use by default
    alice_client.post("/billing/redeem/", {"code": code.code})
    response = bob_client.post("/billing/redeem/", {"code": code.code})
    assert response.status_code == 400 and "already been used" in response.content.decode()
    assert balance_of(bob.pk) == 50


def test_expired_and_disabled_codes_are_refused(alice_client, alice):
    [old, off] = codes_create(credits=30, count=2)
    RedeemCode.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    RedeemCode.objects.filter(pk=off.pk).update(active=False)
    assert "expired" in alice_client.post("/billing/redeem/", {"code": old.code}).content.decode()
    assert "not valid" in alice_client.post("/billing/redeem/", {"code": off.code}).content.decode()
    assert balance_of(alice.pk) == 50


@pytest.mark.parametrize("code", ["", "   ", "x" * 65, "NOPE-NOPE-NOPE-NOPE", "'; drop table --"])
def test_bad_codes_are_form_errors(alice_client, alice, code):
    response = alice_client.post("/billing/redeem/", {"code": code})
    assert response.status_code == 400 and balance_of(alice.pk) == 50


def test_guessing_is_throttled(alice_client, alice, bob_client, settings):
    settings.REDEEM_FAILURES_PER_HOUR = 3
    [code] = codes_create(credits=30, count=1)
    for _ in range(3):
        alice_client.post("/billing/redeem/", {"code": "WRONG-WRONG-WRONG"})
    response = alice_client.post("/billing/redeem/", {"code": code.code})  # even a good code waits
    assert response.status_code == 400 and "Too many wrong codes" in response.content.decode()
    assert balance_of(alice.pk) == 50
    assert bob_client.post("/billing/redeem/", {"code": code.code}).status_code == 302  # per user


def test_redeem_needs_login(client, db):
    assert client.post("/billing/redeem/", {"code": "X"}).status_code == 302
    assert not Redemption.objects.exists()


def test_admin_makes_a_batch(admin_client):
    response = admin_client.post(
        "/admin/billing/redeemcode/batch/", {"credits": 10, "count": 4, "uses": 1, "batch": "launch"}
    )
    assert response.status_code == 200
    codes = RedeemCode.objects.filter(batch="launch")
    assert codes.count() == 4
    assert all(c.code in response.content.decode() for c in codes)
    assert (
        admin_client.post("/admin/billing/redeemcode/batch/", {"credits": 0, "count": 4, "uses": 1}).status_code == 200
    )
    assert RedeemCode.objects.count() == 4


def test_codes_are_normalised():
    assert normalize(" abcd-efgh ijkl\tmnop ") == "ABCD-EFGH-IJKL-MNOP"


def test_many_codes_are_distinct(db):
    codes = codes_create(credits=1, count=200)
    assert len({c.code for c in codes}) == 200


def test_redeemed_code_shows_in_history(alice_client, django_user_model):
    [code] = codes_create(credits=30, count=1)
    alice_client.post("/billing/redeem/", {"code": code.code})
    html = alice_client.get("/billing/").content.decode()
    assert "Redeem code" in html and code.code in html
    make_user(django_user_model, "carol")  # a second wallet, checked by ledger_holds


def test_money_pages_in_chinese(alice_client, client):
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
    assert "兑换积分码" in alice_client.get("/billing/redeem/", **zh).content.decode()
    assert "购买积分" in alice_client.get("/billing/buy/", **zh).content.decode()
    assert "积分套餐" in client.get("/pricing/", **zh).content.decode()

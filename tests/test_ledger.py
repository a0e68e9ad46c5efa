"""The credit ledger: append-only, balance equals the ledger sum, never
negative, a refund at most once, enforced by the database too."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from billing.models import LedgerEntry, Wallet
from billing.selectors import balance_of, ledger_sum_of, wallets_out_of_balance
from billing.services import InsufficientCredits, credits_charge, credits_grant, credits_refund

from .conftest import postgres_only


def test_signup_grant_is_a_ledger_entry(alice):
    entry = LedgerEntry.objects.get(user=alice)
    assert (entry.kind, entry.amount, entry.balance_after) == ("signup", 50, 50)
    assert balance_of(alice.pk) == ledger_sum_of(alice.pk) == 50


def test_charge_and_refund_move_the_balance_once(alice):
    credits_charge(user_id=alice.pk, amount=10, reference="job:1", reason="video")
    assert balance_of(alice.pk) == 40
    first = credits_refund(reference="job:1", reason="failed")
    second = credits_refund(reference="job:1", reason="failed again")
    assert first is not None and first.amount == 10
    assert second is None
    assert balance_of(alice.pk) == ledger_sum_of(alice.pk) == 50
    assert LedgerEntry.objects.filter(kind="refund", reference="job:1").count() == 1


def test_refund_without_charge_does_nothing(alice):
    assert credits_refund(reference="job:404", reason="?") is None
    assert balance_of(alice.pk) == 50


def test_insufficient_credits_writes_nothing(alice):
    with pytest.raises(InsufficientCredits) as info:
        credits_charge(user_id=alice.pk, amount=51, reference="job:2", reason="too dear")
    assert info.value.available == 50 and info.value.needed == 51
    assert balance_of(alice.pk) == 50
    assert not LedgerEntry.objects.filter(reference="job:2").exists()


def test_second_charge_for_same_reference_is_refused_by_the_database(alice):
    credits_charge(user_id=alice.pk, amount=5, reference="job:3", reason="video")
    with pytest.raises(IntegrityError), transaction.atomic():
        credits_charge(user_id=alice.pk, amount=5, reference="job:3", reason="video again")
    assert balance_of(alice.pk) == 45


def test_database_refuses_a_negative_balance(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(user=alice).update(balance=-1)


def test_ledger_entries_cannot_be_changed_or_deleted(alice):
    entry = LedgerEntry.objects.get(user=alice)
    entry.amount = 1000
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 50


def test_adjustment_cannot_take_the_balance_below_zero(alice):
    with pytest.raises(InsufficientCredits):
        credits_grant(user=alice, amount=-60, reason="clawback", kind=LedgerEntry.Kind.ADJUST)
    credits_grant(user=alice, amount=-20, reason="clawback", kind=LedgerEntry.Kind.ADJUST)
    assert balance_of(alice.pk) == 30


def test_grant_requires_a_reason(alice):
    with pytest.raises(ValueError):
        credits_grant(user=alice, amount=5, reason="  ")


def test_grant_credits_command(alice, capsys):
    call_command("grant_credits", "alice", "25", "--reason", "support ticket 12")
    assert "balance now 75" in capsys.readouterr().out
    entry = LedgerEntry.objects.filter(user=alice).first()
    assert (entry.kind, entry.amount, entry.reason) == ("grant", 25, "support ticket 12")
    call_command("grant_credits", "alice", "-5", "--reason", "correction")
    assert balance_of(alice.pk) == 70


@pytest.mark.parametrize(
    "args, message",
    [
        (["nobody", "5", "--reason", "x"], "No user named"),
        (["alice", "0", "--reason", "x"], "must not be zero"),
        (["alice", "5", "--reason", " "], "reason is required"),
        (["alice", "-500", "--reason", "x"], "cannot go below zero"),
    ],
)
def test_grant_credits_command_refuses_bad_input(alice, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("grant_credits", *args)
    assert balance_of(alice.pk) == 50


def test_billing_page_shows_balance_and_history(alice_client, alice):
    credits_charge(user_id=alice.pk, amount=10, reference="job:9", reason="Video #9")
    html = alice_client.get("/billing/").content.decode()
    assert 'data-balance="40"' in html
    assert "Video #9" in html and "Welcome credits" in html


def test_billing_page_needs_login(client):
    response = client.get("/billing/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_never_overspend(django_user_model):
    """50 threads charge 10 credits each against a balance of 100: exactly
    10 succeed, whatever the interleaving, and the ledger agrees."""
    from .conftest import make_user

    user = make_user(django_user_model, "racer", credits=100)
    results: list[str] = []
    barrier = threading.Barrier(50)

    def charge(i: int) -> None:
        barrier.wait()
        try:
            credits_charge(user_id=user.pk, amount=10, reference=f"job:race-{i}", reason="race")
            results.append("ok")
        except InsufficientCredits:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=charge, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 10 and results.count("refused") == 40
    assert balance_of(user.pk) == 0 == ledger_sum_of(user.pk)
    assert wallets_out_of_balance() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_refund_once(django_user_model):
    from .conftest import make_user

    user = make_user(django_user_model, "refunder", credits=10)
    credits_charge(user_id=user.pk, amount=10, reference="job:r", reason="video")
    barrier = threading.Barrier(20)

    def refund() -> None:
        barrier.wait()
        try:
            credits_refund(reference="job:r", reason="failed")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert LedgerEntry.objects.filter(kind="refund", reference="job:r").count() == 1
    assert balance_of(user.pk) == 10 == ledger_sum_of(user.pk)

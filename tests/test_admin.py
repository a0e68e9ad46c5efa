"""The operator's admin: every screen opens, and every action goes through
the services with a reason where money moves."""

import pytest
from django.core.files.base import ContentFile

from billing.models import BreakerEvent, LedgerEntry, Wallet
from billing.selectors import balance_of, breaker_is_open
from billing.services import breaker_trip, provider_balance_record
from videos.models import Job

from .conftest import submit
from .helpers import job_after, settled


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/videos/job/",
        "/admin/videos/job/?status__exact=failed&model=veo3_fast",
        "/admin/videos/job/?q=paper",
        "/admin/billing/ledgerentry/",
        "/admin/billing/wallet/",
        "/admin/billing/price/",
        "/admin/billing/breakerstate/",
        "/admin/billing/breakerstate/reset/",
        "/admin/billing/breakerevent/",
        "/admin/billing/providerbalance/",
        "/admin/billing/providerbalance/reconciliation/",
        "/admin/django_q/schedule/",
        "/admin/django_q/ormq/",
    ],
)
def test_admin_screens_open(admin_client, alice, url):
    provider_balance_record(credits=1234)
    Job.objects.create(user=alice, prompt="paper boat", price_credits=10)
    assert admin_client.get(url).status_code == 200


def test_job_page_shows_provider_history(live, sim, admin_client, alice_client):
    job = settled(job_after(submit(alice_client)))
    html = admin_client.get(f"/admin/videos/job/{job.pk}/change/").content.decode()
    assert "POST /api/v1/veo/generate" in html and "callback (nested)" in html
    assert admin_client.get(f"/admin/videos/job/?user={job.user_id}").status_code == 200


def test_ledger_is_read_only(admin_client, alice):
    entry = LedgerEntry.objects.get(user=alice)
    assert admin_client.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/change/", {"amount": 999})
    entry.refresh_from_db()
    assert entry.amount == 50


def test_wallet_adjust_needs_a_reason_and_writes_the_ledger(admin_client, admin_user, alice):
    wallet = Wallet.objects.get(user=alice)
    url = f"/admin/billing/wallet/{wallet.pk}/adjust/"
    assert "This field is required" in admin_client.post(url, {"amount": 5, "reason": ""}).content.decode()
    assert "cannot go below zero" in admin_client.post(url, {"amount": -60, "reason": "x"}).content.decode()
    assert admin_client.post(url, {"amount": 25, "reason": "support ticket 7"}).status_code == 302
    entry = LedgerEntry.objects.filter(user=alice).first()
    assert (entry.kind, entry.amount, entry.reason, entry.actor) == ("grant", 25, "support ticket 7", admin_user)
    admin_client.post(url, {"amount": -5, "reason": "correction"})
    assert balance_of(alice.pk) == 70


def test_wallet_caps_are_editable(admin_client, alice):
    wallet = Wallet.objects.get(user=alice)
    response = admin_client.post(f"/admin/billing/wallet/{wallet.pk}/change/", {"daily_cap": 30, "monthly_cap": ""})
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert (wallet.daily_cap, wallet.monthly_cap, wallet.balance) == (30, None, 50)


def test_breaker_reset_asks_for_a_reason(admin_client, admin_user):
    breaker_trip(reason="Provider answered 402")
    assert breaker_is_open()
    page = admin_client.get("/admin/billing/breakerstate/reset/").content.decode()
    assert "The breaker is <strong>open</strong>" in page and "Provider answered 402" in page
    assert admin_client.post("/admin/billing/breakerstate/reset/", {"reason": ""}).status_code == 200
    assert breaker_is_open()
    admin_client.post("/admin/billing/breakerstate/reset/", {"reason": "account topped up"})
    assert not breaker_is_open()
    reset = BreakerEvent.objects.first()
    assert (reset.kind, reset.reason, reset.actor) == ("reset", "account topped up", admin_user)


def action(admin_client, name, *jobs):
    return admin_client.post(
        "/admin/videos/job/",
        {"action": name, "_selected_action": [j.pk for j in jobs], "reason": "support ticket"},
        follow=True,
    )


def test_refund_action_fails_active_jobs_and_refunds_finished_once(live, sim, admin_client, alice, alice_client):
    sim.config(callbacks=False, delay=100)
    running = job_after(submit(alice_client))
    sim.config(callbacks=True, delay=0.2)
    done = settled(job_after(submit(alice_client)))
    assert balance_of(alice.pk) == 30
    action(admin_client, "refund", running, done)
    running.refresh_from_db()
    assert running.status == "failed" and "Cancelled by an operator" in running.error_message
    assert balance_of(alice.pk) == 50
    action(admin_client, "refund", running, done)
    assert balance_of(alice.pk) == 50  # never twice


def test_retry_action_resubmits_a_failed_job(live, sim, admin_client, alice, alice_client):
    failed = job_after(submit(alice_client, prompt="first try [sim:fail]"))
    settled(failed, "failed")
    sim.config(outcome="success")
    action(admin_client, "retry", failed)
    retry = Job.objects.exclude(pk=failed.pk).get()
    assert retry.prompt == failed.prompt
    settled(retry, "failed")  # the directive is in the prompt: it fails again, and is refunded again
    assert balance_of(alice.pk) == 50


def test_repoll_action(live, sim, admin_client, alice_client):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client))
    import time

    time.sleep(0.4)
    action(admin_client, "repoll", job)
    settled(job)
    assert sim.calls("record-info") == 1


def test_admin_file_access_for_staff(admin_client, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded")
    job.video_file.save("videos/x.mp4", ContentFile(b"\x00\x00\x00\x08ftyp"), save=True)
    assert admin_client.get(f"/videos/{job.pk}/file").status_code == 200


def test_dashboard_on_the_admin_index(live, sim, admin_client, alice_client):
    settled(job_after(submit(alice_client)))
    settled(job_after(submit(alice_client, prompt="x [sim:fail]")), "failed")
    provider_balance_record(credits=5000)
    provider_balance_record(credits=4940)
    breaker_trip(reason="Provider answered 402")
    html = admin_client.get("/admin/").content.decode()
    assert "Veo Studio today" in html
    assert "Success rate: <strong>50 %</strong> of 2 finished" in html
    assert "OPEN" in html and "Provider answered 402" in html
    assert html.count('aria-label="Provider credits spent per day"') == 1 and "<rect" in html
    assert html.count('aria-label="Provider balance, latest readings"') == 1 and "<polyline" in html
    assert "<strong>4940</strong> credits" in html

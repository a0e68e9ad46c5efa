"""Money and limits: caps, rate limits, the spend breaker, provider
balance alerts, reconciliation, batch submission, prices frozen per job."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import BreakerEvent, LedgerEntry, Price, ProviderBalance, Wallet
from billing.selectors import balance_of, breaker_is_open, ledger_sum_of, reconciliation
from billing.services import credits_grant, provider_balance_record
from videos import tasks
from videos.models import Job

from .conftest import generate_data, make_user, submit
from .helpers import job_after, settled


@pytest.fixture(autouse=True)
def operators(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]


def refused(response, text):
    assert response.status_code == 400, response.status_code
    assert text in response.content.decode()


def test_user_daily_cap_from_wallet_override(alice_client, alice, sim):
    Wallet.objects.filter(user=alice).update(daily_cap=15)
    job_after(submit(alice_client))
    refused(submit(alice_client), "would pass your daily spending limit of 15 credits. It resets")
    assert Job.objects.count() == 1 and balance_of(alice.pk) == 40


def test_refunds_give_cap_room_back(live, alice_client, alice, sim):
    Wallet.objects.filter(user=alice).update(daily_cap=10)
    job_after(submit(alice_client, prompt="x [sim:error=422]"))  # failed and refunded
    job_after(submit(alice_client))


def test_user_monthly_cap_default(alice_client, alice, sim, settings):
    settings.USER_MONTHLY_CAP_CREDITS = 20
    credits_grant(user=alice, amount=100, reason="top up")
    job_after(submit(alice_client))
    job_after(submit(alice_client))
    refused(submit(alice_client), "monthly spending limit of 20 credits")


def test_zero_cap_means_no_cap(alice_client, alice, sim, settings):
    settings.USER_DAILY_CAP_CREDITS = 5
    Wallet.objects.filter(user=alice).update(daily_cap=0)
    job_after(submit(alice_client))


def test_global_daily_provider_cap(alice_client, bob_client, sim, settings):
    settings.GLOBAL_DAILY_CAP_PROVIDER_CREDITS = 100  # one fast video costs 60
    job_after(submit(alice_client))
    refused(submit(bob_client), "reached its daily generation budget")


def test_rate_limit_per_minute_html_and_json(alice_client, alice, sim, settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 3
    credits_grant(user=alice, amount=100, reason="top up")
    for _ in range(3):
        job_after(submit(alice_client))
    refused(submit(alice_client), "You can start 3 videos a minute")
    response = alice_client.post("/videos/new/", generate_data(), HTTP_ACCEPT="application/json")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 61
    assert "a minute" in response.json()["error"]
    assert Job.objects.count() == 3


def test_rejected_posts_do_not_count_toward_the_rate(alice_client, sim, settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 2
    for _ in range(5):
        assert submit(alice_client, prompt="").status_code == 400
    job_after(submit(alice_client))
    job_after(submit(alice_client))


def test_json_submission_answers_201_with_status(alice_client, sim):
    response = alice_client.post("/videos/new/", generate_data(), HTTP_ACCEPT="application/json")
    assert response.status_code == 201 and response.json()["status"] in ("queued", "submitted")
    bad = alice_client.post("/videos/new/", generate_data(prompt=""), HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and "prompt" in bad.json()["fields"]


def test_json_submission_without_enough_credits_answers_402(client, django_user_model, sim):
    client.force_login(make_user(django_user_model, "short", credits=5))
    response = client.post("/videos/new/", generate_data(), HTTP_ACCEPT="application/json")
    assert response.status_code == 402 and response.json() == {"error": "This needs 10 credits and you have 5."}
    assert not Job.objects.exists()


def test_spend_in_window_trips_the_breaker(alice_client, bob_client, alice, bob, sim, settings):
    settings.BREAKER_WINDOW_LIMIT = 100
    for user in (alice, bob):  # paying accounts: free-tier spend never trips it (test_grant_abuse.py)
        credits_grant(user=user, amount=10, reason="bought")
    job_after(submit(alice_client))
    refused(submit(bob_client), "paused")
    assert breaker_is_open()
    event = BreakerEvent.objects.get()
    assert "passed the limit of 100" in event.reason
    assert [m.subject for m in mail.outbox if "breaker" in m.subject] == [
        "[Django] Circuit breaker tripped: submissions stopped"
    ]
    refused(submit(alice_client), "paused")  # and it stays open
    assert BreakerEvent.objects.count() == 1


def test_abnormal_spend_rate_trips_the_breaker(alice_client, alice, sim, settings):
    settings.BREAKER_ABNORMAL_MULTIPLE = 3
    settings.BREAKER_ABNORMAL_FLOOR = 100
    credits_grant(user=alice, amount=100, reason="top up")
    job_after(submit(alice_client))
    refused(submit(alice_client), "paused")
    assert "usual rate" in BreakerEvent.objects.get().reason


def test_price_is_frozen_on_the_job(live, alice_client, alice, sim):
    job = job_after(submit(alice_client, prompt="x [sim:error=422]"))
    Price.objects.filter(code="veo3_fast").update(credits=25)
    job.refresh_from_db()
    assert job.price_credits == 10 and job.provider_credits == 60
    assert balance_of(alice.pk) == 50  # refunded what was charged, not the new price
    charge = LedgerEntry.objects.get(kind="charge", reference=job.charge_reference)
    assert (charge.amount, charge.provider_credits) == (-10, 60)


def test_provider_balance_alerts_once_per_crossing(db, settings):
    settings.PROVIDER_LOW_BALANCE = 1000
    for credits in (5000, 900, 800, 700):
        provider_balance_record(credits=credits)
    assert len([m for m in mail.outbox if "balance is low" in m.subject]) == 1
    provider_balance_record(credits=3000)  # topped up
    provider_balance_record(credits=950)  # crossed again
    assert len([m for m in mail.outbox if "balance is low" in m.subject]) == 2
    assert ProviderBalance.objects.count() == 6


def test_scheduled_balance_check_reads_the_simulator(live, sim, alice_client):
    settled(job_after(submit(alice_client)))
    assert tasks.provider_balance_check() == 100000 - 60
    assert ProviderBalance.objects.get().credits == 99940


def test_balance_check_failure_is_recorded(db, settings):
    settings.KIE_API_BASE_URL = "http://127.0.0.1:9"
    assert tasks.provider_balance_check() is None
    assert "reach" in ProviderBalance.objects.get().error


def test_reconciliation_compares_ledger_and_balance(live, sim, alice_client):
    provider_balance_record(credits=100000)
    settled(job_after(submit(alice_client)))
    settled(job_after(submit(alice_client, prompt="x [sim:error=422]")), "failed")  # refunded: no provider spend
    provider_balance_record(credits=99940)
    today = reconciliation(days=2)[-1]
    assert today["expected"] == 60 and today["moved"] == 60 and today["gap"] == 0


def test_batch_with_a_bad_line_starts_nothing_and_marks_it(alice_client, alice, sim):
    lines = "A cat on a piano\n\n" + "x" * 2100 + "\nA dog on a skateboard\n"
    response = alice_client.post("/videos/batch/", {**generate_data(prompt=None), "prompts": lines})
    html = response.content.decode()
    assert response.status_code == 200 and "0 of 3 started" in html
    assert "Nothing was started: fix the lines marked below first." in html
    assert "Keep the prompt under 2000 characters." in html
    assert Job.objects.filter(user=alice).count() == 0 and balance_of(alice.pk) == 50
    lines = "A cat on a piano\nA dog on a skateboard\n"
    html = alice_client.post("/videos/batch/", {**generate_data(prompt=None), "prompts": lines}).content.decode()
    assert "2 of 2 started" in html and balance_of(alice.pk) == 30


def test_batch_beyond_the_balance_starts_nothing(alice_client, alice, sim):
    lines = "\n".join(f"Clip number {i}" for i in range(7))
    html = alice_client.post("/videos/batch/", {**generate_data(prompt=None), "prompts": lines}).content.decode()
    assert "These 7 videos cost 70 credits and you have 50. Nothing was started." in html
    assert "Start all · <span data-cost>70</span> credits" in html
    assert balance_of(alice.pk) == 50 == ledger_sum_of(alice.pk) and not Job.objects.filter(user=alice).exists()


def test_batch_total_is_priced_at_the_chosen_resolution(alice_client, alice, sim):
    """Five fast videos fit 50 credits at 720p, not at 1080p: the batch is
    checked whole at the price each line will be charged."""
    from billing.models import Price

    each = Price.objects.get(model="veo3_fast", resolution="1080p").credits
    assert each * 5 > 50 >= Price.objects.get(model="veo3_fast", resolution="720p").credits * 5
    lines = "\n".join(f"Clip number {i}" for i in range(5))
    data = {**generate_data(prompt=None), "resolution": "1080p", "prompts": lines}
    html = alice_client.post("/videos/batch/", data).content.decode()
    assert f"These 5 videos cost {each * 5} credits and you have 50. Nothing was started." in html
    assert f"<span data-cost>{each * 5}</span>" in html
    assert balance_of(alice.pk) == 50 == ledger_sum_of(alice.pk) and not Job.objects.filter(user=alice).exists()


def test_batch_beyond_slots_waits_in_the_queue(live, alice_client, alice, sim, settings):
    settings.USER_RUNNING_SLOTS = 2
    sim.config(delay=2.0)  # long enough that no slot frees while the batch is still being taken
    lines = "\n".join(f"Clip {i}" for i in range(4))
    alice_client.post("/videos/batch/", {**generate_data(prompt=None), "prompts": lines})
    jobs = list(Job.objects.filter(user=alice).order_by("id"))
    assert sum(1 for j in jobs if j.dispatched_at is None) == 2
    for job in jobs:
        settled(job, timeout=20)


def test_batch_refuses_empty_and_too_many(alice_client):
    assert "at least one prompt" in alice_client.post("/videos/batch/", {"prompts": "\n \n"}).content.decode()
    lines = "\n".join(f"p{i}" for i in range(21))
    assert "At most 20 prompts" in alice_client.post("/videos/batch/", {"prompts": lines}).content.decode()


def test_tick_with_nothing_to_do_sends_nothing(db, sim):
    counts = tasks.tick()
    assert set(counts.values()) == {0} and sim.stats()["calls"] == {}


def test_old_send_permits_are_pruned(db):
    from videos.models import SendPermit

    SendPermit.objects.create(created_at=timezone.now() - timedelta(hours=1))
    SendPermit.objects.create(created_at=timezone.now())
    tasks.tick()
    assert SendPermit.objects.count() == 1

"""The whole Veo 3.1 offer end to end against the simulator: Lite and
resolution priced from the operator's table, extend, and the provider as
the final authority (deadline, ambiguous and filtered answers)."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import LedgerEntry, Price
from billing.selectors import balance_of
from kiesim.process import SimulatorProcess
from videos import services
from videos.kie import KieClient, parse_callback, parse_status
from videos.models import Job, ProviderCall, Upgrade

from .conftest import generate_data, submit, wait_for
from .helpers import job_after, settled

S = Job.Status


def provider_finishes():
    """Let the simulator's tasks (0.3 s each) finish."""
    time.sleep(0.5)


def refunds(reference: str) -> int:
    return LedgerEntry.objects.filter(kind="refund", reference=reference).count()


# --- models, resolution, prices ---------------------------------------------


def test_price_table_is_seeded_from_the_provider_list(db):
    grid = {(p.model, p.resolution): p.provider_credits for p in Price.objects.exclude(model="")}
    assert grid == {
        ("veo3_lite", "720p"): 30,
        ("veo3_lite", "1080p"): 35,
        ("veo3_lite", "4k"): 150,
        ("veo3_fast", "720p"): 60,
        ("veo3_fast", "1080p"): 65,
        ("veo3_fast", "4k"): 180,
        ("veo3", "720p"): 250,
        ("veo3", "1080p"): 255,
        ("veo3", "4k"): 370,
    }
    # User credits keep the first round's ratio (Fast: 10 credits for 60).
    for price in Price.objects.exclude(model=""):
        assert abs(price.provider_credits / price.credits - 6) < 1.0
        assert price.cost_usd == price.provider_credits * Decimal("0.005")


def test_form_shows_the_price_grid_before_submitting(alice_client):
    page = alice_client.get("/videos/new/").content.decode()
    assert 'name="resolution"' in page and 'value="720p" selected' in page
    assert 'data-price-model="veo3_lite" data-price-resolution="4k" data-credits="25"' in page
    assert 'data-price-model="veo3" data-price-resolution="1080p" data-credits="42"' in page
    assert 'value="veo3_lite"' in page


@pytest.mark.parametrize(
    "model, resolution, credits, provider",
    [
        ("veo3_lite", "720p", 5, 30),
        ("veo3_lite", "4k", 25, 150),
        ("veo3_fast", "1080p", 11, 65),
        ("veo3", "4k", 62, 370),
    ],
)
def test_model_and_resolution_are_sent_and_priced(live, sim, alice_client, alice, model, resolution, credits, provider):
    Price.objects.filter(model="veo3").update(credits=12)  # the operator made Quality cheap for this test
    credits = 12 if model == "veo3" else credits
    job = settled(job_after(submit(alice_client, model=model, resolution=resolution)))
    assert (job.model, job.resolution, job.price_credits, job.provider_credits) == (
        model,
        resolution,
        credits,
        provider,
    )
    body = sim.task(job.task_id)["body"]
    assert (body["model"], body["resolution"]) == (model, resolution)
    assert job.result_resolution == resolution
    assert balance_of(alice.pk) == 50 - credits
    assert "resolution" in alice_client.get(f"/videos/{job.pk}/").content.decode().lower()


def test_price_is_frozen_on_the_job(live, sim, alice_client, alice):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client, prompt="slow [sim:delay=1000]", resolution="1080p"))
    Price.objects.filter(model="veo3_fast", resolution="1080p").update(credits=30)  # operator edits afterwards
    job.refresh_from_db()
    assert job.price_credits == 11
    services.job_fail(job.pk, reason="test")
    assert balance_of(alice.pk) == 50  # refunded what was charged, not today's price


def test_resolution_is_optional_and_defaults_to_720p(live, sim, alice_client):
    data = generate_data()
    data.pop("resolution", None)
    job = settled(job_after(alice_client.post("/videos/new/", data)))
    assert job.resolution == "720p" and job.price_credits == 10


def test_bad_resolution_is_a_form_error(alice_client, alice, sim):
    response = submit(alice_client, resolution="8k")
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert Job.objects.count() == 0 and balance_of(alice.pk) == 50


def test_reference_images_need_fast_or_lite(alice_client, alice, sim, image_host):
    response = submit(
        alice_client, generation_type="REFERENCE_2_VIDEO", model="veo3", image_url_1=f"{image_host.url}/a.png"
    )
    assert response.status_code == 400 and "Fast and Lite" in response.content.decode()


# --- extend -------------------------------------------------------------------


def extend(client, job: Job, **data):
    return client.post(f"/videos/{job.pk}/extend/", {"prompt": "The boat sails out to sea", **data})


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_extend_makes_a_new_job_with_the_whole_longer_video(live, sim, alice_client, alice, shape):
    sim.config(callback_shape=shape)
    original = settled(job_after(submit(alice_client)))
    response = extend(alice_client, original, seed="23456", model="veo3_lite")
    extension = job_after(response)
    assert response.url == f"/videos/{extension.pk}/"
    extension = settled(extension)
    assert extension.parent_id == original.pk and extension.price_credits == 5
    assert balance_of(alice.pk) == 50 - 10 - 5
    body = sim.task(extension.task_id)["body"]
    assert (body["taskId"], body["model"], body["seeds"], body["prompt"]) == (
        original.task_id,
        "veo3_lite",  # the simulator stores the model it resolved from "lite"
        23456,
        "The boat sails out to sea",
    )
    # The stored file is the whole, extended video, longer than the original.
    assert extension.provider_video_url.endswith("-full.mp4")
    assert extension.video_bytes > original.video_bytes
    endpoints = list(ProviderCall.objects.filter(job=extension).values_list("endpoint", flat=True))
    assert endpoints == ["POST /api/v1/veo/extend", f"callback ({shape})"]
    # The chain: the original's page lists the extension, the extension's names the original.
    page = alice_client.get(f"/videos/{original.pk}/").content.decode()
    assert f'data-extension="{extension.pk}"' in page
    page = alice_client.get(f"/videos/{extension.pk}/").content.decode()
    assert f'href="/videos/{original.pk}/"' in page and "data-chain" in page
    gallery = alice_client.get("/videos/").content.decode()
    assert f'data-extends="{original.pk}"' in gallery


def test_extension_with_lost_callback_is_settled_by_the_poll(live, sim, alice_client, alice):
    original = settled(job_after(submit(alice_client)))
    extension = job_after(extend(alice_client, original, prompt="More [sim:nocallback]"))
    extension.refresh_from_db()
    assert extension.status == S.SUBMITTED
    provider_finishes()
    services.jobs_tick(now=extension.next_poll_at + timedelta(seconds=1))
    extension = settled(extension)
    assert extension.provider_video_url.endswith("-full.mp4") and refunds(extension.charge_reference) == 0


def test_duplicate_extension_callbacks_settle_once(live, sim, alice_client, alice):
    sim.config(duplicate_callbacks=2)
    original = settled(job_after(submit(alice_client)))
    extension = settled(job_after(extend(alice_client, original)))
    wait_for(lambda: sim.stats()["inflight"] == 0)
    assert sim.task(extension.task_id)["callbacks_sent"] == 3
    assert LedgerEntry.objects.filter(reference=extension.charge_reference).count() == 1


def test_failed_extension_is_refunded_once(live, sim, alice_client, alice):
    sim.config(duplicate_callbacks=1)
    original = settled(job_after(submit(alice_client)))
    extension = settled(job_after(extend(alice_client, original, prompt="Next [sim:fail]")), S.FAILED)
    wait_for(lambda: sim.stats()["inflight"] == 0)
    assert refunds(extension.charge_reference) == 1 and balance_of(alice.pk) == 40


def test_extending_a_1080p_video_is_refused_before_any_charge(live, sim, alice_client, alice):
    sim.config(hd_delay=0)
    original = settled(job_after(submit(alice_client)))
    upgrade = services.upgrade_request(job=original)
    assert wait_for(lambda: Upgrade.objects.filter(pk=upgrade.pk, status="succeeded").first(), timeout=20)
    response = extend(alice_client, original)
    assert response.status_code == 302 and response.url == f"/videos/{original.pk}/"
    page = alice_client.get(response.url).content.decode()
    assert "upgraded to 1080p" in page
    assert Job.objects.count() == 1 and balance_of(alice.pk) == 38 and sim.calls("extend") == 0


def test_extend_refusals(live, sim, alice_client, bob_client, alice):
    sim.config(callbacks=False)
    running = job_after(submit(alice_client, prompt="slow [sim:delay=1000]"))
    assert extend(alice_client, running).status_code == 302
    assert Job.objects.count() == 1  # not finished: refused
    Job.objects.filter(pk=running.pk).update(status=S.SUCCEEDED)
    assert bob_client.post(f"/videos/{running.pk}/extend/", {"prompt": "x"}).status_code == 404
    assert alice_client.get(f"/videos/{running.pk}/extend/").status_code == 405
    assert extend(alice_client, running, prompt="").status_code == 302
    assert extend(alice_client, running, seed="5").status_code == 302
    assert extend(alice_client, running, model="veo9").status_code == 302
    assert Job.objects.count() == 1 and balance_of(alice.pk) == 40 and sim.calls("extend") == 0


# --- the provider is the final authority ---------------------------------------


def test_job_past_its_deadline_that_the_provider_made_is_delivered(live, sim, alice_client, alice):
    """No callback came and no poll caught it: at the deadline record-info
    says it succeeded, so it is delivered, not refunded."""
    job = job_after(submit(alice_client, prompt="Quiet [sim:nocallback]"))
    provider_finishes()
    Job.objects.filter(pk=job.pk).update(next_poll_at=None)  # its polls were lost too
    job.refresh_from_db()
    counts = services.jobs_tick(now=job.deadline_at + timedelta(seconds=1))
    assert counts["expired"] == 1
    job = settled(job)
    assert refunds(job.charge_reference) == 0 and balance_of(alice.pk) == 40
    assert sim.calls("record-info") == 1
    # A second tick asks nothing more.
    services.jobs_tick(now=job.deadline_at + timedelta(minutes=5))
    assert sim.calls("record-info") == 1


def test_ambiguous_failure_callback_asks_record_info_first(live, sim, alice_client, alice):
    job = settled(job_after(submit(alice_client, prompt="Boat [sim:claim=500]")))
    assert refunds(job.charge_reference) == 0 and sim.calls("record-info") == 1


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_code_408_fails_and_refunds_once(live, sim, alice_client, alice, shape):
    sim.config(callback_shape=shape, duplicate_callbacks=1)
    job = settled(job_after(submit(alice_client, prompt="Boat [sim:fail=408]")), S.FAILED)
    wait_for(lambda: sim.stats()["inflight"] == 0)
    assert refunds(job.charge_reference) == 1 and balance_of(alice.pk) == 50
    assert sim.calls("record-info") >= 1  # 408 is not the last word: the authority was asked


def test_filtered_success_is_a_failure_with_refund(live, sim, alice_client, alice, settings):
    settings.KIE_EMPTY_RESULT_GRACE_SECONDS = 0
    job = job_after(submit(alice_client, prompt="Boat [sim:filtered]"))
    job.refresh_from_db()
    wait_for(
        lambda: Job.objects.filter(pk=job.pk, empty_result_since__isnull=False).exists()
        or Job.objects.filter(pk=job.pk, status=S.FAILED).exists()
    )
    job.refresh_from_db()
    if job.status != S.FAILED:
        services.jobs_tick(now=job.next_poll_at + timedelta(seconds=1))
    job = settled(job, S.FAILED)
    assert "safety filter" in job.error_message
    assert refunds(job.charge_reference) == 1 and balance_of(alice.pk) == 50


def test_filtered_success_waits_out_its_grace(live, sim, alice_client, alice, settings):
    settings.KIE_EMPTY_RESULT_GRACE_SECONDS = 3600
    job = job_after(submit(alice_client, prompt="Boat [sim:filtered]"))
    wait_for(lambda: Job.objects.filter(pk=job.pk, empty_result_since__isnull=False).exists())
    job.refresh_from_db()
    assert job.status == S.SUBMITTED  # URLs have been seen to come late: not yet a failure
    counts = services.jobs_tick(now=job.deadline_at + timedelta(seconds=1))
    assert counts["expired"] == 1
    job = settled(job, S.FAILED)
    assert "safety filter" in job.error_message and refunds(job.charge_reference) == 1


def test_credits_consumed_is_kept(live, sim, alice_client):
    job = settled(job_after(submit(alice_client, model="veo3_lite", resolution="1080p")))
    assert job.credits_consumed == Decimal("35.00")


# --- every shape -------------------------------------------------------------------


def test_bracketed_non_json_result_urls():
    body = {"code": 200, "data": {"taskId": "t1", "info": {"resultUrls": "[http://example.com/video1.mp4]"}}}
    assert parse_callback(body).video_urls == ("http://example.com/video1.mp4",)
    two = parse_status(
        {"taskId": "t1", "successFlag": 1, "response": {"resultUrls": "[https://a/1.mp4, https://a/2.mp4]"}},
        task_id="t1",
    )
    assert two.video_urls == ("https://a/1.mp4", "https://a/2.mp4")


def test_full_result_urls_win_and_credits_consumed_is_read():
    data = {
        "taskId": "t1",
        "successFlag": 1,
        "creditsConsumed": 62.5,
        "response": {"resultUrls": ["https://a/part.mp4"], "fullResultUrls": ["https://a/whole.mp4"]},
    }
    result = parse_status(data, task_id="t1")
    assert result.video_url == "https://a/whole.mp4" and result.credits_consumed == Decimal("62.50")


def test_success_without_a_video_is_marked_empty():
    assert parse_callback({"code": 200, "data": {"taskId": "t1", "info": {"resultUrls": []}}}).empty_success
    result = parse_status({"taskId": "t1", "successFlag": 1, "response": {"resultUrls": None}}, task_id="t1")
    assert result.state == "pending" and result.empty_success


def test_fractional_credit_balance():
    # A simulator of its own: the shared one's balance moves with any generate
    # still arriving from an earlier test.
    own = SimulatorProcess("--delay", "0.3")
    try:
        own.config(credits=5916)
        assert KieClient(base_url=own.url, api_key="k").credits() == 5916
    finally:
        own.stop()
    from videos.kie import _decimal

    assert int(_decimal(5916.25)) == 5916 and int(_decimal("5916.25")) == 5916 and _decimal(True) is None


def test_reconciliation_shows_expected_against_stated_cost(live, sim, alice_client, admin_client):
    Price.objects.filter(model="veo3_fast", resolution="720p").update(provider_credits=50)  # our table is stale
    job = settled(job_after(submit(alice_client)))
    assert (job.provider_credits, job.credits_consumed) == (50, Decimal("60.00"))
    page = admin_client.get("/admin/billing/providerbalance/reconciliation/").content.decode()
    assert "data-mismatches" in page and f"video #{job.pk}" in page
    assert "<td>50</td><td>60.00</td>" in page

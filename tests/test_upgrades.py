"""1080p and 4K versions of finished videos as derived work, end to end
against the simulator: the 4K request with its own callback URL (both
shapes, duplicates, lost callbacks, failures), its safety checks spaced by
the retry policy, and the provider as the final authority at the deadline."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_sum_of
from videos import services
from videos.models import Job, ProviderCall, Upgrade

from .conftest import submit, wait_for
from .helpers import job_after, settled

S = Job.Status


def upgrade_of(client, job: Job, quality: str = "4k") -> Upgrade:
    response = client.post(f"/videos/{job.pk}/upgrade/", {"quality": quality})
    assert response.status_code == 302 and response.url == f"/videos/{job.pk}/"
    return job.upgrades.get(kind=quality)


def finished(upgrade: Upgrade, status: str = "succeeded", timeout: float = 10) -> Upgrade:
    return wait_for(lambda: Upgrade.objects.filter(pk=upgrade.pk, status=status).first(), timeout=timeout)


def charges(upgrade: Upgrade) -> tuple[int, int]:
    entries = LedgerEntry.objects.filter(reference=upgrade.reference)
    return entries.filter(kind="charge").count(), entries.filter(kind="refund").count()


def quiet(sim):
    """Callbacks already on the wire have arrived."""
    wait_for(lambda: sim.stats()["inflight"] == 0, timeout=15)
    time.sleep(0.2)


@pytest.fixture
def fast_4k(sim):
    sim.config(uhd_delay=0.3)
    return sim


@pytest.mark.parametrize("shape, aspect", [("nested", "16:9"), ("flat", "9:16")])
def test_4k_with_its_callback_costs_one_request_and_no_status_read(live, fast_4k, alice_client, alice, shape, aspect):
    sim = fast_4k
    sim.config(callback_shape=shape)
    job = settled(job_after(submit(alice_client, aspect_ratio=aspect)))
    upgrade = finished(upgrade_of(alice_client, job))
    assert upgrade.price_credits == 20 and balance_of(alice.pk) == 50 - 10 - 20 == ledger_sum_of(alice.pk)
    assert charges(upgrade) == (1, 0)
    assert upgrade.callback_token and upgrade.task_id != job.task_id  # its own 4K task
    assert sim.task(job.task_id)["body"]["aspectRatio"] == aspect
    # The request, then its callback: no status read at all.
    assert sim.calls("get-4k-video") == 1 and sim.calls("record-info") == 0
    endpoints = list(ProviderCall.objects.filter(job=job).values_list("endpoint", flat=True))
    assert endpoints[-2:] == ["POST /api/v1/veo/get-4k-video", f"callback 4k ({shape})"]
    # Stored and served like the original, offered beside it.
    video = b"".join(alice_client.get(f"/videos/{job.pk}/file?quality=4k").streaming_content)
    assert video[4:8] == b"ftyp" and len(video) == upgrade.file.size
    page = alice_client.get(f"/videos/{job.pk}/").content.decode()
    assert 'data-download="4k"' in page and "?quality=4k" in page


def test_duplicate_4k_callbacks_store_once(live, fast_4k, alice_client, alice):
    fast_4k.config(duplicate_callbacks=2)
    job = settled(job_after(submit(alice_client)))
    upgrade = finished(upgrade_of(alice_client, job))
    quiet(fast_4k)
    assert charges(upgrade) == (1, 0) and fast_4k.calls("get-4k-video") == 1
    assert ProviderCall.objects.filter(job=job, endpoint__startswith="callback 4k").count() == 1  # the rest: no-ops


def test_lost_4k_callback_is_found_by_one_status_read(live, fast_4k, alice_client, alice):
    job = settled(job_after(submit(alice_client, prompt="A boat [sim:uhdnocallback]")))
    upgrade = upgrade_of(alice_client, job)
    upgrade.refresh_from_db()
    assert upgrade.status == "pending" and upgrade.requested_at
    # The safety check is due well after the request, not at once.
    assert upgrade.next_attempt_at - upgrade.requested_at >= timedelta(seconds=30)
    time.sleep(0.5)  # the provider made it meanwhile
    Upgrade.objects.filter(pk=upgrade.pk).update(next_attempt_at=timezone.now())  # time passes
    services.jobs_tick()
    upgrade = finished(upgrade)
    assert fast_4k.calls("get-4k-video") == 2  # the request and one status read
    assert charges(upgrade) == (1, 0) and balance_of(alice.pk) == 20


def test_4k_still_processing_is_asked_again_no_sooner_than_30_s(live, sim, alice_client, alice, settings):
    settings.UHD_RETRY_SECONDS = 1  # an operator's too-eager setting: the policy keeps 30 s
    sim.config(uhd_delay=1000)
    job = settled(job_after(submit(alice_client, prompt="A boat [sim:uhdnocallback]")))
    upgrade = upgrade_of(alice_client, job)
    for _ in range(2):
        Upgrade.objects.filter(pk=upgrade.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        services.jobs_tick()
        upgrade.refresh_from_db()
        assert upgrade.status == "pending" and upgrade.next_attempt_at - before >= timedelta(seconds=29)
    assert sim.calls("get-4k-video") == 3
    assert ProviderCall.objects.filter(job=job, code=422).count() == 2  # "4k is processing"


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_failed_4k_is_refunded_once(live, fast_4k, alice_client, alice, shape):
    fast_4k.config(callback_shape=shape, duplicate_callbacks=2)
    job = settled(job_after(submit(alice_client, prompt="A boat [sim:uhdfail]")))
    upgrade = finished(upgrade_of(alice_client, job), "failed")
    quiet(fast_4k)
    assert charges(upgrade) == (1, 1) and balance_of(alice.pk) == 40 == ledger_sum_of(alice.pk)
    assert "unavailable" in upgrade.error
    # The failure callback was checked with the provider once before the refund.
    assert fast_4k.calls("get-4k-video") == 2
    page = alice_client.get(f"/videos/{job.pk}/").content.decode()
    assert 'data-upgrade-error="4k"' in page and "credits were returned" in page


def test_4k_past_its_deadline_that_the_provider_made_is_delivered(live, fast_4k, alice_client, alice):
    job = settled(job_after(submit(alice_client, prompt="A boat [sim:uhdnocallback]")))
    upgrade = upgrade_of(alice_client, job)
    time.sleep(0.5)
    Upgrade.objects.filter(pk=upgrade.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1), next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert services.jobs_tick()["expired"] == 1
    upgrade = finished(upgrade)
    assert charges(upgrade) == (1, 0) and fast_4k.calls("record-info") == 1  # its own task, asked once
    assert services.jobs_tick()["expired"] == 0


def test_4k_past_its_deadline_not_made_is_refunded_once(live, sim, alice_client, alice):
    sim.config(uhd_delay=1000)
    job = settled(job_after(submit(alice_client, prompt="A boat [sim:uhdnocallback]")))
    upgrade = upgrade_of(alice_client, job)
    Upgrade.objects.filter(pk=upgrade.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    services.jobs_tick()
    upgrade = finished(upgrade, "failed")
    assert "too long" in upgrade.error and charges(upgrade) == (1, 1)
    services.jobs_tick(now=timezone.now() + timedelta(minutes=5))
    assert charges(upgrade) == (1, 1) and balance_of(alice.pk) == 40


def test_upgrade_callback_refuses_bad_input(live, sim, alice_client, client):
    sim.config(uhd_delay=1000)
    job = settled(job_after(submit(alice_client)))
    upgrade = upgrade_of(alice_client, job)
    upgrade.refresh_from_db()
    url = f"/hooks/kie/upgrade/{upgrade.callback_token}/"
    assert client.post("/hooks/kie/upgrade/nope/", {}, content_type="application/json").status_code == 404
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    assert client.post(url, {"code": 200}, content_type="application/json").status_code == 400
    other = {"code": 200, "data": {"taskId": "f" * 32, "info": {"resultUrls": ["http://127.0.0.1/x.mp4"]}}}
    assert client.post(url, other, content_type="application/json").status_code == 409
    assert client.get(url).status_code == 405
    upgrade.refresh_from_db()
    assert upgrade.status == "pending" and not upgrade.result_url


def test_upgrade_quality_is_checked(live, sim, alice_client, alice, bob_client):
    job = settled(job_after(submit(alice_client)))
    response = alice_client.post(f"/videos/{job.pk}/upgrade/", {"quality": "8k"})
    assert response.status_code == 302 and not job.upgrades.exists() and balance_of(alice.pk) == 40
    assert bob_client.post(f"/videos/{job.pk}/upgrade/", {"quality": "4k"}).status_code == 404
    sim.config(uhd_delay=1000)
    upgrade_of(alice_client, job)
    alice_client.post(f"/videos/{job.pk}/upgrade/", {"quality": "4k"})  # again while pending: refused
    assert job.upgrades.count() == 1 and balance_of(alice.pk) == 20


def test_upgrade_callback_tokens_are_redacted_from_logs():
    from videos.logfilters import redact

    line = "Not Found: /hooks/kie/upgrade/SECRETtoken123/ and /hooks/kie/JOBtoken456/"
    assert "SECRET" not in redact(line) and "JOBtoken" not in redact(line)
    assert "/hooks/kie/upgrade/<redacted>/" in redact(line)

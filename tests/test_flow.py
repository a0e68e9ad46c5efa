"""The whole flow against the running simulator: submit, callback or poll,
own storage, refunds. The app runs on a live server that the simulator
calls back over loopback; background tasks run inline (Q_SYNC)."""

import base64
import hashlib
import hmac
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from billing.selectors import balance_of, ledger_sum_of
from videos import services
from videos.models import Job, ProviderCall

from .conftest import generate_data, png_bytes, png_upload, submit, wait_for
from .helpers import job_after, refunds, settled

SAMPLE = (Path(__file__).resolve().parent.parent / "kiesim" / "sample.mp4").read_bytes()
S = Job.Status


def test_text_to_video_end_to_end(live, sim, alice_client, alice):
    response = submit(alice_client, seed="12345", watermark="ACME", aspect_ratio="9:16")
    job = job_after(response)
    assert response.url == f"/videos/{job.pk}/"
    assert balance_of(alice.pk) == 40
    job = settled(job)
    assert job.task_id and job.video_bytes == job.video_file.size > 0 and len(job.video_sha256) == 64
    body = sim.task(job.task_id)["body"]
    assert body["callBackUrl"] == f"{live.url}/hooks/kie/{job.callback_token}/"
    assert (body["seeds"], body["watermark"], body["aspect_ratio"], body["enableTranslation"]) == (
        12345,
        "ACME",
        "9:16",
        True,
    )
    status = alice_client.get(f"/videos/{job.pk}/status.json").json()
    assert status == {
        "id": job.pk,
        "status": "succeeded",
        "status_label": "Ready",
        "progress": 100,
        "video_url": f"/videos/{job.pk}/file",
        "error": None,
        "poster_url": f"/videos/{job.pk}/poster.jpg" if job.poster else None,
    }
    video = b"".join(alice_client.get(f"/videos/{job.pk}/file").streaming_content)
    assert video[4:8] == b"ftyp" and hashlib.sha256(video).hexdigest() == job.video_sha256
    assert balance_of(alice.pk) == 40 == ledger_sum_of(alice.pk)
    assert refunds(job) == 0
    endpoints = list(ProviderCall.objects.filter(job=job).values_list("endpoint", flat=True))
    assert endpoints == ["POST /api/v1/veo/generate", "callback (nested)"]
    assert sim.calls("record-info") == 0  # the callback made polling unnecessary


def test_first_and_last_frames_with_upload_and_link(live, sim, alice_client, image_host):
    data = generate_data(generation_type="FIRST_AND_LAST_FRAMES_2_VIDEO", image_url_2=f"{image_host.url}/b.jpg")
    data["image_1"] = png_upload("first.png")
    job = settled(job_after(alice_client.post("/videos/new/", data)))
    first, last = sim.task(job.task_id)["body"]["imageUrls"]
    assert last == f"{image_host.url}/b.jpg"
    assert first.startswith(f"{live.url}/videos/inputs/")
    # The provider fetches the upload without logging in, at an unguessable URL.
    fetched = requests.get(first, timeout=5)
    assert (
        fetched.status_code == 200 and fetched.content == png_bytes() and fetched.headers["Content-Type"] == "image/png"
    )
    assert requests.get(f"{live.url}/videos/inputs/not-a-real-token", timeout=5).status_code == 404


def test_reference_images(live, sim, alice_client, image_host):
    data = generate_data(
        generation_type="REFERENCE_2_VIDEO",
        image_url_2=f"{image_host.url}/b.jpg",
        image_url_3=f"{image_host.url}/c.png",
    )
    data["image_1"] = png_upload()
    job = settled(job_after(alice_client.post("/videos/new/", data)))
    body = sim.task(job.task_id)["body"]
    assert body["generationType"] == "REFERENCE_2_VIDEO" and len(body["imageUrls"]) == 3


def test_quality_model_charges_its_price(live, sim, alice_client, alice):
    job = settled(job_after(submit(alice_client, model="veo3")))
    assert job.price_credits == 40 and balance_of(alice.pk) == 10


def test_flat_callback_shape(live, sim, alice_client):
    sim.config(callback_shape="flat")
    job = settled(job_after(submit(alice_client)))
    assert ProviderCall.objects.filter(job=job, endpoint="callback (flat)").exists()


def test_failed_generation_is_refunded_once_despite_duplicate_callbacks(live, sim, alice_client, alice):
    sim.config(outcome="fail", duplicate_callbacks=2)
    job = settled(job_after(submit(alice_client)), S.FAILED)
    wait_for(lambda: sim.calls("callback") == 3)
    assert refunds(job) == 1
    assert balance_of(alice.pk) == 50 == ledger_sum_of(alice.pk)
    page = alice_client.get(f"/videos/{job.pk}/").content.decode()
    assert "The generation failed (simulated)." in page and "10 credits were returned" in page


def test_duplicate_success_callbacks_store_one_file(live, sim, alice_client, alice, settings):
    folder = Path(settings.MEDIA_ROOT) / "videos" / str(alice.pk)
    # User ids repeat across tests that flush the database: count only new files.
    before = set(folder.iterdir()) if folder.exists() else set()
    sim.config(duplicate_callbacks=3)
    job = settled(job_after(submit(alice_client)))
    wait_for(lambda: sim.calls("callback") == 4)
    time.sleep(0.2)
    assert sim.calls("file") == 1
    stored = set(folder.iterdir()) - before
    assert len(stored) == 1 and job.video_file.name.rsplit("/", 1)[-1] in {p.name for p in stored}


def test_lost_callback_is_finished_by_the_poller(live, sim, alice_client):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    assert job.status == S.SUBMITTED and job.next_poll_at > timezone.now()
    time.sleep(0.4)
    assert services.jobs_tick()["polled"] == 0  # not before the model's typical duration
    assert sim.calls("record-info") == 0
    counts = services.jobs_tick(now=job.next_poll_at + timedelta(seconds=1))
    assert counts["polled"] == 1
    job = settled(job)
    assert sim.calls("record-info") == 1 and sim.calls("generate") == 1


def test_job_past_its_deadline_is_failed_and_refunded(live, sim, alice_client, alice, settings):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client, prompt="A very slow video [sim:delay=1000]"))
    job.refresh_from_db()
    counts = services.jobs_tick(now=job.deadline_at + timedelta(seconds=1))
    assert counts["expired"] == 1
    job.refresh_from_db()
    assert job.status == S.FAILED and "took too long" in job.error_message
    assert refunds(job) == 1 and balance_of(alice.pk) == 50


@pytest.mark.parametrize(
    "code, message",
    [
        (422, "could not accept this request"),
        (402, "unavailable right now"),
        (501, "Generation failed"),
        (401, "unavailable right now"),
    ],
)
def test_provider_refusal_fails_the_job_and_refunds(live, sim, alice_client, alice, code, message):
    job = job_after(submit(alice_client, prompt=f"A test [sim:error={code}]"))
    job.refresh_from_db()
    assert job.status == S.FAILED and message in job.error_message
    assert refunds(job) == 1 and balance_of(alice.pk) == 50
    assert ProviderCall.objects.get(job=job).code == code


def test_transient_provider_error_is_retried(live, sim, alice_client, alice):
    sim.config(generate_error=500, generate_error_times=1)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    assert job.status == S.QUEUED and job.next_attempt_at > timezone.now()
    assert services.jobs_tick()["requeued"] == 0  # not before its retry time
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # time passes
    assert services.jobs_tick()["requeued"] == 1
    job = settled(job)
    assert sim.calls("generate") == 2 and job.attempts == 1  # download attempts start afresh
    assert balance_of(alice.pk) == 40 and refunds(job) == 0


def test_lost_generate_answer_is_not_resent(live, sim, alice_client, settings):
    """A read timeout may hide a task the provider did start: the job waits
    for that task's callback instead of paying for a second generation."""
    settings.KIE_READ_TIMEOUT = 0.3
    sim.config(latency=0.8)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    assert job.status == S.SUBMITTED and job.task_id is None
    job = settled(job)
    assert job.task_id and sim.calls("generate") == 1


def test_worker_that_died_mid_submit_leaves_no_stuck_job(live, sim, alice, settings):
    now = timezone.now()
    job = Job.objects.create(
        user=alice, prompt="p", price_credits=10, status=S.SUBMITTING, lease_until=now - timedelta(seconds=1)
    )
    from billing.services import credits_charge

    credits_charge(user_id=alice.pk, amount=10, reference=job.charge_reference, reason="video")
    assert services.jobs_tick()["stale"] == 1
    job.refresh_from_db()
    assert job.status == S.SUBMITTED
    services.jobs_tick(now=job.deadline_at + timedelta(seconds=1))
    job.refresh_from_db()
    assert job.status == S.FAILED and refunds(job) == 1 and balance_of(alice.pk) == 50


def test_queued_job_that_missed_its_dispatch_is_dispatched_by_the_tick(live, sim, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10)
    from billing.services import credits_charge

    credits_charge(user_id=alice.pk, amount=10, reference=job.charge_reference, reason="video")
    assert services.jobs_tick()["dispatched"] == 1
    settled(job)


def test_lost_submit_task_is_enqueued_again(live, sim, alice):
    old = timezone.now() - timedelta(minutes=5)
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, dispatched_at=old, enqueued_at=old)
    from billing.services import credits_charge

    credits_charge(user_id=alice.pk, amount=10, reference=job.charge_reference, reason="video")
    assert services.jobs_tick()["requeued"] == 1
    settled(job)


# --- the callback endpoint ------------------------------------------------------


def post_callback(live, token: str, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{live.url}/hooks/kie/{token}/",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=5,
    )


def nested_ok(task_id: str, url: str) -> dict:
    return {"code": 200, "msg": "ok", "data": {"taskId": task_id, "info": {"resultUrls": [url]}}}


def test_callback_replay_after_success_changes_nothing(live, sim, alice_client, alice):
    job = settled(job_after(submit(alice_client)))
    failure = {"code": 501, "msg": "late failure", "data": {"taskId": job.task_id}}
    response = post_callback(live, job.callback_token, failure)
    assert response.status_code == 200 and response.json() == {"ok": True, "changed": False}
    job.refresh_from_db()
    assert job.status == S.SUCCEEDED and refunds(job) == 0 and balance_of(alice.pk) == 40


def test_callback_negatives(live, sim, alice_client):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    token = job.callback_token
    assert post_callback(live, "unknown-token", nested_ok(job.task_id, "https://x/v.mp4")).status_code == 404
    assert requests.get(f"{live.url}/hooks/kie/{token}/", timeout=5).status_code == 405
    bad_json = post_callback(live, token, b"{not json")
    assert bad_json.status_code == 400 and bad_json.json()["error"]
    assert post_callback(live, token, b"\xff\xfe").status_code == 400
    assert post_callback(live, token, {"surprise": True}).status_code == 400
    other = post_callback(live, token, nested_ok("f" * 32, "https://x/v.mp4"))
    assert other.status_code == 409
    job.refresh_from_db()
    assert job.status == S.SUBMITTED  # nothing changed


def test_callback_from_a_disallowed_host_fails_safely(live, sim, alice_client, alice):
    sim.config(callbacks=False)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    response = post_callback(
        live, job.callback_token, nested_ok(job.task_id, "https://169.254.169.254/latest/meta-data")
    )
    assert response.status_code == 200
    job = settled(job, S.FAILED)
    assert "allowlist" in job.error_message and refunds(job) == 1 and balance_of(alice.pk) == 50


def test_callback_that_arrives_before_the_submit_finished(live, sim, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status=S.SUBMITTING)
    task_id = "b" * 32
    response = post_callback(live, job.callback_token, {"code": 501, "msg": "nope", "data": {"taskId": task_id}})
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == S.FAILED and job.task_id == task_id


def sign(key: str, task_id: str, ts: int) -> dict:
    digest = hmac.new(key.encode(), f"{task_id}.{ts}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": str(ts), "X-Webhook-Signature": base64.b64encode(digest).decode()}


def test_signed_callbacks(live, sim, alice_client, settings):
    settings.KIE_WEBHOOK_HMAC_KEY = "hook-secret"
    sim.config(callbacks=False)
    job = job_after(submit(alice_client))
    job.refresh_from_db()
    body = {"code": 501, "msg": "forged", "data": {"taskId": job.task_id}}
    now = int(time.time())
    assert post_callback(live, job.callback_token, body).status_code == 401
    assert post_callback(live, job.callback_token, body, sign("wrong-key", job.task_id, now)).status_code == 401
    assert (
        post_callback(live, job.callback_token, body, sign("hook-secret", job.task_id, now - 3600)).status_code == 401
    )
    assert post_callback(live, job.callback_token, body, sign("hook-secret", "c" * 32, now)).status_code in (401, 409)
    job.refresh_from_db()
    assert job.status == S.SUBMITTED
    # The simulator signs its callbacks with the same key: they are accepted.
    sim.config(callbacks=True, hmac_key="hook-secret")
    settled(job_after(submit(alice_client)))


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_finished_video_gets_a_poster(live, sim, alice_client, bob_client):
    job = settled(job_after(submit(alice_client)))
    assert job.poster
    poster = alice_client.get(f"/videos/{job.pk}/poster.jpg")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    assert b"".join(poster.streaming_content)[:2] == b"\xff\xd8"
    assert f'src="/videos/{job.pk}/poster.jpg"' in alice_client.get("/videos/").content.decode()
    assert bob_client.get(f"/videos/{job.pk}/poster.jpg").status_code == 404


def test_without_ffmpeg_the_gallery_shows_a_placeholder(live, sim, alice_client, monkeypatch):
    from videos import posters

    monkeypatch.setattr(posters, "ffmpeg_path", lambda: None)
    job = settled(job_after(submit(alice_client)))
    assert not job.poster
    assert alice_client.get(f"/videos/{job.pk}/poster.jpg").status_code == 404
    assert "img/placeholder.svg" in alice_client.get("/videos/").content.decode()

"""The JSON API under /api/v1/, driven with `requests` against a live server
and the simulator: tokens, the same rules and money as the pages, errors,
idempotency keys, the schema and its docs page."""

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from api.models import ApiToken, IdempotencyKey
from api.services import token_create
from billing.models import LedgerEntry, Wallet
from billing.selectors import balance_of
from videos.models import Job

from .conftest import wait_for

BODY = {"prompt": "A paper boat drifting down a rainy street, close-up, soft light"}


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def alice_token(alice) -> str:
    return token_create(user=alice, name="test")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return token_create(user=bob, name="test")[1]


def api(live, path: str) -> str:
    return f"{live.url}/api/v1{path}"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


# --- the happy path ----------------------------------------------------------


def test_create_poll_and_fetch_a_video(live, alice, alice_token):
    headers = bearer(alice_token)
    response = requests.post(api(live, "/videos"), json={**BODY, "seed": 12345, "watermark": "me"}, headers=headers)
    assert response.status_code == 201, response.text
    video = response.json()
    assert video["status"] in ("queued", "submitting", "submitted", "downloading", "succeeded")
    assert video["prompt"] == BODY["prompt"] and video["seed"] == 12345 and video["watermark"] == "me"
    assert video["model"] == "veo3_fast" and video["image_urls"] == [] and video["price_credits"] == 10
    assert requests.get(api(live, "/balance"), headers=headers).json() == {"balance": 40}

    def done():
        body = requests.get(api(live, f"/videos/{video['id']}"), headers=headers).json()
        return body if body["status"] == "succeeded" else None

    finished = wait_for(done, timeout=20)
    assert finished["progress"] == 100 and finished["error"] is None
    assert finished["video_url"] == api(live, f"/videos/{video['id']}/file")
    file = requests.get(finished["video_url"], headers=headers)
    assert file.status_code == 200 and file.headers["Content-Type"] == "video/mp4" and file.content[4:8] == b"ftyp"
    part = requests.get(finished["video_url"], headers={**headers, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == file.content[:10]
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_list_is_own_newest_first_and_paginated(live, alice, bob, alice_token):
    for n in range(3):
        Job.objects.create(user=alice, prompt=f"mine {n}", price_credits=10, status="succeeded")
    Job.objects.create(user=bob, prompt="bob's", price_credits=10, status="succeeded")
    first = requests.get(api(live, "/videos?page_size=2"), headers=bearer(alice_token)).json()
    assert [v["prompt"] for v in first["items"]] == ["mine 2", "mine 1"]
    assert first["count"] == 3 and first["pages"] == 2 and first["next"]
    second = requests.get(first["next"], headers=bearer(alice_token)).json()
    assert [v["prompt"] for v in second["items"]] == ["mine 0"] and second["next"] is None
    beyond = requests.get(api(live, "/videos?page=9"), headers=bearer(alice_token)).json()
    assert beyond["items"] == [] and beyond["count"] == 3


def test_another_users_video_is_404(live, alice, bob_token):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded", video_file="videos/x.mp4")
    for path in (f"/videos/{job.pk}", f"/videos/{job.pk}/file", "/videos/999999"):
        assert_error(requests.get(api(live, path), headers=bearer(bob_token)), 404, "not_found")


def test_a_failed_video_is_refunded_like_on_the_pages(live, alice, alice_token):
    response = requests.post(
        api(live, "/videos"), json={"prompt": "A storm at sea [sim:fail]"}, headers=bearer(alice_token)
    )
    assert response.status_code == 201
    video_id = response.json()["id"]

    def failed():
        body = requests.get(api(live, f"/videos/{video_id}"), headers=bearer(alice_token)).json()
        return body if body["status"] == "failed" else None

    assert wait_for(failed, timeout=20)["error"]
    assert balance_of(alice.pk) == 50
    kinds = list(LedgerEntry.objects.filter(reference=f"job:{video_id}").values_list("kind", flat=True))
    assert sorted(kinds) == ["charge", "refund"]


def test_the_api_charges_what_the_form_charges(live, alice, alice_token, alice_client):
    from billing.models import Price

    Price.objects.filter(code="veo3_fast").update(credits=7)
    requests.post(api(live, "/videos"), json=BODY, headers=bearer(alice_token))
    alice_client.post(
        "/videos/new/", {**BODY, "model": "veo3_fast", "generation_type": "TEXT_2_VIDEO", "aspect_ratio": "16:9"}
    )
    charges = list(LedgerEntry.objects.filter(user=alice, kind="charge").values_list("amount", flat=True))
    assert charges == [-7, -7]


def test_prices_and_balance(live, alice_token):
    prices = requests.get(api(live, "/prices"), headers=bearer(alice_token)).json()["prices"]
    assert {"code": "veo3_fast", "label": "Veo 3 Fast", "credits": 10} in prices
    assert requests.get(api(live, "/balance"), headers=bearer(alice_token)).json() == {"balance": 50}


# --- errors --------------------------------------------------------------------


def test_no_bad_or_revoked_token_is_401(live, alice, alice_token):
    assert_error(requests.get(api(live, "/balance")), 401, "unauthorized")
    assert_error(requests.get(api(live, "/balance"), headers=bearer("veo_not-a-token")), 401, "unauthorized")
    assert_error(requests.get(api(live, "/balance"), headers={"Authorization": "Basic eDp5"}), 401, "unauthorized")
    ApiToken.objects.filter(user=alice).update(revoked_at=timezone.now())
    response = requests.post(api(live, "/videos"), json=BODY, headers=bearer(alice_token))
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({**BODY, "seed": 5}, "seed"),
        ({**BODY, "model": "sora"}, "model"),
        ({**BODY, "image_urls": ["https://example.com/a.png"]}, "generation_type"),
        (
            {
                **BODY,
                "generation_type": "REFERENCE_2_VIDEO",
                "model": "veo3",
                "image_urls": ["https://example.com/a.png"],
            },
            "model",
        ),
        (
            {**BODY, "generation_type": "FIRST_AND_LAST_FRAMES_2_VIDEO", "image_urls": ["http://10.0.0.1/a.png"]},
            "image_urls.0",
        ),
        ({**BODY, "image_urls": ["a", "b", "c", "d"]}, "image_urls"),
        ({"prompt": "something nsfw please"}, "prompt"),
        ({**BODY, "watermark": "x" * 101}, "watermark"),
    ],
)
def test_invalid_requests_are_422_with_the_field_and_cost_nothing(live, alice, alice_token, body, field):
    error = assert_error(requests.post(api(live, "/videos"), json=body, headers=bearer(alice_token)), 422, "invalid")
    assert field in [f["field"] for f in error["fields"]], error
    assert balance_of(alice.pk) == 50 and not Job.objects.exists()


def test_malformed_json_is_a_clear_error(live, alice_token):
    response = requests.post(
        api(live, "/videos"), data=b"{not json", headers={**bearer(alice_token), "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422) and response.json()["error"]["code"]


def test_first_and_last_frames_with_links_are_accepted(live, alice, alice_token, image_host):
    # Links are fetched before any charge (videos.imagelinks): a loopback image host.
    body = {
        **BODY,
        "generation_type": "FIRST_AND_LAST_FRAMES_2_VIDEO",
        "image_urls": [f"{image_host.url}/a.png", f"{image_host.url}/b.jpg"],
    }
    response = requests.post(api(live, "/videos"), json=body, headers=bearer(alice_token))
    assert response.status_code == 201, response.text
    assert response.json()["image_urls"] == body["image_urls"]


def test_not_enough_credits_is_402(live, alice, alice_token):
    response = requests.post(api(live, "/videos"), json={**BODY, "model": "veo3"}, headers=bearer(alice_token))
    assert response.status_code == 201
    assert_error(
        requests.post(api(live, "/videos"), json={**BODY, "model": "veo3"}, headers=bearer(alice_token)),
        402,
        "insufficient_credits",
    )
    assert balance_of(alice.pk) == 10


def test_submissions_per_minute_are_429_with_retry_after(live, alice, alice_token, settings):
    settings.USER_SUBMISSIONS_PER_MINUTE = 1
    assert requests.post(api(live, "/videos"), json=BODY, headers=bearer(alice_token)).status_code == 201
    response = requests.post(api(live, "/videos"), json=BODY, headers=bearer(alice_token))
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert Job.objects.count() == 1


def test_daily_cap_is_429(live, alice, alice_token):
    Wallet.objects.filter(user=alice).update(daily_cap=5)
    response = requests.post(api(live, "/videos"), json=BODY, headers=bearer(alice_token))
    assert_error(response, 429, "cap_reached")
    assert int(response.headers["Retry-After"]) > 0


def test_requests_per_minute_are_limited_per_token(live, alice, alice_token, settings):
    settings.API_REQUESTS_PER_MINUTE = 3
    other = token_create(user=alice, name="other")[1]
    for _ in range(3):
        assert requests.get(api(live, "/balance"), headers=bearer(alice_token)).status_code == 200
    response = requests.get(api(live, "/balance"), headers=bearer(alice_token))
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert requests.get(api(live, "/balance"), headers=bearer(other)).status_code == 200  # per token
    ApiToken.objects.filter(user=alice).update(window_started_at=timezone.now() - timedelta(seconds=61))
    assert requests.get(api(live, "/balance"), headers=bearer(alice_token)).status_code == 200  # a new minute


def test_a_read_only_token_cannot_create(live, alice):
    raw = token_create(user=alice, name="ro", read_only=True)[1]
    assert_error(requests.post(api(live, "/videos"), json=BODY, headers=bearer(raw)), 403, "read_only_token")
    assert requests.get(api(live, "/videos"), headers=bearer(raw)).status_code == 200
    assert not Job.objects.exists()


# --- idempotency ---------------------------------------------------------------


def test_the_same_key_and_body_answer_the_first_video_and_charge_once(live, alice, alice_token):
    headers = {**bearer(alice_token), "Idempotency-Key": "order-1"}
    first = requests.post(api(live, "/videos"), json=BODY, headers=headers)
    # The same body in another key order and spacing is the same body.
    again = requests.post(
        api(live, "/videos"),
        data='{ "enable_translation": true,  "prompt": "' + BODY["prompt"] + '" }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1 and balance_of(alice.pk) == 40


def test_the_same_key_with_another_body_is_422(live, alice, alice_token):
    headers = {**bearer(alice_token), "Idempotency-Key": "order-2"}
    assert requests.post(api(live, "/videos"), json=BODY, headers=headers).status_code == 201
    response = requests.post(api(live, "/videos"), json={**BODY, "seed": 12345}, headers=headers)
    assert_error(response, 422, "idempotency_key_reused")
    assert Job.objects.count() == 1


def test_a_key_still_running_is_409(live, alice, alice_token):
    from api.schemas import VideoIn
    from api.services import body_digest

    IdempotencyKey.objects.create(
        user=alice, key="busy", body_sha256=body_digest(VideoIn(**BODY).model_dump(mode="json"))
    )
    response = requests.post(
        api(live, "/videos"), json=BODY, headers={**bearer(alice_token), "Idempotency-Key": "busy"}
    )
    assert_error(response, 409, "idempotency_key_in_progress")
    assert not Job.objects.exists()


def test_a_key_left_running_by_a_dead_process_is_taken_over(live, alice, alice_token):
    from api.schemas import VideoIn
    from api.services import body_digest

    digest = body_digest(VideoIn(**BODY).model_dump(mode="json"))
    row = IdempotencyKey.objects.create(user=alice, key="orphan", body_sha256=digest)
    IdempotencyKey.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=301))
    headers = {**bearer(alice_token), "Idempotency-Key": "orphan"}
    response = requests.post(api(live, "/videos"), json=BODY, headers=headers)
    assert response.status_code == 201
    row.refresh_from_db()
    assert row.state == "done" and row.job_id == response.json()["id"] and balance_of(alice.pk) == 40


def test_keys_are_per_user_and_kept_24_hours(live, alice, bob, alice_token, bob_token):
    key = {"Idempotency-Key": "shared-name"}
    a = requests.post(api(live, "/videos"), json=BODY, headers={**bearer(alice_token), **key}).json()
    b = requests.post(api(live, "/videos"), json=BODY, headers={**bearer(bob_token), **key}).json()
    assert a["id"] != b["id"]
    IdempotencyKey.objects.filter(user=alice).update(created_at=timezone.now() - timedelta(hours=25))
    c = requests.post(api(live, "/videos"), json=BODY, headers={**bearer(alice_token), **key}).json()
    assert c["id"] not in (a["id"], b["id"])


def test_a_refused_request_frees_its_key_and_an_invalid_one_keeps_its_answer(live, alice, alice_token):
    headers = {**bearer(alice_token), "Idempotency-Key": "k3"}
    Wallet.objects.filter(user=alice).update(daily_cap=5)
    assert requests.post(api(live, "/videos"), json=BODY, headers=headers).status_code == 429
    Wallet.objects.filter(user=alice).update(daily_cap=None)
    assert requests.post(api(live, "/videos"), json=BODY, headers=headers).status_code == 201
    bad = {**bearer(alice_token), "Idempotency-Key": "k4"}
    body = {**BODY, "image_urls": ["https://example.com/a.png"]}
    first = requests.post(api(live, "/videos"), json=body, headers=bad)
    second = requests.post(api(live, "/videos"), json=body, headers=bad)
    assert first.status_code == second.status_code == 422 and first.json() == second.json()


def test_an_unusable_key_is_422(live, alice_token):
    headers = {**bearer(alice_token), "Idempotency-Key": "x" * 256}
    assert_error(requests.post(api(live, "/videos"), json=BODY, headers=headers), 422, "invalid")


# --- tokens ----------------------------------------------------------------------


def test_tokens_are_stored_hashed_with_a_visible_prefix(alice):
    token, raw = token_create(user=alice, name="laptop")
    assert raw.startswith("veo_") and len(raw) > 40 and raw.startswith(token.prefix)
    assert raw not in {token.secret_hash, token.prefix} and len(token.secret_hash) == 64


def test_create_api_token_prints_the_token_on_its_last_line(live, alice, capsys):
    call_command("create_api_token", "alice", "--name", "cli")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert requests.get(api(live, "/balance"), headers=bearer(raw)).json() == {"balance": 50}
    assert ApiToken.objects.get(user=alice).name == "cli"


def test_create_api_token_refuses_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", "--name", "cli")


# --- schema and docs -------------------------------------------------------------


def test_openapi_schema_and_docs_page_from_our_own_static_files(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/videos", "/api/v1/videos/{video_id}", "/api/v1/videos/{video_id}/file", "/api/v1/balance"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    html = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("ninja/swagger-ui-bundle.js") and finders.find("ninja/swagger-ui.css")


def test_reading_a_video_costs_few_queries(alice, client, settings, django_assert_num_queries):
    """Token with its user, the per-token count, the video: the API's read
    path stays as cheap as the page's (session, user, video)."""
    raw = token_create(user=alice, name="t")[1]
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded")
    with django_assert_num_queries(3):
        assert client.get(f"/api/v1/videos/{job.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    settings.API_REQUESTS_PER_MINUTE = 0
    with django_assert_num_queries(2):  # last used a moment ago: nothing to write
        assert client.get(f"/api/v1/videos/{job.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_resolution_is_taken_priced_and_echoed_like_on_the_form(live, alice, alice_token):
    from billing.models import Price

    price = Price.objects.get(model="veo3_fast", resolution="1080p")
    response = requests.post(api(live, "/videos"), json={**BODY, "resolution": "1080p"}, headers=bearer(alice_token))
    assert response.status_code == 201, response.text
    assert response.json()["resolution"] == "1080p" and response.json()["price_credits"] == price.credits
    refused = requests.post(api(live, "/videos"), json={**BODY, "resolution": "8k"}, headers=bearer(alice_token))
    assert refused.status_code == 422 and refused.json()["error"]["code"]

"""status.json for open job pages: ETag and 304 always; with a shared cache
(Redis), the owner's checks are answered without reading the session's
user or the job, and never from a stale entry."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from videos import live, versions
from videos.models import Job

from .conftest import make_user

S = Job.Status


def new_job(user, **fields) -> Job:
    values = dict(prompt="A lake", model="veo3_fast", status=S.SUBMITTED, price_credits=10)
    values["submitted_at"] = timezone.now() - timedelta(seconds=30)
    values.update(fields)
    return Job.objects.create(user=user, **values)


@pytest.fixture
def shared_cache(settings, transactional_db):
    """The production arrangement: Redis as the cache, sessions read from it."""
    settings.CACHES = {
        "default": {
            "BACKEND": "veoproject.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.LIVE_STATUS_CACHE = True
    from django.core.cache import cache

    try:
        cache.get("ping")
    except Exception as exc:  # noqa: BLE001 (any client error means no server)
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({type(exc).__name__})")


def logged_in(django_user_model, name: str, **extra) -> tuple[Client, object]:
    user = make_user(django_user_model, name, **extra)
    client = Client()
    client.force_login(user)
    # A browser that has its language cookie (pages.middleware otherwise
    # looks the profile up on each request of a person with none saved).
    client.cookies["django_language"] = "en"
    return client, user


def poll(client, job, etag: str = ""):
    headers = {"HTTP_IF_NONE_MATCH": etag} if etag else {}
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/videos/{job.pk}/status.json", **headers)
    return response, len(queries)


def test_unchanged_job_answers_304_with_its_etag(alice_client, alice):
    job = new_job(alice, status=S.QUEUED)
    first = alice_client.get(f"/videos/{job.pk}/status.json")
    assert first.status_code == 200 and first.json()["status"] == "queued"
    assert first["Cache-Control"] == "private, no-cache" and first["ETag"]
    again = alice_client.get(f"/videos/{job.pk}/status.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == first["ETag"]
    Job.objects.filter(pk=job.pk).update(status=S.FAILED, error_message="No luck")
    changed = alice_client.get(f"/videos/{job.pk}/status.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed.json()["error"] == "No luck"


def test_owner_checks_are_answered_without_the_database(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    job = new_job(alice)
    first, queries = poll(client, job)
    assert first.status_code == 200 and queries >= 2  # user and job read once
    cached, queries = poll(client, job)
    assert queries == 0 and cached.json() == first.json() | {"progress": cached.json()["progress"]}
    not_modified, queries = poll(client, job, cached["ETag"])
    assert queries == 0 and not_modified.status_code == 304


@pytest.mark.parametrize("how", ["update", "save"])
def test_a_change_is_seen_at_the_next_check(shared_cache, django_user_model, how):
    client, alice = logged_in(django_user_model, "alice")
    job = new_job(alice)
    poll(client, job)
    etag = poll(client, job)[0]["ETag"]
    if how == "update":
        assert Job.objects.filter(pk=job.pk, status=S.SUBMITTED).update(status=S.DOWNLOADING) == 1
    else:
        job.status = S.DOWNLOADING
        job.save()
    response, queries = poll(client, job, etag)
    assert response.status_code == 200 and response.json()["status"] == "downloading" and queries >= 1
    assert poll(client, job)[1] == 0  # and cached again


def test_bulk_updates_by_any_filter_change_the_version(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    jobs = [new_job(alice), new_job(alice)]
    for job in jobs:
        poll(client, job)
    Job.objects.filter(user=alice, status=S.SUBMITTED).update(status=S.FAILED, error_message="Deadline")
    for job in jobs:
        assert poll(client, job)[0].json()["status"] == "failed"


def test_a_read_overtaken_by_a_write_is_never_served(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    job = new_job(alice)
    token = versions.current(job.pk)  # a reader takes the token…
    stale = Job.objects.get(pk=job.pk)  # …and reads the row
    Job.objects.filter(pk=job.pk).update(status=S.FAILED, error_message="Gone")  # a write commits
    live.remember(stale, token, alice)  # the reader files what it read
    response, queries = poll(client, job)
    assert response.json()["status"] == "failed" and queries >= 1


def test_other_users_and_the_signed_out_never_get_the_cached_answer(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    bob_client, _ = logged_in(django_user_model, "bob")
    job = new_job(alice)
    poll(client, job)
    assert poll(bob_client, job)[0].status_code == 404
    anonymous = Client().get(f"/videos/{job.pk}/status.json")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url
    staff_client, _ = logged_in(django_user_model, "staff", is_staff=True)
    assert poll(staff_client, job)[0].json()["id"] == job.pk  # staff: through the database


def test_password_change_ends_other_sessions_at_the_next_check(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    job = new_job(alice)
    poll(client, job)
    assert poll(client, job)[1] == 0
    alice.set_password("a-new-password-2026")
    alice.save()
    response, _ = poll(client, job)
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_deleted_job_is_gone_at_the_next_check(shared_cache, django_user_model):
    client, alice = logged_in(django_user_model, "alice")
    job = new_job(alice)
    poll(client, job)
    Job.objects.filter(pk=job.pk).delete()
    assert poll(client, job)[0].status_code == 404

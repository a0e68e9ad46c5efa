"""Owner-only access to jobs and files (404 for everyone else), staff
access, Range requests on stored videos, and the gallery pages."""

import pytest
from django.core.files.base import ContentFile

from videos.models import Job

VIDEO = b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 4  # 1036 bytes


@pytest.fixture
def done_job(alice):
    job = Job.objects.create(user=alice, prompt="A finished one", price_credits=10, status=Job.Status.SUCCEEDED)
    job.video_file.save(f"videos/{alice.pk}/done.mp4", ContentFile(VIDEO), save=True)
    return job


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_owner_gets_page_status_and_file(alice_client, done_job):
    assert alice_client.get(f"/videos/{done_job.pk}/").status_code == 200
    assert alice_client.get(f"/videos/{done_job.pk}/status.json").json()["video_url"] == f"/videos/{done_job.pk}/file"
    response = alice_client.get(f"/videos/{done_job.pk}/file")
    assert response.status_code == 200 and body(response) == VIDEO
    assert response["Accept-Ranges"] == "bytes" and response["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("suffix", ["/", "/status.json", "/file"])
def test_other_users_get_404(bob_client, done_job, suffix):
    assert bob_client.get(f"/videos/{done_job.pk}{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", ["/", "/status.json", "/file"])
def test_anonymous_users_are_sent_to_log_in(client, done_job, suffix):
    response = client.get(f"/videos/{done_job.pk}{suffix}")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_staff_can_see_any_file(client, django_user_model, done_job):
    staff = django_user_model.objects.create_user("op", password="x", is_staff=True)
    client.force_login(staff)
    assert body(client.get(f"/videos/{done_job.pk}/file")) == VIDEO


def test_unfinished_job_has_no_file(alice_client, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status=Job.Status.SUBMITTED)
    assert alice_client.get(f"/videos/{job.pk}/file").status_code == 404
    assert alice_client.get(f"/videos/{job.pk}/status.json").json()["video_url"] is None


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 1035),
        ("bytes=-36", 1000, 1035),
        ("bytes=500-99999", 500, 1035),
        ("bytes=0-0", 0, 0),
    ],
)
def test_range_requests(alice_client, done_job, header, first, last):
    response = alice_client.get(f"/videos/{done_job.pk}/file", HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(VIDEO)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == VIDEO[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=2000-", "bytes=50-10", "bytes=-0"])
def test_unsatisfiable_ranges(alice_client, done_job, header):
    response = alice_client.get(f"/videos/{done_job.pk}/file", HTTP_RANGE=header)
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(VIDEO)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "pages=1-2", "bytes=abc"])
def test_unsupported_ranges_get_the_whole_file(alice_client, done_job, header):
    response = alice_client.get(f"/videos/{done_job.pk}/file", HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == VIDEO


def test_gallery_newest_first_paginated_and_private(alice_client, alice, bob, settings):
    settings.GALLERY_PAGE_SIZE = 5
    for i in range(7):
        Job.objects.create(user=alice, prompt=f"alice prompt {i}", price_credits=10)
    Job.objects.create(user=bob, prompt="bob secret prompt", price_credits=10)
    first = alice_client.get("/videos/").content.decode()
    assert "alice prompt 6" in first and "alice prompt 2" in first and "alice prompt 1" not in first
    assert first.index("alice prompt 6") < first.index("alice prompt 5")
    assert "bob secret prompt" not in first and "Page 1 of 2" in first
    second = alice_client.get("/videos/?page=2").content.decode()
    assert "alice prompt 1" in second and "alice prompt 0" in second
    assert alice_client.get("/videos/?page=999").status_code == 200


def test_gallery_cards_by_status(alice_client, alice, done_job):
    running = Job.objects.create(user=alice, prompt="still running", price_credits=10, status=Job.Status.SUBMITTED)
    failed = Job.objects.create(
        user=alice,
        prompt="went wrong",
        price_credits=10,
        status=Job.Status.FAILED,
        error_message="Flagged by content policy",
    )
    html = alice_client.get("/videos/").content.decode()
    assert f'hx-get="/videos/{running.pk}/card/"' in html  # live updates only for running jobs
    assert f'hx-get="/videos/{done_job.pk}/card/"' not in html
    assert f'href="/videos/{done_job.pk}/"' in html and "img/placeholder.svg" in html  # no poster without ffmpeg here
    # The provider's words as people read them, and no polling of a final card.
    assert "The prompt was flagged as breaking the content rules." in html
    assert f"/videos/{failed.pk}/card/" not in html


def test_gallery_queries_do_not_grow_with_jobs(alice_client, alice, django_assert_max_num_queries):
    Job.objects.bulk_create([Job(user=alice, prompt=f"p{i}", price_credits=10) for i in range(40)])
    with django_assert_max_num_queries(8):
        alice_client.get("/videos/")

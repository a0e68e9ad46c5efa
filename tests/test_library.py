"""The gallery as a library: delete, share links, filters and search,
"use this prompt again", and the live fragments htmx swaps in."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from billing.models import LedgerEntry
from billing.selectors import balance_of
from videos.models import Job, JobImage

VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


def finished(user, prompt="A finished one", **extra) -> Job:
    job = Job.objects.create(user=user, prompt=prompt, price_credits=10, status=Job.Status.SUCCEEDED, **extra)
    job.video_file.save(f"videos/{user.pk}/{job.pk}.mp4", ContentFile(VIDEO), save=False)
    job.poster.save(f"posters/{job.pk}.jpg", ContentFile(b"\xff\xd8\xff poster"), save=False)
    job.save()
    return job


@pytest.fixture
def done(alice):
    return finished(alice)


def test_delete_removes_files_and_leaves_the_ledger(alice_client, alice, done, django_capture_on_commit_callbacks):
    image = JobImage.objects.create(job=done, position=1, content_type="image/png")
    image.file.save("inputs/x.png", ContentFile(b"png"), save=True)
    names = [done.video_file.name, done.poster.name, image.file.name]
    assert all(default_storage.exists(n) for n in names)
    ledger = list(LedgerEntry.objects.values_list("id", "amount"))
    balance = balance_of(alice.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/videos/{done.pk}/delete/")
    assert response.status_code == 302 and response.url == "/videos/"
    assert not any(default_storage.exists(n) for n in names)
    assert list(LedgerEntry.objects.values_list("id", "amount")) == ledger and balance_of(alice.pk) == balance
    assert alice_client.get(f"/videos/{done.pk}/").status_code == 404
    assert alice_client.get(f"/videos/{done.pk}/file").status_code == 404
    assert alice_client.get(f"/videos/{done.pk}/status.json").status_code == 404
    assert f"/videos/{done.pk}/" not in alice_client.get("/videos/").content.decode()
    # A second delete is a 404, not an error.
    assert alice_client.post(f"/videos/{done.pk}/delete/").status_code == 404


def test_delete_keeps_a_file_another_job_still_uses(alice_client, alice, done, django_capture_on_commit_callbacks):
    reused = Job.objects.create(
        user=alice,
        prompt=done.prompt,
        price_credits=0,
        status=Job.Status.SUCCEEDED,
        video_file=done.video_file.name,
        poster=done.poster.name,
        reused_from=done,
    )
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/videos/{done.pk}/delete/")
    assert default_storage.exists(reused.video_file.name)
    assert alice_client.get(f"/videos/{reused.pk}/file").status_code == 200


def test_delete_is_refused_while_running_and_for_others(alice_client, bob_client, alice, done):
    running = Job.objects.create(user=alice, prompt="busy", price_credits=10, status=Job.Status.SUBMITTED)
    response = alice_client.post(f"/videos/{running.pk}/delete/", follow=True)
    assert "still being made" in response.content.decode()
    assert Job.objects.get(pk=running.pk).deleted_at is None
    assert bob_client.post(f"/videos/{done.pk}/delete/").status_code == 404
    assert alice_client.get(f"/videos/{done.pk}/delete/").status_code == 405
    assert Job.objects.get(pk=done.pk).deleted_at is None and default_storage.exists(done.video_file.name)


def test_share_link_turns_on_and_off(alice_client, bob_client, alice, done):
    from django.test import Client

    client = Client()
    assert bob_client.post(f"/videos/{done.pk}/share/").status_code == 404
    alice_client.post(f"/videos/{done.pk}/share/")
    token = Job.objects.get(pk=done.pk).share_token
    assert token and len(token) >= 20
    page = client.get(f"/s/{token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'<meta property="og:video" content="http://testserver/s/{token}/video.mp4">' in html
    assert f'<meta property="og:image" content="http://testserver/s/{token}/poster.jpg">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert "A finished one" in html
    video = client.get(f"/s/{token}/video.mp4", HTTP_RANGE="bytes=0-3")
    assert video.status_code == 206 and b"".join(video.streaming_content) == VIDEO[:4]
    assert client.get(f"/s/{token}/poster.jpg").status_code == 200

    alice_client.post(f"/videos/{done.pk}/share/")  # off again
    assert Job.objects.get(pk=done.pk).share_token is None
    for url in (f"/s/{token}/", f"/s/{token}/video.mp4", f"/s/{token}/poster.jpg"):
        assert client.get(url).status_code == 404, url
    # On again: a new link; the old one stays dead.
    alice_client.post(f"/videos/{done.pk}/share/")
    assert Job.objects.get(pk=done.pk).share_token not in (None, token)
    assert client.get(f"/s/{token}/").status_code == 404


def test_running_and_failed_videos_cannot_be_shared(alice_client, alice):
    running = Job.objects.create(user=alice, prompt="busy", price_credits=10, status=Job.Status.SUBMITTED)
    alice_client.post(f"/videos/{running.pk}/share/")
    assert Job.objects.get(pk=running.pk).share_token is None
    assert alice_client.get("/s/not-a-token/").status_code == 404


def test_deleting_turns_the_share_link_off(alice_client, alice, done):
    from django.test import Client

    client = Client()
    alice_client.post(f"/videos/{done.pk}/share/")
    token = Job.objects.get(pk=done.pk).share_token
    alice_client.post(f"/videos/{done.pk}/delete/")
    assert client.get(f"/s/{token}/").status_code == 404


def test_filters_and_search(alice_client, alice, bob):
    finished(alice, prompt="A red kite over green hills")
    finished(alice, prompt="A quiet harbour at dawn", model="veo3")
    Job.objects.create(user=alice, prompt="A red balloon", price_credits=10, status=Job.Status.FAILED)
    Job.objects.create(user=alice, prompt="A red fox", price_credits=10, status=Job.Status.SUBMITTED)
    finished(bob, prompt="Bob's red car")

    def prompts(query: str) -> set[str]:
        html = alice_client.get(f"/videos/?{query}").content.decode()
        return {p for p in ("red kite", "quiet harbour", "red balloon", "red fox", "red car") if p in html}

    assert prompts("") == {"red kite", "quiet harbour", "red balloon", "red fox"}
    assert prompts("q=red") == {"red kite", "red balloon", "red fox"}
    assert prompts("q=RED&status=succeeded") == {"red kite"}
    assert prompts("status=failed") == {"red balloon"}
    assert prompts("status=running") == {"red fox"}
    assert prompts("model=veo3") == {"quiet harbour"}
    assert prompts("model=nonsense&status=nonsense") == {"red kite", "quiet harbour", "red balloon", "red fox"}
    assert "No videos match" in alice_client.get("/videos/?q=zebra").content.decode()


def test_use_this_prompt_again_fills_the_form(alice_client, bob_client, alice):
    job = finished(alice, prompt="A lighthouse in a storm", model="veo3", aspect_ratio="9:16", seed=12345)
    html = alice_client.get(f"/videos/new/?from={job.pk}").content.decode()
    assert "A lighthouse in a storm</textarea>" in html
    assert '<option value="veo3" selected>' in html and '<option value="9:16" selected>' in html
    assert 'value="12345"' in html
    assert "Generate video · <span data-cost>40</span> credits" in html  # the Quality price
    assert "A lighthouse" not in bob_client.get(f"/videos/new/?from={job.pk}").content.decode()
    assert alice_client.get("/videos/new/?from=abc").status_code == 200
    assert alice_client.get("/videos/new/?from=" + "9" * 30).status_code == 200


def test_card_and_job_fragments_are_the_pages_own(alice_client, bob_client, alice):
    job = Job.objects.create(user=alice, prompt="busy", price_credits=10, status=Job.Status.SUBMITTED)
    card = alice_client.get(f"/videos/{job.pk}/card/").content.decode()
    assert card.lstrip().startswith(f'<article class="card" id="job-{job.pk}"')
    assert f'hx-get="/videos/{job.pk}/card/"' in card  # still polling
    assert 'id="header-credits"' in card and 'hx-swap-oob="true"' in card
    assert bob_client.get(f"/videos/{job.pk}/card/").status_code == 404

    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error_message="Generation failed")
    card = alice_client.get(f"/videos/{job.pk}/card/").content.decode()
    assert "hx-get" not in card.split("</article>")[0]  # final: polling stops
    assert "The generation failed." in card and "10 credits returned" in card

    page = alice_client.get(f"/videos/{job.pk}/").content.decode()
    media = alice_client.get(f"/videos/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-media").content.decode()
    state = alice_client.get(f"/videos/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-state").content.decode()
    assert media.lstrip().startswith('<div id="job-media"') and "<html" not in media
    vary = alice_client.get(f"/videos/{job.pk}/")["Vary"]
    assert "HX-Request" in vary and "HX-Target" in vary
    assert state.lstrip().startswith('<div id="job-state"')
    # The fragment is exactly what the full page draws (the CSRF token is
    # masked afresh on every render).
    import re

    def same(html: str) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html).strip()

    fragments = [same(f.split('<a id="header-credits"')[0]) for f in (media, state)]
    assert all(fragment in same(page) for fragment in fragments)


def test_kept_upload_preview_is_for_its_session_only(alice_client, bob_client, alice):
    from .conftest import generate_data, png_upload

    response = alice_client.post(
        "/videos/new/",
        {**generate_data(prompt="", generation_type="FIRST_AND_LAST_FRAMES_2_VIDEO"), "image_1": png_upload()},
    )
    assert response.status_code == 400
    html = response.content.decode()
    token = html.split('name="image_kept_1" value="')[1].split('"')[0]
    assert token
    assert alice_client.get(f"/videos/kept/{token}").status_code == 200
    assert bob_client.get(f"/videos/kept/{token}").status_code == 404

    # The next post without picking the file again uses the kept one.
    response = alice_client.post(
        "/videos/new/", {**generate_data(generation_type="FIRST_AND_LAST_FRAMES_2_VIDEO"), "image_kept_1": token}
    )
    assert response.status_code == 302
    job = Job.objects.filter(user=alice).latest("id")
    assert job.images.count() == 1 and job.images.get().file
    assert alice_client.get(f"/videos/kept/{token}").status_code == 404  # used and cleared


def test_a_token_from_another_session_is_not_an_image(alice_client, bob_client, alice, bob):
    from .conftest import generate_data, png_upload

    response = alice_client.post(
        "/videos/new/", {**generate_data(prompt="", generation_type="REFERENCE_2_VIDEO"), "image_1": png_upload()}
    )
    token = response.content.decode().split('name="image_kept_1" value="')[1].split('"')[0]
    response = bob_client.post(
        "/videos/new/", {**generate_data(generation_type="REFERENCE_2_VIDEO"), "image_kept_1": token}
    )
    assert response.status_code == 400 and "Reference images needs one to three images." in response.content.decode()
    assert not Job.objects.filter(user=bob).exists()


def test_all_errors_at_once_in_a_summary(alice_client):
    from .conftest import generate_data

    response = alice_client.post(
        "/videos/new/",
        generate_data(prompt="", seed="5", generation_type="REFERENCE_2_VIDEO", model="veo3"),
    )
    html = response.content.decode()
    summary = html.split("data-error-summary")[1].split("</div>")[0]
    assert "Please fix 4 problems" in summary
    for text in (
        "Describe the video you want.",
        "The seed must be between 10000 and 99999.",
        "Reference images needs one to three images.",
        "Reference images works only with the Veo 3.1 Fast and Lite models.",
    ):
        assert text in summary, text
    assert 'href="#id_prompt"' in summary and 'href="#id_seed"' in summary


def test_upgrade_state_polls_while_pending_and_shows_the_chain(alice_client, alice, done):
    from videos.models import Upgrade

    Job.objects.filter(pk=done.pk).update(task_id="t-1")
    failed = Upgrade.objects.create(
        job=done,
        kind="1080p",
        status=Upgrade.Status.FAILED,
        price_credits=2,
        error="The 1080p version could not be made: Server error",
    )
    pending = Upgrade.objects.create(job=done, kind="1080p", status=Upgrade.Status.PENDING, price_credits=2)

    def region(target: str, **headers) -> str:
        return alice_client.get(
            f"/videos/{done.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target, **headers
        ).content.decode()

    state = region("job-state")
    assert f'hx-get="/videos/{done.pk}/"' in state and "1080p processing…" in state
    assert "Delete" not in state  # not while the upgrade is being made
    assert alice_client.post(f"/videos/{done.pk}/delete/").status_code == 302
    assert Job.objects.get(pk=done.pk).deleted_at is None
    assert "hx-get" not in region("job-media").split("</div>")[0]  # the player is not redrawn while you watch

    Upgrade.objects.filter(pk=pending.pk).update(status=Upgrade.Status.SUCCEEDED, file="videos/hd.mp4")
    state = region("job-state")
    assert "hx-get" not in state.split(">")[0] and "Download 1080p" in state and "Original" in state
    # The chain: the failed round, then the one that was made, in the reader's language.
    zh = region("job-state", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "视频服务内部出错。" in zh and "Server error" not in zh
    assert zh.index('data-upgrade-status="failed"') < zh.index('data-upgrade-status="succeeded"')
    assert failed.pk < pending.pk


def test_kept_uploads_nobody_came_back_for_are_swept(alice_client, alice, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    from videos import stash
    from videos.tasks import stash_sweep

    from .conftest import generate_data, png_upload

    settings.MEDIA_ROOT = str(tmp_path)  # a storage of its own: other tests' kept uploads are not counted
    response = alice_client.post(
        "/videos/new/", {**generate_data(prompt="", generation_type="REFERENCE_2_VIDEO"), "image_1": png_upload()}
    )
    token = response.content.decode().split('name="image_kept_1" value="')[1].split('"')[0]
    assert stash_sweep() == 0 and alice_client.get(f"/videos/kept/{token}").status_code == 200
    assert stash.stash_sweep(now=timezone.now() + stash.KEEP_FOR + timedelta(minutes=1)) == 1
    assert alice_client.get(f"/videos/kept/{token}").status_code == 404
    assert Schedule.objects.filter(name="uploads.stash", func="videos.tasks.stash_sweep").exists()

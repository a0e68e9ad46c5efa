"""Every rule of the generate form: a bad request is a plain form error,
never a charge, never a provider call, never a 500."""

import pytest

from billing.selectors import balance_of
from videos.models import Job

from .conftest import generate_data, png_upload, submit

URL = "https://images.example.com/a.png"


def assert_refused(response, text: str, alice, sim):
    assert response.status_code == 400
    assert text in response.content.decode()
    assert Job.objects.count() == 0
    assert balance_of(alice.pk) == 50
    assert sim.calls("generate") == 0


@pytest.mark.parametrize(
    "overrides, text",
    [
        ({"prompt": ""}, "Describe the video you want."),
        ({"prompt": "   \n  "}, "Describe the video you want."),
        ({"prompt": "x" * 2001}, "Keep the prompt under 2000 characters."),
        ({"model": "veo9"}, "Select a valid choice"),
        ({"generation_type": "SOUND_2_VIDEO"}, "Select a valid choice"),
        ({"aspect_ratio": "4:3"}, "Select a valid choice"),
        ({"seed": "9999"}, "between 10000 and 99999"),
        ({"seed": "100000"}, "between 10000 and 99999"),
        ({"seed": "12.5"}, "whole number between 10000 and 99999"),
        ({"watermark": "w" * 101}, "at most 100 characters"),
        ({"image_url_1": URL}, "Text to video takes no images"),
        ({"generation_type": "FIRST_AND_LAST_FRAMES_2_VIDEO"}, "needs one or two images"),
        (
            {
                "generation_type": "FIRST_AND_LAST_FRAMES_2_VIDEO",
                "image_url_1": URL,
                "image_url_2": URL,
                "image_url_3": URL,
            },
            "needs one or two images",
        ),
        ({"generation_type": "REFERENCE_2_VIDEO"}, "needs one to three images"),
        (
            {"generation_type": "REFERENCE_2_VIDEO", "model": "veo3", "image_url_1": URL},
            "only with the Veo 3.1 Fast and Lite models",
        ),
        ({"generation_type": "REFERENCE_2_VIDEO", "image_url_2": URL}, "fill the image slots in order"),
        (
            {"generation_type": "REFERENCE_2_VIDEO", "image_url_1": "http://images.example.com/a.png"},
            "must start with https://",
        ),
        ({"generation_type": "REFERENCE_2_VIDEO", "image_url_1": "https://127.0.0.1/a.png"}, "public web address"),
        (
            {"generation_type": "REFERENCE_2_VIDEO", "image_url_1": "https://169.254.169.254/latest"},
            "public web address",
        ),
        ({"generation_type": "REFERENCE_2_VIDEO", "image_url_1": "https://localhost/a.png"}, "public web address"),
        ({"generation_type": "REFERENCE_2_VIDEO", "image_url_1": "not a url"}, "not a valid web address"),
    ],
)
def test_invalid_requests_are_form_errors(alice_client, alice, sim, overrides, text):
    assert_refused(submit(alice_client, **overrides), text, alice, sim)


def test_upload_and_link_in_one_slot(alice_client, alice, sim):
    data = generate_data(generation_type="REFERENCE_2_VIDEO", image_url_1=URL)
    data["image_1"] = png_upload()
    assert_refused(alice_client.post("/videos/new/", data), "as an upload or a link, not both", alice, sim)


def test_upload_that_is_not_an_image(alice_client, alice, sim):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = generate_data(generation_type="REFERENCE_2_VIDEO")
    data["image_1"] = SimpleUploadedFile("evil.png", b"<?php echo 1; ?>", content_type="image/png")
    assert_refused(alice_client.post("/videos/new/", data), "not a picture we can read", alice, sim)


def test_upload_too_large(alice_client, alice, sim, settings):
    settings.UPLOAD_MAX_BYTES = 50
    data = generate_data(generation_type="REFERENCE_2_VIDEO")
    data["image_1"] = png_upload()
    assert_refused(alice_client.post("/videos/new/", data), "larger than", alice, sim)


def test_gif_upload_is_refused(alice_client, alice, sim):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="GIF")
    data = generate_data(generation_type="REFERENCE_2_VIDEO")
    data["image_1"] = SimpleUploadedFile("a.gif", buffer.getvalue(), content_type="image/gif")
    assert_refused(alice_client.post("/videos/new/", data), "JPEG, PNG or WebP", alice, sim)


def test_not_enough_credits(alice_client, alice, sim):
    from billing.services import credits_charge

    credits_charge(user_id=alice.pk, amount=45, reference="other", reason="spent")
    response = submit(alice_client)
    assert response.status_code == 400
    assert "This needs 10 credits and you have 5." in response.content.decode()
    assert Job.objects.count() == 0 and balance_of(alice.pk) == 5 and sim.calls("generate") == 0


def test_form_page_shows_prices_and_balance(alice_client):
    html = alice_client.get("/videos/new/").content.decode()
    assert "Veo 3.1 Fast" in html and "Your credits: 50" in html
    assert 'data-price-model="veo3_fast" data-price-resolution="720p" data-credits="10"' in html
    for name in (
        "prompt",
        "model",
        "resolution",
        "generation_type",
        "image_url_1",
        "image_3",
        "aspect_ratio",
        "seed",
        "enable_translation",
        "watermark",
    ):
        assert f'name="{name}"' in html


def test_form_needs_login(client, db):
    assert client.get("/videos/new/").status_code == 302
    assert client.post("/videos/new/", generate_data()).status_code == 302
    assert Job.objects.count() == 0


def test_form_post_needs_csrf(alice, sim):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/videos/new/", generate_data()).status_code == 403
    assert Job.objects.count() == 0


@pytest.mark.parametrize("prompt", ["A NUDE figure on a beach", "gore everywhere", "some nsfw scene"])
def test_blocklisted_prompts_are_refused_before_any_charge(alice_client, alice, sim, prompt):
    assert_refused(submit(alice_client, prompt=prompt), "breaks our content rules", alice, sim)


def test_blocklist_matches_whole_words_only(alice_client, alice, sim, settings):
    settings.PROMPT_BLOCKLIST = ["gore"]
    response = submit(alice_client, prompt="Al Gore-free zone: the Goretex jacket in the rain")
    assert "content rules" in response.content.decode()  # "Gore" is a whole word here
    response = submit(alice_client, prompt="A hiker in a Goretex jacket walking through rain")
    assert response.status_code == 302


def test_form_offers_prompt_help(alice_client):
    html = alice_client.get("/videos/new/").content.decode()
    assert 'data-hint-length="60"' in html and "Short prompts give generic videos" in html
    assert 'data-phrase="slow dolly in"' in html and 'data-phrase="golden hour light"' in html
    assert "js/prompt.js" in html

"""Image links are fetched once before any charge: a dead, private,
oversized or non-image link is a form error, never a failed (paid) video."""

import pytest

from billing.selectors import balance_of
from videos.models import Job

from .conftest import generate_data, submit


def refused(response, text, alice, sim):
    assert response.status_code == 400, response.status_code
    assert text in response.content.decode()
    assert Job.objects.count() == 0
    assert balance_of(alice.pk) == 50
    assert sim.calls("generate") == 0
    return True


@pytest.mark.parametrize(
    "path, text",
    [
        ("/missing.png", "answered 404: it is dead or private"),
        ("/private.png", "answered 403: it is dead or private"),
        ("/page.png", "not a picture we can use"),
        ("/anim.gif", "not a picture we can use"),
        ("/cut.png", "not a picture we can use"),
        ("/huge.png", "larger than"),
    ],
)
def test_bad_image_link_is_a_form_error_before_any_charge(alice_client, alice, sim, image_host, path, text):
    response = submit(alice_client, generation_type="REFERENCE_2_VIDEO", image_url_1=image_host.url + path)
    assert refused(response, text, alice, sim)
    assert image_host.hits == 1  # fetched once, by the check


def test_private_address_is_never_fetched(alice_client, alice, sim, image_host, settings):
    settings.IMAGE_LINK_PRIVATE_HOSTS = []  # 127.0.0.1 is private again
    for url, text in (
        (image_host.url + "/a.png", "must start with https://"),
        (image_host.url.replace("http://", "https://") + "/a.png", "public web address"),
    ):
        assert refused(submit(alice_client, generation_type="REFERENCE_2_VIDEO", image_url_1=url), text, alice, sim)
    assert image_host.hits == 0


def test_unreachable_link_is_a_form_error(alice_client, alice, sim, image_host):
    response = submit(alice_client, generation_type="REFERENCE_2_VIDEO", image_url_1="http://127.0.0.1:9/a.png")
    assert refused(response, "could not be fetched", alice, sim)


def test_good_links_pass_and_are_sent(live, sim, alice_client, alice, image_host):
    data = generate_data(
        generation_type="REFERENCE_2_VIDEO",
        model="veo3_lite",
        image_url_1=f"{image_host.url}/a.png",
        image_url_2=f"{image_host.url}/b.jpg",
    )
    response = alice_client.post("/videos/new/", data)
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.model == "veo3_lite" and job.price_credits == 5 and balance_of(alice.pk) == 45
    assert image_host.hits == 2

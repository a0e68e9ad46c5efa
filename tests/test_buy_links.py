"""Every "not enough credits" message links to buying: the generate form,
the batch page and the 1080p upgrade; JSON answers keep the plain sentence."""

import pytest

from billing.selectors import wallets_out_of_balance
from billing.services import credits_charge
from videos.models import Job

from .conftest import generate_data, submit

BUY_LINK = '<a href="/billing/buy/" class="buy-credits">Buy credits</a>'


@pytest.fixture
def broke(alice):
    credits_charge(user_id=alice.pk, amount=50, reference="spent", reason="spent")
    yield alice
    assert wallets_out_of_balance() == []


def test_generate_form_links_to_buying(alice_client, broke, sim):
    html = submit(alice_client).content.decode()
    assert "This needs 10 credits and you have 0. " + BUY_LINK in html


def test_json_keeps_the_plain_sentence(alice_client, broke, sim):
    response = alice_client.post("/videos/new/", generate_data(), HTTP_ACCEPT="application/json")
    text = response.content.decode()
    assert "This needs 10 credits and you have 0." in text and "<a " not in text


def test_batch_links_to_buying(alice_client, broke, sim):
    response = alice_client.post(
        "/videos/batch/", {**generate_data(), "prompts": "A red kite over green hills, wide shot"}
    )
    assert BUY_LINK in response.content.decode()


def test_upgrade_links_to_buying(alice_client, broke):
    job = Job.objects.create(
        user=broke, prompt="p", price_credits=10, status="succeeded", aspect_ratio="16:9", task_id="t1"
    )
    response = alice_client.post(f"/videos/{job.pk}/upgrade/", follow=True)
    html = response.content.decode()
    assert "This needs 2 credits and you have 0." in html and BUY_LINK in html


def test_link_in_chinese(alice_client, broke, sim):
    html = alice_client.post("/videos/new/", generate_data(), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<a href="/billing/buy/" class="buy-credits">购买积分</a>' in html

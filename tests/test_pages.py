"""The first visit (landing, terms, privacy), the account page, the
branded error pages, the favicon, people's words and the admin's job page."""

import pytest
from django.test import Client

from billing.models import LedgerEntry
from pages.models import LegalPage, Profile
from videos.models import Job, NoticePreference

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def test_landing_page_for_visitors_gallery_for_members(client, alice_client, db):
    from .conftest import make_user  # noqa: F401 (prices are seeded by migrations)

    html = Client().get("/").content.decode()
    assert "AI videos from a few words" in html
    assert "examples/example-landscape.mp4" in html and "Veo 3.1 Fast" in html and "10 credits a video" in html
    assert 'href="/pricing/"' in html and 'href="/terms/"' in html and 'href="/privacy/"' in html
    assert alice_client.get("/").url == "/videos/"
    assert "Veo 3.1 快速" in Client().get("/", **ZH).content.decode()


def test_terms_and_privacy_have_defaults_and_operator_text(db):
    client = Client()
    assert "Credits have no cash value." in client.get("/terms/").content.decode()
    assert "Your videos are private unless you turn on a public link." in client.get("/privacy/").content.decode()
    LegalPage.objects.create(slug="terms", language="en", title="Our terms", body="First.\n\nSecond line.")
    LegalPage.objects.create(slug="terms", language="zh-hans", title="我们的条款", body="第一条。")
    html = client.get("/terms/").content.decode()
    assert "<h1>Our terms</h1>" in html and "<p>First.</p>" in html and "<p>Second line.</p>" in html
    assert "第一条。" in client.get("/terms/", **ZH).content.decode()
    # No row for the reader's language: the operator's default-language text.
    LegalPage.objects.filter(language="zh-hans").delete()
    assert "Our terms" in client.get("/terms/", **ZH).content.decode()


def test_account_page_saves_profile_language_and_notices(alice_client, alice):
    html = alice_client.get("/account/").content.decode()
    # The address is django-allauth's (verified for test users): shown, managed on its own page.
    assert "alice@example.com" in html and 'data-email-verified="yes"' in html and "/accounts/email/" in html
    response = alice_client.post(
        "/account/",
        {
            "first_name": "Alice",
            "last_name": "Liddell",
            "email": "a@example.org",  # not a field here: allauth's page changes addresses (verified)
            "language": "zh-hans",
            "notice_email": "on",
        },
    )
    assert response.status_code == 302 and response.cookies["django_language"].value == "zh-hans"
    alice.refresh_from_db()
    assert (alice.first_name, alice.email) == ("Alice", "alice@example.com")
    assert Profile.objects.get(user=alice).language == "zh-hans"
    assert NoticePreference.objects.get(user=alice).email is True
    assert "账户" in alice_client.get("/account/").content.decode()


def test_saved_language_follows_the_person_to_a_new_browser(alice, db):
    Profile.objects.create(user=alice, language="zh-hans")
    browser = Client()
    browser.force_login(alice)
    response = browser.get("/videos/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert "我的视频" in response.content.decode() and response.cookies["django_language"].value == "zh-hans"
    # With a cookie (the switcher's choice) the cookie wins and nothing is looked up.
    browser.cookies["django_language"] = "en"
    assert "My videos" in browser.get("/videos/").content.decode()


def test_account_rejects_bad_input_and_changes_nothing(alice_client, alice):
    response = alice_client.post("/account/", {"language": "xx-not-a-language", "first_name": "X"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-error-summary" in html and "Select a valid choice" in html
    alice.refresh_from_db()
    assert alice.email == "alice@example.com" and alice.first_name == ""


def test_account_needs_login(db):
    response = Client().get("/account/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize("path", ["/no-such-page/", "/videos/999999/"])
def test_branded_404(alice_client, path):
    response = alice_client.get(path)
    assert response.status_code == 404 and "Page not found" in response.content.decode()
    assert "Veo Studio" in response.content.decode()


def test_branded_500_needs_no_database(db, settings):
    from pages.views import server_error

    response = server_error(None)
    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in html and "出错了" in html


def test_favicon(db):
    response = Client().get("/favicon.ico")
    assert response.status_code == 302 and response.url.endswith("img/logo.svg")


def test_ledger_reasons_and_prices_in_the_readers_language(alice_client, alice):
    from billing.services import credits_charge

    credits_charge(user_id=alice.pk, amount=10, reference="job:7", reason="Video #7 (veo3_fast)")
    en = alice_client.get("/billing/").content.decode()
    zh = alice_client.get("/billing/", **ZH).content.decode()
    assert "Welcome credits" in en and "Video #7" in en and "veo3_fast" not in en
    assert "欢迎积分" in zh and "视频 #7" in zh and "Welcome credits" not in zh and "Veo 3.1 快速" in zh
    assert LedgerEntry.objects.filter(user=alice).count() == 2  # nothing rewritten


def test_job_reasons_render_in_the_readers_language(alice_client, alice):
    job = Job.objects.create(
        user=alice,
        prompt="p",
        price_credits=10,
        status=Job.Status.FAILED,
        language="en",
        error_message="The provider could not make this video: Generation failed",
        generation_type="FIRST_AND_LAST_FRAMES_2_VIDEO",
    )
    zh = alice_client.get(f"/videos/{job.pk}/", **ZH).content.decode()
    assert "服务商无法生成此视频：生成失败。" in zh and "首尾帧" in zh
    en = alice_client.get(f"/videos/{job.pk}/").content.decode()
    assert "The provider could not make this video: The generation failed." in en
    assert "FIRST_AND_LAST_FRAMES_2_VIDEO" not in en and "First and last frames" in en


def test_admin_job_page_leads_with_the_video_and_hides_secrets(admin_client, alice):
    job = Job.objects.create(user=alice, prompt="An admin's view", price_credits=10, status=Job.Status.SUCCEEDED)
    from django.core.files.base import ContentFile

    job.video_file.save("videos/a.mp4", ContentFile(b"x" * 32), save=True)
    html = admin_client.get(f"/admin/videos/job/{job.pk}/change/").content.decode()
    assert job.callback_token not in html
    assert html.index("<video") < html.index("An admin&#x27;s view") < html.index("Provider calls")
    assert f"/admin/billing/wallet/{alice.wallet.pk}/change/" in html
    assert 'rel="icon"' in html


def test_custom_admin_pages_have_breadcrumbs(admin_client, alice):
    for url in (
        f"/admin/billing/wallet/{alice.wallet.pk}/adjust/",
        "/admin/billing/breakerstate/reset/",
        "/admin/billing/providerbalance/reconciliation/",
    ):
        html = admin_client.get(url).content.decode()
        assert 'class="breadcrumbs"' in html and 'href="/admin/"' in html, url

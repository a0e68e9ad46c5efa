"""The product in a real browser (Debian's Chromium through Playwright), at
desktop and phone sizes: live pages drawn by the server, the guiding form,
the library, people's words, the first visit, the header on a phone, and
an axe-core accessibility check of every page. Screenshots go to
var/screenshots/."""

import re

import pytest
from django.core.files.base import ContentFile

from videos.models import Job

from .conftest import SCREENSHOTS, browser_context, make_user, png_bytes

pytestmark = pytest.mark.slow

SIZES = ["desktop", "phone"]


@pytest.fixture
def member(live, django_user_model):
    return make_user(django_user_model, "member", credits=200)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def finished_job(user, prompt="A red kite over green hills at golden hour", **extra) -> Job:
    from pathlib import Path

    sample = (Path(__file__).resolve().parent.parent / "static" / "examples" / "example-landscape.mp4").read_bytes()
    job = Job.objects.create(user=user, prompt=prompt, price_credits=10, status=Job.Status.SUCCEEDED, **extra)
    job.video_file.save(f"videos/{user.pk}/{job.pk}.mp4", ContentFile(sample), save=False)
    job.save()
    return job


def submit(user, prompt: str, language: str = "en") -> Job:
    """Submit through the real form (Django's client; the browser watches)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.post(
        "/videos/new/",
        {"prompt": prompt, "model": "veo3_fast", "generation_type": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.filter(user=user).latest("id")


def text_of(page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text()).strip()


# --- 1. Live pages are the server's pages -----------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("outcome, locale", [("succeeded", "en-US"), ("failed", "zh-CN")])
def test_job_page_finishes_live_exactly_as_a_reload_draws_it(browser, live, sim, member, size, outcome, locale):
    sim.config(delay=2)
    job = submit(member, "A lighthouse in a storm" + (" [sim:fail]" if outcome == "failed" else ""))
    context = browser_context(browser, live, user=member, viewport=size, locale=locale)
    page = context.new_page()
    page.goto(f"{live.url}/videos/{job.pk}/")
    page.evaluate("window.__sameDocument = true")
    assert page.locator("#header-bell [data-unread]").count() == 0
    page.wait_for_selector(f"#job-state[data-status={outcome}]", timeout=20_000)
    page.wait_for_selector("#job-media video.player" if outcome == "succeeded" else "#job-media .failed-mark")
    assert page.evaluate("window.__sameDocument") is True
    # The notice badge and the refunded balance changed live too.
    page.wait_for_selector("#header-bell [data-unread]")
    live_state, live_media = text_of(page, "#job-state"), text_of(page, "#job-media")
    live_header = text_of(page, "header")
    shot(page, f"job-{outcome}-live-{size}")

    page.reload()
    assert text_of(page, "#job-state") == live_state
    assert text_of(page, "#job-media") == live_media
    assert text_of(page, "header") == live_header
    if outcome == "succeeded":
        assert "Download MP4" in live_state and "Finished" in live_state and "Upgrade to 1080p" in live_state
    else:
        assert "失败" in live_state and "积分已退回" in live_state and "Failed" not in live_media + live_state
    context.close()


def test_gallery_cards_finish_as_posters_and_stop_polling(browser, live, sim, member):
    sim.config(delay=2)
    submit(member, "A red kite over green hills")
    submit(member, "A blue whale in deep water [sim:fail]")
    context = browser_context(browser, live, user=member, viewport="phone")
    page = context.new_page()
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/card/" in r.url else None)
    page.goto(f"{live.url}/videos/")
    page.wait_for_selector(".card[data-status=succeeded] .media img", timeout=20_000)
    page.wait_for_selector(".card[data-status=failed] .failed-mark", timeout=20_000)
    assert page.locator(".card video").count() == 0  # a finished card is a poster like the others
    live_cards = text_of(page, ".gallery")
    seen = len(polls)
    page.wait_for_timeout(4000)
    assert len(polls) == seen  # every card is final: no more polling
    page.reload()
    assert text_of(page, ".gallery") == live_cards
    shot(page, "gallery-phone")
    context.close()


# --- 2. The form guides ------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_form_shows_images_by_type_costs_on_the_button_and_keeps_uploads(browser, live, sim, member, size):
    context = browser_context(browser, live, user=member, viewport=size)
    page = context.new_page()
    page.goto(f"{live.url}/videos/new/")
    images = page.locator("fieldset[data-images]")
    assert not images.is_visible()
    assert text_of(page, "[data-cost-button]") == "Generate video · 10 credits"
    page.select_option("select[name=model]", "veo3")
    assert text_of(page, "[data-cost-button]") == "Generate video · 40 credits"
    page.select_option("select[name=model]", "veo3_fast")
    page.select_option("select[name=generation_type]", "FIRST_AND_LAST_FRAMES_2_VIDEO")
    assert images.is_visible()
    assert page.locator("[data-slot='2']").is_visible() and not page.locator("[data-slot='3']").is_visible()
    assert page.get_by_text("First frame", exact=True).is_visible()
    assert not page.get_by_text("Reference 1", exact=True).is_visible()
    page.select_option("select[name=generation_type]", "REFERENCE_2_VIDEO")
    assert page.locator("[data-slot='3']").is_visible() and page.get_by_text("Reference 1", exact=True).is_visible()

    # Drag and drop a picture onto slot 1: it is chosen and previewed.
    data = list(png_bytes(size=(64, 36)))
    transfer = page.evaluate_handle(
        """bytes => { const dt = new DataTransfer();
           dt.items.add(new File([new Uint8Array(bytes)], 'frame.png', {type: 'image/png'})); return dt; }""",
        data,
    )
    page.dispatch_event("[data-slot='1']", "drop", {"dataTransfer": transfer})
    assert page.locator("[data-slot='1'] input[type=file]").evaluate("el => el.files.length") == 1
    preview = page.locator("[data-slot='1'] [data-preview]")
    preview.wait_for(state="visible", timeout=10_000)  # an <img> has no size until its picture has loaded
    assert preview.get_attribute("src").startswith("blob:")

    # A bad submission: every error at once, summarised at the top, focused;
    # the picture is kept.
    page.fill("input[name=seed]", "5") if page.locator("input[name=seed]").is_visible() else None
    page.click("details.more summary") if not page.locator("input[name=seed]").is_visible() else None
    page.fill("input[name=seed]", "5")
    page.click("[data-cost-button]")
    page.wait_for_selector("[data-error-summary]")
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    summary = text_of(page, "[data-error-summary]")
    assert "Please fix 2 problems" in summary and "Describe the video you want." in summary and "seed" in summary
    assert page.locator("[data-slot='1'] [data-preview]").get_attribute("src").startswith("/videos/kept/")
    page.locator("[data-slot='1'] [data-preview]").wait_for(state="visible", timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shot(page, f"form-errors-{size}")

    page.fill("textarea[name=prompt]", "A paper boat on a rainy street, following the reference")
    page.fill("input[name=seed]", "")
    page.click("[data-cost-button]")
    page.wait_for_url(re.compile(r".*/videos/\d+/$"))
    job = Job.objects.filter(user=member).latest("id")
    assert job.generation_type == "REFERENCE_2_VIDEO" and job.images.count() == 1 and job.images.get().file
    assert "Reference images" in text_of(page, "dl.facts")
    context.close()


def test_batch_button_costs_every_line(browser, live, sim, member):
    context = browser_context(browser, live, user=member, viewport="phone")
    page = context.new_page()
    page.goto(f"{live.url}/videos/batch/")
    assert text_of(page, "[data-cost-button]") == "Start all · 0 credits"
    page.fill("textarea[name=prompts]", "One\nTwo\n\nThree")
    assert text_of(page, "[data-cost-button]") == "Start all · 30 credits"
    page.select_option("select[name=model]", "veo3")
    assert text_of(page, "[data-cost-button]") == "Start all · 120 credits"
    context.close()


# --- 3. The library ---------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_share_link_and_delete_from_the_job_page(browser, live, member, size):
    job = finished_job(member)
    context = browser_context(browser, live, user=member, viewport=size)
    page = context.new_page()
    page.goto(f"{live.url}/videos/{job.pk}/")
    page.click("[data-share-toggle]")
    link = page.locator("#share-url").input_value()
    assert re.fullmatch(rf"{re.escape(live.url)}/s/[\w-]+/", link)
    shot(page, f"job-shared-{size}")

    visitor = browser_context(browser, live, viewport=size)
    public = visitor.new_page()
    public.goto(link)
    assert public.locator("meta[property='og:video']").get_attribute("content").endswith("/video.mp4")
    public.wait_for_function("document.querySelector('video.player').readyState >= 1", timeout=10_000)
    shot(public, f"shared-{size}")

    page.click("[data-share-toggle]")  # off again
    assert public.goto(link).status == 404
    assert "Page not found" in public.content()
    shot(public, f"404-{size}")
    visitor.close()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button")
    page.wait_for_url(f"{live.url}/videos/")
    assert "The video was deleted." in page.content()
    assert f"/videos/{job.pk}/" not in page.content()
    context.close()


def test_filters_search_and_use_again(browser, live, member):
    finished_job(member, prompt="A red kite over green hills")
    finished_job(member, prompt="A quiet harbour at dawn", model="veo3")
    context = browser_context(browser, live, user=member, viewport="phone")
    page = context.new_page()
    page.goto(f"{live.url}/videos/")
    page.fill("input[name=q]", "harbour")
    page.click("form.filters button")
    assert page.locator(".card").count() == 1 and "Veo 3.1 Quality" in text_of(page, ".card")
    page.select_option("select[name=status]", "failed")  # a filter applies itself
    page.wait_for_url(re.compile(r".*status=failed.*"))
    assert "No videos match" in page.content()
    page.goto(f"{live.url}/videos/?q=harbour")
    page.click("text=Use this prompt again")
    assert page.locator("textarea[name=prompt]").input_value() == "A quiet harbour at dawn"
    assert text_of(page, "[data-cost-button]") == "Generate video · 40 credits"
    context.close()


# --- 5. First visit, 6. phone ------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_landing_page_for_visitors(browser, live, member, size):
    context = browser_context(browser, live, viewport=size)
    page = context.new_page()
    page.goto(f"{live.url}/")
    assert page.locator("h1").inner_text() == "AI videos from a few words"
    assert page.locator(".examples video").count() == 2 and "Veo 3.1 Fast" in text_of(page, ".price-list")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    shot(page, f"landing-{size}")
    page.click("footer >> text=Terms")
    assert "Credits have no cash value." in page.content()
    context.close()


def test_phone_header_is_one_row_and_the_menu_stays_on_screen(browser, live, member):
    context = browser_context(browser, live, user=member, viewport="phone", locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live.url}/videos/")
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] < 64
    for box in page.locator("header.topbar nav > *").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).map(r => [r.top, r.bottom, r.left, r.right])"
    ):
        assert box[1] <= header["height"] and box[2] >= 0 and box[3] <= 390, box
    page.click("details.menu summary")
    menu = page.locator(".menu-body").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= 390
    assert page.locator(".menu-body").get_by_text("退出登录").is_visible()
    shot(page, "menu-open-phone-zh")
    context.close()


# --- 6. Accessibility ---------------------------------------------------------


def _axe_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# Both languages, each at one size (the pair covers both sizes), to keep it quick.
@pytest.mark.parametrize("locale, size", [("en-US", "phone"), ("zh-CN", "desktop")])
def test_no_serious_accessibility_violations_anywhere(browser, live, member, locale, size):
    done = finished_job(member)
    Job.objects.filter(pk=done.pk).update(share_token="shared-token-for-axe-check")
    failed = Job.objects.create(
        user=member, prompt="went wrong", price_credits=10, status=Job.Status.FAILED, error_message="Generation failed"
    )
    running = Job.objects.create(user=member, prompt="still going", price_credits=10, status=Job.Status.SUBMITTED)
    signed_out = ["/", "/terms/", "/privacy/", "/accounts/login/", "/accounts/signup/", "/no-such-page/"]
    signed_out += ["/s/shared-token-for-axe-check/", "/accounts/password_reset/"]
    signed_in = ["/videos/", "/videos/new/", "/videos/batch/", "/videos/notices/", "/billing/", "/account/"]
    signed_in += [f"/videos/{done.pk}/", f"/videos/{failed.pk}/", f"/videos/{running.pk}/"]
    signed_in += ["/accounts/password_change/", "/videos/?q=nothing-matches"]
    problems = {}
    for user, paths in ((None, signed_out), (member, signed_in)):
        context = browser_context(browser, live, user=user, viewport=size, locale=locale)
        page = context.new_page()
        for path in paths:
            page.goto(f"{live.url}{path}")
            found = _axe_problems(page)
            if found:
                problems[path] = found
        context.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


# --- 7. The operator's pages ---------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_admin_job_page_leads_with_the_video(browser, live, member, django_user_model, size):
    job = finished_job(member)
    operator = django_user_model.objects.create_user(
        "operator", password="pw-operator", is_staff=True, is_superuser=True
    )
    context = browser_context(browser, live, user=operator, viewport=size)
    page = context.new_page()
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{live.url}/admin/videos/job/{job.pk}/change/")
    video = page.locator("#content video")
    video.wait_for()
    prompt = page.get_by_text("A red kite over green hills at golden hour").first
    assert video.bounding_box()["y"] < prompt.bounding_box()["y"]
    assert job.callback_token not in page.content()
    assert page.locator(f"a[href='/admin/billing/wallet/{member.wallet.pk}/change/']").count() == 1
    shot(page, f"admin-job-{size}")
    page.goto(f"{live.url}/admin/billing/providerbalance/reconciliation/")
    assert page.locator(".breadcrumbs a[href='/admin/']").count() == 1
    assert missing == []  # the favicon included
    context.close()

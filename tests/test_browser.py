"""A real browser (Debian's Chromium driven by Playwright): sign up, make a
video against the simulator, watch it finish without reloading, play it.
Screenshots go to var/screenshots/."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def wait_in_page(page, expression: str, timeout: float = 10.0) -> None:
    """page.wait_for_function, without its eval: the pages' CSP forbids eval,
    while page.evaluate runs through the DevTools protocol, outside it."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


@pytest.fixture
def prices(live):
    from billing.defaults import ensure_default_prices
    from billing.models import Price

    ensure_default_prices(Price)


@pytest.fixture
def watcher(live, django_user_model):
    from .conftest import make_user

    return make_user(django_user_model, "watcher")


@pytest.fixture
def page(live, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


def test_sign_up_generate_watch_and_play(prices, live, sim, page, django_user_model):
    import re

    from django.core import mail

    from billing.selectors import balance_of

    sim.config(delay=4)
    csp_violations = []
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live.url}/accounts/signup/")
    page.fill("input[name=username]", "browser")
    page.fill("input[name=email]", "browser@example.com")
    page.fill("input[name=password1]", "Browser-pass-2026")
    page.fill("input[name=password2]", "Browser-pass-2026")
    page.click("main button[type=submit]")
    # Mandatory verification: no credits and no login before the link is followed.
    page.wait_for_url(f"{live.url}/accounts/confirm-email/")
    assert balance_of(django_user_model.objects.get(username="browser").pk) == 0
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live.url}/videos/")
    assert "No videos yet" in page.content()

    page.goto(f"{live.url}/videos/new/")
    page.screenshot(path=str(ARTIFACTS / "new.png"), full_page=True)
    page.fill("textarea[name=prompt]", "A lighthouse in a storm at night, waves crashing, slow aerial orbit")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live.url}/videos/*/")
    page.evaluate("window.__sameDocument = true")
    page.screenshot(path=str(ARTIFACTS / "job-running.png"), full_page=True)
    assert page.locator("progress.progress").count() == 1

    # The page turns into a player by itself: no reload (the marker survives).
    page.wait_for_selector("video.player", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("[data-status-label]").inner_text() == "Ready"
    wait_in_page(page, "document.querySelector('video.player').readyState >= 1")
    duration = page.evaluate("document.querySelector('video.player').duration")
    assert 1.5 < duration < 3  # the simulator's two-second sample
    page.evaluate("document.querySelector('video.player').muted = true")
    page.evaluate("document.querySelector('video.player').play()")
    wait_in_page(page, "document.querySelector('video.player').currentTime > 0.2")
    page.screenshot(path=str(ARTIFACTS / "job-done.png"), full_page=True)

    page.goto(f"{live.url}/videos/")
    page.wait_for_selector(".card img[src*='poster.jpg'], .card img[src*='placeholder']")
    page.screenshot(path=str(ARTIFACTS / "gallery.png"), full_page=True)
    page.goto(f"{live.url}/billing/")
    assert page.locator("[data-balance]").get_attribute("data-balance") == "40"
    page.screenshot(path=str(ARTIFACTS / "billing.png"), full_page=True)
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")  # the switcher's script, allowed by the CSP
    page.wait_for_selector("html[lang=zh-hans]")
    assert csp_violations == []


def test_gallery_updates_running_cards_and_then_stops_polling(watcher, live, sim, page):
    sim.config(delay=3)
    page.goto(f"{live.url}/accounts/login/")
    page.fill("input[name=username]", "watcher")
    page.fill("input[name=password]", "pw-watcher")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live.url}/videos/")
    for prompt in ("A red kite over green hills", "A blue whale in deep water [sim:fail]"):
        page.goto(f"{live.url}/videos/new/")
        page.fill("textarea[name=prompt]", prompt)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{live.url}/videos/*/")
    page.goto(f"{live.url}/videos/")
    page.evaluate("window.__sameDocument = true")
    status_requests = []
    page.on("request", lambda r: status_requests.append(r.url) if "/card/" in r.url else None)
    page.wait_for_selector(".card[data-status=succeeded] img", timeout=20_000)
    page.wait_for_selector(".card .badge.failed", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    assert "10 credits returned" in page.content()
    page.screenshot(path=str(ARTIFACTS / "gallery-live.png"), full_page=True)
    seen = len(status_requests)
    page.wait_for_timeout(7000)  # two more intervals: every job is final, so nothing is polled
    assert len(status_requests) == seen
    page.goto(f"{live.url}/billing/")
    assert page.locator("[data-balance]").get_attribute("data-balance") == "40"  # the failed one was refunded

"""Buying a pack in a real browser (Debian's Chromium driven by Playwright)
through localstripe's mock Stripe.js: the card element, the server-side
confirm, 3-D Secure, and the return page. Screenshots go to var/screenshots/."""

import pytest

from billing.models import CreditPack
from billing.selectors import wallets_out_of_balance

from .conftest import SCREENSHOTS, STRIPE_TEST_SECRET, make_user

ARTIFACTS = SCREENSHOTS
pytestmark = pytest.mark.slow  # the shared `browser` fixture skips without Chromium


@pytest.fixture
def shop(live_server, stripe_on, django_user_model):
    """A signed-up buyer, a pack, and localstripe's webhooks pointed at us."""
    stripe_on.send_webhooks_to(f"{live_server.url}/billing/stripe/webhook/", STRIPE_TEST_SECRET)
    buyer = make_user(django_user_model, "buyer", credits=0)
    pack = CreditPack.objects.create(name="Creator", credits=500, amount=2000, best_value=True)
    yield buyer, pack
    # Checked here, after the browser has closed: no ORM call runs beside
    # Playwright's event loop (that left a stray database session behind).
    assert wallets_out_of_balance() == []


@pytest.fixture
def page(live_server, browser):
    """A page of the session's shared Chromium (tests/conftest.py)."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    yield context.new_page()
    context.close()


def log_in_and_pick(page, base: str, pack) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "buyer")
    page.fill("input[name=password]", "pw-buyer")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/videos/")
    page.goto(f"{base}/billing/buy/")
    page.screenshot(path=str(ARTIFACTS / "buy.png"), full_page=True)
    page.click(f"[data-pack='{pack.pk}'] button")
    page.wait_for_selector("[data-payment-intent] #card-element input[placeholder=number]")


def balance_shown(page, base: str) -> int:
    page.goto(f"{base}/billing/")
    return int(page.get_attribute("[data-balance]", "data-balance"))


def enter_card(page, number: str) -> None:
    page.fill("#card-element input[placeholder=number]", number)
    page.fill("#card-element input[placeholder=exp_month]", "12")
    page.fill("#card-element input[placeholder=exp_year]", "34")
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "75001")


def test_buy_a_pack_with_a_card(shop, live_server, page):
    buyer, pack = shop
    log_in_and_pick(page, live_server.url, pack)
    enter_card(page, "4242424242424242")
    page.screenshot(path=str(ARTIFACTS / "pay.png"), full_page=True)
    page.click("[data-pay-button]")
    page.wait_for_url(f"{live_server.url}/billing/payments/*/")
    page.screenshot(path=str(ARTIFACTS / "paid.png"), full_page=True)
    assert page.locator("[data-status=succeeded]").count() == 1
    assert balance_shown(page, live_server.url) == 500
    assert page.locator("[data-receipt]").count() == 1


def test_buy_with_three_d_secure(shop, live_server, page):
    buyer, pack = shop
    log_in_and_pick(page, live_server.url, pack)
    enter_card(page, "4000002500003155")
    page.click("[data-pay-button]")
    page.click("text=Complete authentication")  # the mock Stripe.js's 3-D Secure dialog
    page.wait_for_url(f"{live_server.url}/billing/payments/*/")
    assert page.locator("[data-status=succeeded]").count() == 1
    assert balance_shown(page, live_server.url) == 500


def test_declined_card_shows_the_reason_and_credits_nothing(shop, live_server, page):
    buyer, pack = shop
    log_in_and_pick(page, live_server.url, pack)
    enter_card(page, "4000000000000341")
    page.click("[data-pay-button]")
    page.wait_for_selector("[data-pay-error]:not([hidden])")
    assert "declined" in page.inner_text("[data-pay-error]")
    assert balance_shown(page, live_server.url) == 0

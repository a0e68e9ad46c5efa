"""Headers: every page carries a Content-Security-Policy that allows scripts
only from our own origin, and no page (ours, allauth's, the admin's) needs
inline script or inline event handlers to work."""

import re
from html.parser import HTMLParser

import pytest
from django.core.files.base import ContentFile

from billing.models import Wallet
from billing.services import breaker_trip, provider_balance_record
from videos.models import Job

from .conftest import ROOT


class InlineScriptFinder(HTMLParser):
    """Collects what a strict script-src would block: <script> without src
    (JSON data blocks excepted, browsers do not run them), on* attributes,
    and javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if (
            tag == "script"
            and "src" not in attrs
            and attrs.get("type") not in ("application/json", "application/ld+json")
        ):
            self.found.append(f"inline <script> {attrs}")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value}>")


def inline_script_in(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.found


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_strict(response, url):
    csp = policy(response)
    assert csp, f"{url}: no Content-Security-Policy"
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts == ["'self'"], (url, scripts)
    assert "'unsafe-inline'" not in csp.get("style-src", []) and "'unsafe-eval'" not in scripts
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    if "text/html" in response.headers.get("Content-Type", ""):
        assert inline_script_in(response.content.decode()) == [], url


ANONYMOUS = [
    "/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/confirm-email/",
    "/accounts/confirm-email/not-a-key/",
    "/healthz",
    "/no-such-page/",
    "/admin/login/",
]


@pytest.mark.parametrize("url", ANONYMOUS)
def test_anonymous_pages(client, db, url):
    assert_strict(client.get(url), url)


def signed_in_urls(job) -> list[str]:
    return [
        "/",
        "/videos/",
        "/videos/new/",
        "/videos/batch/",
        "/videos/notices/",
        f"/videos/{job.pk}/",
        f"/videos/{job.pk}/status.json",
        "/billing/",
        "/accounts/password_change/",
        "/accounts/email/",
    ]


def test_signed_in_pages(alice_client, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded")
    job.video_file.save("videos/x.mp4", ContentFile(b"\x00\x00\x00\x08ftyp"), save=True)
    for url in signed_in_urls(job):
        assert_strict(alice_client.get(url), url)


def test_admin_pages(admin_client, alice):
    provider_balance_record(credits=1000)
    breaker_trip(reason="Provider answered 402")
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="failed")
    wallet = Wallet.objects.get(user=alice)
    urls = [
        "/admin/",
        "/admin/videos/job/",
        f"/admin/videos/job/{job.pk}/change/",
        "/admin/billing/ledgerentry/",
        "/admin/billing/wallet/",
        f"/admin/billing/wallet/{wallet.pk}/change/",
        f"/admin/billing/wallet/{wallet.pk}/adjust/",
        "/admin/billing/price/",
        "/admin/billing/breakerstate/",
        "/admin/billing/breakerstate/reset/",
        "/admin/billing/providerbalance/",
        "/admin/billing/providerbalance/reconciliation/",
        "/admin/auth/user/",
        f"/admin/auth/user/{alice.pk}/change/",
        "/admin/account/emailaddress/",
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_strict(response, url)


SCRIPT_TAG = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_inline_script_or_handlers():
    """Every template, rendered by a test or not."""
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert len(templates) > 20
    offenders = [
        str(path.relative_to(ROOT))
        for path in templates
        if SCRIPT_TAG.search(path.read_text()) or HANDLER.search(path.read_text())
    ]
    assert offenders == []


def test_the_language_switcher_works_without_inline_script(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert "data-autosubmit" in html and "/static/js/app.js" in html  # app.js submits it on change
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302

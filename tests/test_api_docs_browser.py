"""The API's documentation page in a real browser (Debian's Chromium through
Playwright): Swagger UI runs from our own static files under the site's
Content-Security-Policy and shows every operation of the schema."""

import os
import shutil
import time

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def test_the_docs_page_renders_every_operation_under_the_csp(live):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in this thread
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(live.url) else None)
            response = page.goto(f"{live.url}/api/v1/docs")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            deadline = time.monotonic() + 20
            while page.evaluate("document.querySelectorAll('.opblock').length") < 8:
                assert time.monotonic() < deadline, "Swagger UI did not render the operations"
                time.sleep(0.2)
            assert "Veo Studio API" in page.inner_text(".swagger-ui .info")
            paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)")
            assert {"/api/v1/videos", "/api/v1/videos/{video_id}", "/api/v1/balance"} <= {p.strip() for p in paths}
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    assert problems == []  # no CSP violation, no request leaving our own site

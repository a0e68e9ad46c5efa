"""The API's documentation page in a real browser (Debian's Chromium through
Playwright, the session's one browser): Swagger UI runs from our own static
files under the site's Content-Security-Policy and shows every operation of
the schema."""

import pytest

from .conftest import browser_context

pytestmark = pytest.mark.slow


def test_the_docs_page_renders_every_operation_under_the_csp(live, browser):
    context = browser_context(browser, live)
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(live.url) else None)
        response = page.goto(f"{live.url}/api/v1/docs")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.locator(".opblock").nth(7).wait_for(timeout=20_000)  # Swagger UI drew eight operations
        assert "Veo Studio API" in page.inner_text(".swagger-ui .info")
        paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)")
        assert {"/api/v1/videos", "/api/v1/videos/{video_id}", "/api/v1/balance"} <= {p.strip() for p in paths}
    finally:
        context.close()
    assert problems == []  # no CSP violation, no request leaving our own site

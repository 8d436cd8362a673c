"""/docs in headless Chromium: Swagger UI served by the API itself, under its own CSP, listing
the operations of /openapi.json, and asking nothing of any other origin."""

from __future__ import annotations

from urllib.parse import urlsplit


def test_docs_page_lists_the_operations_with_only_its_own_assets(api_server, browser_context):
    page = browser_context.new_page()
    console, requests = [], []
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda request: requests.append(request.url))

    response = page.goto(f"{api_server.origin}/docs")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp

    try:
        page.wait_for_selector(".opblock", timeout=20_000)
    except Exception:
        print("CONSOLE", console)
        print("REQUESTS", requests)
        print(page.content()[:3000])
        raise
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    normalised = {path.replace("\u200b", "").strip() for path in paths}
    for expected in (
        "/v1/applications",
        "/v1/applications/{application_id}",
        "/v1/applications/stats",
        "/v1/auth/login",
        "/v1/users/me",
    ):
        assert expected in normalised, sorted(normalised)
    assert page.locator(".opblock-get").count() >= 5
    assert page.locator(".opblock-post").count() >= 5

    origins = {
        f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        for url in requests
        if not url.startswith("data:")
    }
    assert origins == {api_server.origin}
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []
    page.close()

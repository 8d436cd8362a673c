"""A real browser session across two hosts of one site, as in production: the page on
https://app.jat.test, the API on https://api.jat.test (gunicorn, TLS, the session PostgreSQL).

The page keeps its tokens in memory only and calls the API with fetch(..., {credentials:
"include"}). A reload loses the access token; the HttpOnly refresh cookie, sent cross-origin,
gets the CSRF token back, and the session carries on: refresh, me, logout."""

from __future__ import annotations

import secrets
import sys
from urllib.parse import quote

import pytest

from tests.e2e import browser as e2e

pytestmark = pytest.mark.postgres

PASSWORD = "correct-horse-battery-staple-42"
COOKIE = "jat_refresh"
DEVICE_COOKIE = "__Host-jat_device"


def refresh_cookie(context, api_origin: str) -> dict | None:
    """The refresh cookie the browser would send to POST /v1/auth/refresh, if any."""
    sent = context.cookies(f"{api_origin}/v1/auth/refresh")
    found = [cookie for cookie in sent if cookie["name"] == COOKIE]
    assert len(found) <= 1, found
    return found[0] if found else None


def run(page, script: str, *args) -> dict:
    """Call a step of window.session on the page; each step also writes itself into the DOM."""
    step = page.evaluate(script, list(args))
    shown = page.locator(f"#step-{step['name']}")
    assert shown.get_attribute("data-status") == str(step["status"]), step
    return step


def test_login_reload_csrf_refresh_me_logout_in_chromium(
    chromium, api_server, page_server, browser_context
):
    email = f"browser-{secrets.token_hex(6)}@example.com"
    status, body = api_server.request(
        "POST", "/v1/auth/register", {"email": email, "password": PASSWORD}
    )
    assert status == 201, body

    page = browser_context.new_page()
    url = f"{page_server.origin}/session.html?api={quote(api_server.origin, safe='')}"
    response = page.goto(url)  # a certificate Chromium did not trust would raise here
    assert response is not None and response.ok
    assert page.evaluate("location.origin") == page_server.origin
    assert page.locator("#api").text_content() == api_server.origin
    assert page_server.origin != api_server.origin

    # 1. Login: the access token and the CSRF token stay in the page's memory; the refresh
    #    token goes into a cookie of the API host that the page cannot read.
    login = run(page, "([email, password]) => session.login(email, password)", email, PASSWORD)
    assert login["status"] == 200, login
    data = login["body"]["data"]
    assert data["token_type"] == "Bearer"
    assert data["access_token"] and data["csrf_token"]
    assert data["expires_in"] > 0
    assert data["user"]["email"] == email
    user_id = data["user"]["id"]
    memory = page.evaluate("session.memory()")
    assert memory["accessToken"] == data["access_token"]
    assert memory["csrfToken"] == data["csrf_token"]
    assert memory["documentCookie"] == ""

    cookie = refresh_cookie(browser_context, api_server.origin)
    assert cookie is not None, "the browser did not store the refresh cookie"
    assert cookie["domain"] == e2e.API_HOST  # host-only: no Domain attribute
    assert cookie["path"] == "/v1/auth"
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["expires"] > 0  # persistent: it survives a browser restart, not only a reload
    # The browser's cookies belong to the API host; the app host has none. Besides the refresh
    # cookie, the login set the device cookie: host-only, Path=/, HttpOnly, Secure.
    assert sorted((c["name"], c["domain"]) for c in browser_context.cookies()) == [
        (DEVICE_COOKIE, e2e.API_HOST),
        (COOKIE, e2e.API_HOST),
    ]
    device = next(c for c in browser_context.cookies() if c["name"] == DEVICE_COOKIE)
    assert (device["path"], device["httpOnly"], device["secure"]) == ("/", True, True)
    login_cookie = cookie["value"]

    # 2. Reload: everything in memory is gone, and nothing the page can read holds a token.
    page.reload()
    memory = page.evaluate("session.memory()")
    assert memory == {"accessToken": None, "csrfToken": None, "documentCookie": ""}
    assert page.locator("#steps li").count() == 0

    # 3. GET /v1/auth/csrf: only the cookie, sent cross-origin with credentials, identifies the
    #    session, and the family's CSRF token comes back.
    csrf = run(page, "() => session.csrf()")
    assert csrf["status"] == 200, csrf
    assert csrf["body"]["data"]["csrf_token"] == data["csrf_token"]

    # 4. Refresh with X-CSRF-Token: a new access token, and the cookie rotates.
    refreshed = run(page, "() => session.refresh()")
    assert refreshed["status"] == 200, refreshed
    new = refreshed["body"]["data"]
    assert new["token_type"] == "Bearer"
    assert new["access_token"] and new["access_token"] != data["access_token"]
    assert new["csrf_token"]
    assert new["user"]["id"] == user_id
    rotated = refresh_cookie(browser_context, api_server.origin)
    assert rotated is not None and rotated["httpOnly"] and rotated["secure"]
    assert rotated["value"] != login_cookie
    memory = page.evaluate("session.memory()")
    assert memory["accessToken"] == new["access_token"]
    assert memory["documentCookie"] == ""

    # 5. GET /v1/users/me with the new bearer token.
    me = run(page, "() => session.me()")
    assert me["status"] == 200, me
    assert me["body"]["data"]["id"] == user_id
    assert me["body"]["data"]["email"] == email

    # HttpOnly, seen from the API host itself: a document at /v1/auth on api.jat.test, where the
    # cookie's host and path both match, can read a script-set cookie but not the refresh cookie.
    api_page = browser_context.new_page()
    api_page.goto(f"{api_server.origin}/v1/auth/csrf")
    api_page.evaluate("() => { document.cookie = 'probe=1; Path=/v1/auth; Secure'; }")
    visible = api_page.evaluate("document.cookie")
    assert "probe=1" in visible  # document.cookie does work on this document
    assert COOKIE not in visible and DEVICE_COOKIE not in visible
    api_page.evaluate("() => { document.cookie = 'probe=; Path=/v1/auth; Secure; Max-Age=0'; }")
    api_page.close()
    assert sorted(c["name"] for c in browser_context.cookies()) == [DEVICE_COOKIE, COOKIE]

    # 6. Logout: 204, the family is revoked and the browser drops the cookie.
    logout = run(page, "() => session.logout()")
    assert logout["status"] == 204, logout
    assert logout["body"] is None
    assert refresh_cookie(browser_context, api_server.origin) is None
    # The device stays known after logout: only the refresh cookie is gone.
    assert [c["name"] for c in browser_context.cookies()] == [DEVICE_COOKIE]

    # 7. A refresh after logout fails: the browser has no cookie left to send...
    after = run(page, "() => session.refresh('refresh-after-logout')")
    assert after["status"] == 401, after
    assert after["body"]["error"]["code"] == "REFRESH_TOKEN_MISSING"

    # ...and the last cookie, put back into the browser, is refused too: logout revoked it on
    # the server, it did not only clear it in the browser.
    browser_context.add_cookies(
        [
            {
                "name": COOKIE,
                "value": rotated["value"],
                "domain": e2e.API_HOST,
                "path": "/v1/auth",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    replayed = run(page, "() => session.refresh('refresh-with-revoked-cookie')")
    assert replayed["status"] == 401, replayed
    assert replayed["body"]["error"]["code"] == "SESSION_REVOKED"
    assert page.evaluate("window.steps.map(step => step.name)") == [
        "csrf",
        "refresh",
        "me",
        "logout",
        "refresh-after-logout",
        "refresh-with-revoked-cookie",
    ]


def test_chromium_verifies_the_test_certificate(chromium, page_server, browser_context):
    """The NSS trust is a real trust: the test CA's chain and host names are checked, so the
    session test's HTTPS is not HTTPS with the errors switched off."""
    from playwright.sync_api import Error as PlaywrightError

    page = browser_context.new_page()
    response = page.goto(f"{page_server.origin}/session.html")
    assert response is not None and response.ok
    security = response.security_details()
    assert security is not None and security["protocol"].startswith("TLS")
    # The same server, reached under a name its certificate does not carry, is refused.
    with pytest.raises(PlaywrightError, match="ERR_CERT_COMMON_NAME_INVALID"):
        page.goto(f"https://127.0.0.1:{page_server.port}/session.html")


def test_missing_browser_tool_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the Debian package no-such-pkg"):
        e2e.require_executable("/nonexistent/jat-browser", "no-such-pkg")


def test_missing_browser_tool_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this is a failure"):
        e2e.require_executable("/nonexistent/jat-browser", "no-such-pkg")


def test_present_tool_is_found(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert e2e.require_executable(sys.executable, "python3") == sys.executable

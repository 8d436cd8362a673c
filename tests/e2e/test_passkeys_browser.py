"""Passkeys in a real browser: headless Chromium with its virtual authenticator (the Chrome
DevTools Protocol's WebAuthn domain), on the page the browser session test uses
(tests/e2e/static/session.html on https://app.jat.test, the API on https://api.jat.test).

The API's FRONTEND_URL is the page's origin (tests/e2e/conftest.py), so the relying party id
the API derives from it, ``app.jat.test``, is the page's own host, as WebAuthn requires: the
browser refuses a ceremony whose RP id is not the page's host or one of its parents.
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import quote

import pytest

from app.core.clock import system_clock
from app.core.database import init_database, make_database, user_transaction
from app.core.settings import Settings
from app.models import Passkey
from app.services.passkeys import (
    ChallengeInvalid,
    PasskeyRejected,
    PasskeyService,
    ticket_binding,
)
from app.services.rate_limit import RateLimiter
from tests.e2e import browser as e2e
from tests.e2e.test_browser_session import PASSWORD, refresh_cookie, run
from tests.passkey_authenticator import b64url, from_b64url

pytestmark = pytest.mark.postgres

# A platform authenticator with user verification, as a laptop's fingerprint reader is.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture
def passkeys(db_env, page_server, api_server) -> PasskeyService:
    """The passkey service as the API under gunicorn has it (same database, same
    FRONTEND_URL), for the checks the page cannot make itself."""
    config = Settings.from_env(
        {**db_env, "FRONTEND_URL": page_server.origin, "API_URL": api_server.origin}
    )
    init_database(config.database_url, config)
    limiter = RateLimiter(
        make_database(config.database_url, config, application_name="passkey-browser-test"),
        system_clock,
        scale=1,
        fail_closed=False,
    )
    return PasskeyService(config.frontend_url, limiter=limiter, clock=system_clock)


def virtual_authenticator(context, page) -> tuple[object, str]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    return cdp, added["authenticatorId"]


def stored_credentials(cdp, authenticator_id: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def signed_in_page(browser_context, api_server, page_server):
    email = f"passkey-{secrets.token_hex(6)}@example.com"
    status, body = api_server.request(
        "POST", "/v1/auth/register", {"email": email, "password": PASSWORD}
    )
    assert status == 201, body
    page = browser_context.new_page()
    url = f"{page_server.origin}/session.html?api={quote(api_server.origin, safe='')}"
    response = page.goto(url)
    assert response is not None and response.ok
    login = run(page, "([email, password]) => session.login(email, password)", email, PASSWORD)
    assert login["status"] == 200, login
    return page, email, uuid.UUID(login["body"]["data"]["user"]["id"])


def test_register_assert_step_up_and_sign_in_with_chromiums_virtual_authenticator(
    chromium, api_server, page_server, browser_context, passkeys
):
    page, email, user_id = signed_in_page(browser_context, api_server, page_server)
    cdp, authenticator_id = virtual_authenticator(browser_context, page)

    # Registration: options from the API, navigator.credentials.create in the page, the
    # credential's toJSON() back to the API.
    registered = run(page, "([name]) => session.passkeyRegister(name)", "Virtual laptop")
    assert registered["status"] == 201, registered
    passkey = registered["body"]["data"]
    assert passkey["name"] == "Virtual laptop"
    assert passkey["transports"] == ["internal"]
    options = page.evaluate("window.steps.find(step => step.name === 'passkey-options')")
    assert options["body"]["data"]["rp"]["id"] == e2e.APP_HOST
    held = stored_credentials(cdp, authenticator_id)
    assert len(held) == 1
    assert held[0]["rpId"] == e2e.APP_HOST
    credential_id = from_b64url(held[0]["credentialId"].replace("+", "-").replace("/", "_"))

    # Assertion: options allowing this account's passkeys only, navigator.credentials.get in
    # the page, verified by the service (signature, origin, RP id, counter).
    binding = ticket_binding(uuid.uuid4())
    request = passkeys.assertion_options(user_id, binding)
    assert [c["id"] for c in request["allowCredentials"]] == [b64url(credential_id)]
    got = run(page, "([options]) => session.passkeyGet(options, 'passkey-get')", request)
    assert got["status"] == 200, got
    assert got["credential"]["rawId"] == b64url(credential_id)
    used = passkeys.verify_assertion(user_id, binding, got["credential"], None)
    assert used["id"] == passkey["id"] and used["last_used_at"] is not None
    counter = stored_credentials(cdp, authenticator_id)[0]["signCount"]
    with user_transaction(user_id):
        assert Passkey.get_by_id(uuid.UUID(passkey["id"])).sign_count == counter

    # The same signed answer a second time: the challenge is spent.
    with pytest.raises(ChallengeInvalid):
        passkeys.verify_assertion(user_id, binding, got["credential"], None)

    # Removing the passkey needs a step-up; the passkey itself gives one.
    refused = run(page, "([id]) => session.passkeyRemove(id, 'remove-refused')", passkey["id"])
    assert refused["status"] == 403, refused
    assert refused["body"]["error"]["code"] == "STEP_UP_REQUIRED"
    stepped = run(page, "() => session.passkeyStepUp()")
    assert stepped["status"] == 204, stepped

    # A full sign-in over HTTP with the passkey as the second factor: the password step
    # answers a ticket and no session, the assertion is bound to the ticket, and the answer is
    # the normal login answer with the refresh cookie.
    assert run(page, "() => session.logout()")["status"] == 204
    assert refresh_cookie(browser_context, api_server.origin) is None
    page.reload()  # a fresh page: its step list starts again; the authenticator stays
    login = run(page, "([email, password]) => session.login(email, password)", email, PASSWORD)
    assert login["status"] == 200, login
    challenge = login["body"]["data"]
    assert challenge["mfa_required"] is True and challenge["methods"] == ["passkey"]
    assert "access_token" not in challenge
    assert refresh_cookie(browser_context, api_server.origin) is None
    signed = run(page, "([ticket]) => session.passkeyLogin(ticket)", challenge["mfa_ticket"])
    assert signed["status"] == 200, signed
    session = signed["body"]["data"]
    assert session["token_type"] == "Bearer" and session["access_token"]
    assert session["user"]["email"] == email
    assert refresh_cookie(browser_context, api_server.origin) is not None
    me = run(page, "() => session.me()")
    assert me["status"] == 200 and me["body"]["data"]["mfa"]["passkeys"] == 1
    assert run(page, "() => session.refresh()")["status"] == 200  # a refresh never asks again

    # Options for this page's origin answered by another account's session are refused: the
    # browser's signature is for this account's credential only.
    other_page, _, _ = signed_in_page(browser_context, api_server, page_server)
    other_cdp, other_authenticator = virtual_authenticator(browser_context, other_page)
    other = run(other_page, "([name]) => session.passkeyRegister(name)", "Other laptop")
    assert other["status"] == 201, other
    request = passkeys.assertion_options(user_id, binding)
    request["allowCredentials"] = []  # let the other authenticator answer
    foreign = run(other_page, "([options]) => session.passkeyGet(options, 'foreign')", request)
    assert foreign["status"] == 200, foreign
    with pytest.raises(PasskeyRejected):
        passkeys.verify_assertion(user_id, binding, foreign["credential"], None)
    assert stored_credentials(other_cdp, other_authenticator)

    # The ticket's sign-in counted as a step-up: the passkey can go now.
    removed = run(page, "([id]) => session.passkeyRemove(id)", passkey["id"])
    assert removed["status"] == 204, removed

"""Verified access tokens are remembered per process (app/core/security.py): a remembered token
still answers to the account's current state, its session and its expiry on every request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.core.security import AccessTokens, InvalidToken
from app.models import User
from tests.helpers import Browser, build, fast_settings, unique_email


@pytest.fixture
def env(settings):
    config = fast_settings(settings)
    app, clock, _ = build(config)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock = config, app, clock
    e.browser = lambda: Browser(app, config)
    return e


def signed_in(env) -> tuple[Browser, str]:
    browser = env.browser()
    email = unique_email()
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    # The token is verified and remembered before anything changes.
    assert browser.request("GET", "/v1/applications").status_code == 200
    return browser, email


def code(result) -> str:
    return result.json["error"]["code"]


def test_a_signed_out_session_is_refused_on_the_next_request(env):
    browser, email = signed_in(env)
    other = env.browser()
    assert other.login(email).status_code == 200
    assert other.request("POST", "/v1/auth/logout-all").status_code == 204
    assert code(browser.request("GET", "/v1/applications")) == "INVALID_TOKEN"


def test_a_revoked_session_is_refused_on_the_next_request(env):
    browser, email = signed_in(env)
    other = env.browser()
    assert other.login(email).status_code == 200
    sessions = other.request("GET", "/v1/auth/sessions").json["data"]
    first = next(each["id"] for each in sessions if not each["current"])
    assert other.request("DELETE", f"/v1/auth/sessions/{first}").status_code == 204
    assert code(browser.request("GET", "/v1/users/me")) == "INVALID_TOKEN"


def test_a_deactivated_account_is_refused_on_the_next_request(env):
    browser, email = signed_in(env)
    User.update(is_active=False).where(User.email == email).execute()
    assert code(browser.request("GET", "/v1/applications")) == "INVALID_TOKEN"


def test_a_forced_password_change_gates_the_next_request(env):
    browser, email = signed_in(env)
    User.update(force_password_change=True).where(User.email == email).execute()
    assert code(browser.request("GET", "/v1/applications")) == "PASSWORD_CHANGE_REQUIRED"


def test_a_remembered_token_still_expires(env):
    browser, _ = signed_in(env)
    env.clock.advance(seconds=env.settings.access_token_ttl_seconds + AccessTokens.LEEWAY_SECONDS)
    assert code(browser.request("GET", "/v1/applications")) == "INVALID_TOKEN"


def test_an_altered_token_is_verified_afresh_and_refused(env):
    browser, _ = signed_in(env)
    header, payload, signature = browser.access_token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert code(browser.request("GET", "/v1/applications", bearer=forged)) == "INVALID_TOKEN"
    assert browser.request("GET", "/v1/applications").status_code == 200


def test_the_cache_is_bounded_and_refused_tokens_are_not_kept(settings):
    tokens = AccessTokens(fast_settings(settings), cache_size=3)
    issued = [tokens.issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))[0] for _ in range(5)]
    for token in issued:
        tokens.verify(token)
    assert list(tokens._verified) == issued[-3:]
    with pytest.raises(InvalidToken):
        tokens.verify("not.a.token")
    assert "not.a.token" not in tokens._verified

"""Accounts and sessions through HTTP (falcon.testing) on the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.integrations.email import EmailDeliveryError
from app.models import RateLimitCounter, SecurityEvent, User
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email


@pytest.fixture
def env(settings):
    """A fresh app with a controllable clock, an outbox and a live environment mapping."""
    config = fast_settings(settings)
    app, clock, outbox = build(config)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock, e.outbox = config, app, clock, outbox
    e.browser = lambda **kw: Browser(app, config, **kw)
    return e


def error_code(result) -> str:
    assert result.json["success"] is False, result.text
    return result.json["error"]["code"]


def signed_in(env, email=None):
    browser = env.browser()
    email = email or unique_email()
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    return browser, email


def family_of(refresh_cookie: str):
    from app.core.security import token_digest
    from app.models import RefreshToken

    return RefreshToken.get(RefreshToken.token_hash == token_digest(refresh_cookie)).family_id


def age_password(email: str, *, days: int) -> None:
    User.update(password_changed_at=User.password_changed_at - timedelta(days=days)).where(
        User.email == email
    ).execute()


# ----- registration ------------------------------------------------------------------------


def test_register_creates_an_account(env):
    email = unique_email("ada")
    result = env.browser().register(email.upper())
    assert result.status_code == 201
    data = result.json["data"]
    assert data["email"] == email  # normalised
    assert data["email_verified"] is False
    assert data["must_change_password"] is False


def test_register_existing_email_is_409_regardless_of_case(env):
    email = unique_email()
    browser = env.browser()
    browser.register(email)
    assert error_code(browser.register(email.upper())) == "EMAIL_TAKEN"


def test_thirteen_character_password_is_refused_with_a_field_error(env):
    result = env.browser().register(unique_email(), "a" * 6 + "b" * 7)
    assert result.status_code == 422
    assert result.json["error"]["details"] == [
        {"field": "password", "message": "must be at least 14 characters"}
    ]


def test_sixteen_character_password_is_accepted(env):
    assert env.browser().register(unique_email(), "tangerine-orbit9").status_code == 201


@pytest.mark.parametrize("password", ["qwertyuiop12345", "1qaz2wsx3edc4rfv", "MichaelJackson"])
def test_common_passwords_are_refused(env, password):
    result = env.browser().register(unique_email(), password)
    assert result.status_code == 422
    assert "too common" in result.json["error"]["details"][0]["message"]


def test_password_equal_to_the_email_is_refused(env):
    email = unique_email("longname")
    result = env.browser().register(email, email.upper())
    assert result.status_code == 422
    assert any("email" in d["message"] for d in result.json["error"]["details"])


def test_password_over_the_byte_cap_is_refused(env):
    result = env.browser().register(unique_email(), "é" * 600)  # 1200 bytes, 600 characters
    assert result.status_code == 422


def test_invalid_email_and_unknown_fields_are_422(env):
    browser = env.browser()
    bad_email = browser.register("not-an-email")
    assert bad_email.json["error"]["details"][0]["field"] == "email"
    extra = browser.request(
        "POST",
        "/v1/auth/register",
        json={"email": unique_email(), "password": STRONG_PASSWORD, "admin": True},
    )
    assert extra.status_code == 422
    assert extra.json["error"]["details"][0]["field"] == "admin"


def test_email_failure_still_creates_the_account_and_the_email_is_retried(env, capsys):
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    env.outbox.fail_with = EmailDeliveryError("resend", "HTTP 503")
    email = unique_email()
    result = env.browser().register(email)
    assert result.status_code == 201
    assert User.get(User.email == email)
    assert env.outbox.messages == []
    logged = [
        line for line in capsys.readouterr().out.splitlines() if "email_delivery_failed" in line
    ]
    assert logged and "HTTP 503" in logged[0]
    env.outbox.fail_with = None
    env.clock.advance(seconds=env.settings.outbox_retry_base_seconds)
    assert [m.to for m in env.outbox.messages] == [email]


# ----- login -------------------------------------------------------------------------------


def test_login_returns_the_contract_and_a_locked_down_cookie(env):
    email = unique_email()
    browser = env.browser()
    browser.register(email)
    result = browser.login(email)
    assert result.status_code == 200
    data = result.json["data"]
    assert set(data) == {"access_token", "token_type", "expires_in", "csrf_token", "user"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 900
    assert set(data["user"]) == {
        "id",
        "email",
        "email_verified",
        "must_change_password",
        "password_changed_at",
    }
    cookie = result.cookies["jat_refresh"]
    assert cookie.http_only and cookie.secure
    assert cookie.path == "/v1/auth"
    assert cookie.same_site == "Lax"
    assert len(cookie.value) >= 43  # 256 bits, base64url


def test_wrong_password_and_unknown_account_look_the_same(env):
    email = unique_email()
    browser = env.browser()
    browser.register(email)
    wrong = browser.login(email, "definitely-not-it-123")
    unknown = browser.login(unique_email(), "definitely-not-it-123")
    assert wrong.status_code == unknown.status_code == 401
    assert error_code(wrong) == error_code(unknown) == "INVALID_CREDENTIALS"
    assert wrong.json["error"]["message"] == unknown.json["error"]["message"]


def test_unknown_account_still_costs_one_verify(settings):
    from app.core.security import PasswordHashing

    class CountingHashing(PasswordHashing):
        verifies = 0

        def verify(self, password_hash, password):
            CountingHashing.verifies += 1
            return super().verify(password_hash, password)

    config = fast_settings(settings)
    from app.main import create_app
    from tests.helpers import FakeClock, Outbox

    app = create_app(
        config, clock=FakeClock(), email_sender=Outbox(), hashing=CountingHashing(config)
    )
    browser = Browser(app, config)
    assert browser.login(unique_email(), "some-password-123").status_code == 401
    assert CountingHashing.verifies == 1


def test_me_reads_current_state_on_every_request(env):
    browser, email = signed_in(env)
    assert browser.request("GET", "/v1/users/me").json["data"]["email"] == email
    User.update(is_active=False).where(User.email == email).execute()
    assert error_code(browser.request("GET", "/v1/users/me")) == "INVALID_TOKEN"


def test_rehash_on_login_when_parameters_change(env, settings):
    browser, email = signed_in(env)
    old_hash = User.get(User.email == email).password_hash
    assert "t=1" in old_hash
    stronger = fast_settings(settings, argon2_time_cost=2)
    app, _, _ = build(stronger)
    assert Browser(app, stronger).login(email).status_code == 200
    new_hash = User.get(User.email == email).password_hash
    assert new_hash != old_hash and "t=2" in new_hash


# ----- refresh, reuse, CSRF -----------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_whole_family(env):
    browser, email = signed_in(env)
    first_cookie = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200
    newest_cookie = browser.cookies["jat_refresh"]
    assert newest_cookie != first_cookie

    env.clock.advance(seconds=env.settings.refresh_grace_seconds + 1)
    browser.cookies["jat_refresh"] = first_cookie  # replay the rotated token, after the grace
    reused = browser.refresh()
    assert reused.status_code == 401
    assert error_code(reused) == "REFRESH_TOKEN_REUSED"

    browser.cookies["jat_refresh"] = newest_cookie  # the newest one died with its family
    assert error_code(browser.refresh()) == "SESSION_REVOKED"
    assert error_code(browser.request("GET", "/v1/users/me")) == "INVALID_TOKEN"
    owner = User.get(User.email == email)
    event = SecurityEvent.get(
        SecurityEvent.user == owner, SecurityEvent.event_type == "refresh_token_reused"
    )
    assert event.details == {"family_id": str(family_of(first_cookie))}


def test_an_expired_access_token_is_refused_over_http(env):
    browser, _ = signed_in(env)
    assert browser.request("GET", "/v1/users/me").status_code == 200
    env.clock.advance(seconds=env.settings.access_token_ttl_seconds - 1)
    assert browser.request("GET", "/v1/users/me").status_code == 200
    # Past the lifetime and the 5-second leeway for clock skew between instances.
    env.clock.advance(seconds=7)
    expired = browser.request("GET", "/v1/users/me")
    assert expired.status_code == 401
    assert error_code(expired) == "INVALID_TOKEN"
    assert expired.headers["www-authenticate"] == 'Bearer realm="api"'
    # The session itself is still alive: a refresh gives a working access token.
    assert browser.refresh().status_code == 200
    assert browser.request("GET", "/v1/users/me").status_code == 200


def test_refresh_returns_must_change_password(env):
    browser, _ = signed_in(env)
    result = browser.refresh()
    assert result.json["data"]["user"]["must_change_password"] is False


def test_refresh_needs_the_frontend_origin(env):
    browser, _ = signed_in(env)
    missing = browser.refresh(origin=False)
    assert error_code(missing) == "ORIGIN_NOT_ALLOWED"
    message = missing.json["error"]["message"]
    assert "no Origin header" in message
    assert f"expected Origin: {env.settings.frontend_url}" in message  # named outside production
    wrong = browser.refresh(origin="https://evil.example")
    assert error_code(wrong) == "ORIGIN_NOT_ALLOWED"
    message = wrong.json["error"]["message"]
    assert "no Origin" not in message
    assert f"expected Origin: {env.settings.frontend_url}" in message


def test_production_refusal_does_not_name_the_expected_origin():
    from app.routes.auth import origin_refusal

    expected = "https://app.example.com"
    for origin in (None, "https://evil.example"):
        message = origin_refusal(origin, expected, production=True)
        assert expected not in message and "FRONTEND_URL" not in message
    assert "no Origin header" in origin_refusal(None, expected, production=True)
    assert "no Origin header" not in origin_refusal("https://evil.example", expected, True)


@pytest.mark.parametrize("csrf", ["", "forged-token-value"])
def test_refresh_with_missing_or_wrong_csrf_is_403(env, csrf):
    browser, _ = signed_in(env)
    result = browser.refresh(csrf=csrf)
    assert result.status_code == 403
    assert error_code(result) == "CSRF_FAILED"


def test_csrf_token_of_another_family_is_403(env):
    browser, email = signed_in(env)
    other = env.browser()
    other.login(email)
    assert error_code(browser.refresh(csrf=other.csrf)) == "CSRF_FAILED"


def test_csrf_endpoint_gives_the_token_to_a_reloaded_page(env):
    browser, _ = signed_in(env)
    result = browser.request("GET", "/v1/auth/csrf")
    assert result.status_code == 200
    assert result.json["data"]["csrf_token"] == browser.csrf
    assert error_code(browser.request("GET", "/v1/auth/csrf", origin=False)) == (
        "ORIGIN_NOT_ALLOWED"
    )
    assert error_code(env.browser().request("GET", "/v1/auth/csrf")) == "REFRESH_TOKEN_MISSING"


def test_logout_revokes_the_family_and_clears_the_cookie(env):
    browser, _ = signed_in(env)
    cookie = browser.cookies["jat_refresh"]
    assert (
        browser.request("POST", "/v1/auth/logout", headers={"X-CSRF-Token": "x"}).status_code == 403
    )
    result = browser.request("POST", "/v1/auth/logout", headers={"X-CSRF-Token": browser.csrf})
    assert result.status_code == 204
    assert "jat_refresh" not in browser.cookies
    browser.cookies["jat_refresh"] = cookie
    assert error_code(browser.refresh()) == "SESSION_REVOKED"


def test_logout_all_revokes_every_family(env):
    browser, email = signed_in(env)
    other = env.browser()
    other.login(email)
    assert browser.request("POST", "/v1/auth/logout-all").status_code == 204
    assert error_code(other.refresh()) == "SESSION_REVOKED"
    assert error_code(other.request("GET", "/v1/users/me")) == "INVALID_TOKEN"


def test_logout_all_needs_a_bearer_token(env):
    assert error_code(env.browser().request("POST", "/v1/auth/logout-all")) == (
        "AUTHENTICATION_REQUIRED"
    )


def test_sessions_list_and_revoke(env):
    browser, email = signed_in(env)
    other = env.browser()
    other.login(email)
    sessions = browser.request("GET", "/v1/auth/sessions").json["data"]
    assert len(sessions) == 2
    assert sorted(s["current"] for s in sessions) == [False, True]
    other_id = next(s["id"] for s in sessions if not s["current"])
    assert browser.request("DELETE", f"/v1/auth/sessions/{other_id}").status_code == 204
    assert error_code(other.request("GET", "/v1/users/me")) == "INVALID_TOKEN"
    again = browser.request("DELETE", f"/v1/auth/sessions/{other_id}")
    assert again.status_code == 404


def test_another_users_session_id_is_404(env):
    alice, _ = signed_in(env)
    bob, _ = signed_in(env)
    bob_session = bob.request("GET", "/v1/auth/sessions").json["data"][0]["id"]
    assert alice.request("DELETE", f"/v1/auth/sessions/{bob_session}").status_code == 404
    assert bob.request("GET", "/v1/users/me").status_code == 200


# ----- password change and reset ------------------------------------------------------------


def test_change_password_revokes_other_sessions_and_keeps_this_one(env):
    browser, email = signed_in(env)
    other = env.browser()
    other.login(email)
    wrong = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": "not-the-password", "new_password": "brand-new-secret-99"},
    )
    assert wrong.json["error"]["details"][0]["field"] == "current_password"
    weak = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "short"},
    )
    assert weak.json["error"]["details"][0]["field"] == "new_password"
    done = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "brand-new-secret-99"},
    )
    assert done.status_code == 204
    assert browser.request("GET", "/v1/users/me").status_code == 200
    assert error_code(other.request("GET", "/v1/users/me")) == "INVALID_TOKEN"
    assert env.browser().login(email, "brand-new-secret-99").status_code == 200


def test_password_reset_always_202_and_resets_with_the_emailed_token(env):
    browser, email = signed_in(env)
    unknown = env.browser().request(
        "POST", "/v1/auth/password-reset", json={"email": unique_email()}
    )
    assert unknown.status_code == 202
    known = env.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
    assert known.status_code == 202
    assert known.json["data"] == unknown.json["data"]
    token = env.outbox.token_for(email)
    confirm = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "reset-to-this-one-7"},
    )
    assert confirm.status_code == 204
    assert error_code(browser.request("GET", "/v1/users/me")) == "INVALID_TOKEN"
    assert env.browser().login(email, "reset-to-this-one-7").status_code == 200
    reuse = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "another-one-entirely"},
    )
    assert error_code(reuse) == "TOKEN_INVALID"


def test_reset_token_expires_after_an_hour(env):
    _, email = signed_in(env)
    env.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
    token = env.outbox.token_for(email)
    env.clock.advance(minutes=61)
    result = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "reset-to-this-one-7"},
    )
    assert error_code(result) == "TOKEN_INVALID"


# ----- rotation, gates and verification -----------------------------------------------------


def test_expired_password_must_be_changed_and_gates_other_endpoints(env):
    browser, email = signed_in(env)
    age_password(email, days=91)
    login = browser.refresh()
    assert login.json["data"]["user"]["must_change_password"] is True
    me = browser.request("GET", "/v1/users/me")
    assert me.status_code == 200 and me.json["data"]["must_change_password"] is True
    gated = browser.request("GET", "/v1/users/me/security-events")
    assert gated.status_code == 403 and error_code(gated) == "PASSWORD_CHANGE_REQUIRED"
    change = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "rotated-password-2026"},
    )
    assert change.status_code == 204
    assert browser.request("GET", "/v1/users/me/security-events").status_code == 200


def test_max_age_zero_turns_expiry_off(settings):
    config = fast_settings(settings, password_max_age_days=0)
    app, clock, _ = build(config)
    browser = Browser(app, config)
    email = unique_email()
    browser.register(email)
    clock.advance(days=3650)
    assert browser.login(email).json["data"]["user"]["must_change_password"] is False


def test_verification_gate_and_toggle_without_restart(env):
    browser, email = signed_in(env)
    assert browser.request("GET", "/v1/users/me/security-events").status_code == 200
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    gated = browser.request("GET", "/v1/users/me/security-events")
    assert gated.status_code == 403 and error_code(gated) == "EMAIL_NOT_VERIFIED"
    assert browser.request("GET", "/v1/users/me").status_code == 200  # never locked out
    assert browser.request("POST", "/v1/auth/verify-email/resend").status_code == 202
    token = env.outbox.token_for(email)
    verified = env.browser().request("POST", "/v1/auth/verify-email", json={"token": token})
    assert verified.json["data"]["email_verified"] is True
    assert browser.request("GET", "/v1/users/me/security-events").status_code == 200
    again = env.browser().request("POST", "/v1/auth/verify-email", json={"token": token})
    assert error_code(again) == "TOKEN_INVALID"


def test_register_sends_verification_only_when_enabled(env):
    env.browser().register(unique_email())
    assert env.outbox.messages == []
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    email = unique_email()
    env.browser().register(email)
    assert [m.to for m in env.outbox.messages] == [email]
    assert env.settings.frontend_url + "/verify-email?token=" in env.outbox.messages[0].text


def test_both_gates_leave_the_auth_endpoints_open(env):
    browser, email = signed_in(env)
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    age_password(email, days=100)
    assert browser.refresh().status_code == 200
    assert browser.request("GET", "/v1/auth/sessions").status_code == 200
    assert (
        browser.request(
            "POST",
            "/v1/auth/password",
            json={"current_password": STRONG_PASSWORD, "new_password": "rotated-password-2026"},
        ).status_code
        == 204
    )
    gated = browser.request("GET", "/v1/users/me/security-events")
    assert error_code(gated) == "EMAIL_NOT_VERIFIED"


def test_security_events_record_who_when_ip_and_agent(env):
    # A second between the events: under the fake clock they would otherwise share one
    # created_at, and the newest-first order of equal times is PostgreSQL's to choose.
    browser, email = env.browser(), unique_email()
    assert browser.register(email).status_code == 201
    env.clock.advance(seconds=1)
    assert browser.login(email).status_code == 200
    env.clock.advance(seconds=1)
    browser.login(email, "wrong-password-here")
    events = browser.request("GET", "/v1/users/me/security-events").json["data"]
    types = [event["type"] for event in events]
    assert types[:3] == ["login_failed", "login_succeeded", "register"]
    assert all(event["ip"] == browser.ip for event in events)
    assert all(event["user_agent"] == "pytest-browser" for event in events)


# ----- rate limits ---------------------------------------------------------------------------


def test_login_rate_limit_per_ip_then_recovers(env):
    browser = env.browser()
    results = [browser.login(unique_email(), "whatever-password-1") for _ in range(31)]
    assert [r.status_code for r in results[:30]] == [401] * 30
    limited = results[30]
    assert limited.status_code == 429 and error_code(limited) == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 300
    env.clock.advance(seconds=301)
    assert browser.login(unique_email(), "whatever-password-1").status_code == 401


def test_failed_login_counter_survives_the_request_rollback(env):
    from app.core.database import db
    from app.services.auth import account_subject

    email = unique_email()
    env.browser().login(email, "wrong-password-123")
    key = f"login:account:{account_subject(email)}"
    assert RateLimitCounter.get(RateLimitCounter.key == key).count == 1
    # Counted inside a transaction that then rolls back: the limiter's own connection
    # committed it regardless.
    from app.services import rate_limit
    from app.services.rate_limit import RateLimiter

    limiter = RateLimiter(db_for_limiter(env), env.clock, scale=1, fail_closed=False)
    with pytest.raises(RuntimeError), db.atomic():
        limiter.record_failure(rate_limit.LOGIN_FAILURES_PER_ACCOUNT, account_subject(email))
        raise RuntimeError("the request failed after counting")
    assert RateLimitCounter.get(RateLimitCounter.key == key).count == 2


def db_for_limiter(env):
    from app.core.database import make_database

    return make_database(env.settings.database_url, env.settings, pool_size=1)


@pytest.mark.parametrize("fail_closed,expected", [(True, 503), (False, 401)])
def test_limiter_store_failure_follows_the_configured_policy(settings, fail_closed, expected):
    from app.bootstrap import second_factors
    from app.core.sealing import PayloadSealer
    from app.core.security import PasswordHashing
    from app.services import auth as auth_module
    from app.services.outbox import OutboxWriter
    from app.services.passkeys import PasskeyService
    from app.services.rate_limit import RateLimiter
    from tests.helpers import FakeClock

    config = fast_settings(settings, rate_limiter_fail_closed=fail_closed)
    dead = RateLimiter(db_for_limiter_url(config), FakeClock(), scale=1, fail_closed=fail_closed)
    hashing = PasswordHashing(config)
    service = auth_module.AuthService(
        config,
        hashing=hashing,
        limiter=dead,
        outbox=OutboxWriter(PayloadSealer(config), FakeClock()),
        clock=FakeClock(),
        mfa=second_factors(
            config,
            hashing,
            dead,
            FakeClock(),
            PasskeyService(config.frontend_url, limiter=dead, clock=FakeClock()),
            OutboxWriter(PayloadSealer(config), FakeClock()),
        ),
    )
    client = auth_module.ClientInfo(ip="203.0.113.9", user_agent="t")
    with pytest.raises(Exception) as caught:
        service.login(unique_email(), "password-does-not-matter", client)
    assert caught.value.status == expected


def db_for_limiter_url(config):
    from dataclasses import replace

    from app.core.database import make_database

    broken = replace(config, db_port=1)
    return make_database(broken.database_url, broken, pool_size=1)


# ----- CORS ----------------------------------------------------------------------------------


def test_cors_allows_the_frontend_with_credentials_only(env):
    browser = env.browser()
    preflight = browser.request(
        "OPTIONS",
        "/v1/auth/refresh",
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token",
        },
    )
    assert preflight.headers["access-control-allow-origin"] == env.settings.frontend_url
    assert preflight.headers["access-control-allow-credentials"] == "true"
    foreign = browser.request("GET", "/health", origin="https://evil.example")
    assert "access-control-allow-origin" not in foreign.headers


def test_refresh_family_expires_with_a_controlled_clock(env):
    browser, _ = signed_in(env)
    env.clock.advance(days=29)
    assert browser.refresh().status_code == 200
    env.clock.advance(days=2)
    assert error_code(browser.refresh()) == "SESSION_EXPIRED"


def test_cors_preflight_of_a_bearer_endpoint_needs_no_token(env):
    browser, _ = signed_in(env)
    preflight = browser.request(
        "OPTIONS",
        "/v1/users/me",
        bearer="",
        headers={
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == env.settings.frontend_url

"""Second factors through HTTP (falcon.testing) on the real PostgreSQL, under a controlled clock:
TOTP enrolment and its time steps, the MFA login ticket, recovery codes and step-up."""

from __future__ import annotations

import threading
from datetime import timedelta

import pyotp
import pytest

from app.models import MfaTicket, RateLimitCounter, RecoveryCode, SecurityEvent, TotpFactor, User
from app.services import rate_limit
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email

DEVICE_COOKIE = "__Host-jat_device"


def make_env(settings):
    """A fresh app with a controlled clock and an outbox stub, on cheap argon2 parameters."""
    config = fast_settings(settings)
    app, clock, outbox = build(config)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock, e.outbox = config, app, clock, outbox
    e.browser = lambda **kw: Browser(app, config, **kw)
    return e


@pytest.fixture
def env(settings):
    return make_env(settings)


def error_code(result) -> str:
    assert result.json["success"] is False, result.text
    return result.json["error"]["code"]


def code_at(secret: str, clock, steps: int = 0) -> str:
    """The authenticator's code ``steps`` 30-second steps from the clock's now."""
    return pyotp.TOTP(secret).at(clock.now + timedelta(seconds=30 * steps))


class Account:
    def __init__(self, env, browser: Browser, email: str, secret: str | None, codes: list[str]):
        self.env, self.browser, self.email = env, browser, email
        self.secret, self.recovery_codes = secret, codes

    def code(self, steps: int = 0) -> str:
        return code_at(self.secret, self.env.clock, steps)


def signed_in(env) -> tuple[Browser, str]:
    browser = env.browser()
    email = unique_email("mfa")
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    return browser, email


def enrolled(env, *, settle: bool = True) -> Account:
    """A fresh account with a confirmed authenticator; with ``settle`` the clock then moves
    on five minutes, so the step the confirmation used is long past."""
    browser, email = signed_in(env)
    started = browser.request("POST", "/v1/users/me/mfa/totp")
    assert started.status_code == 200, started.text
    secret = started.json["data"]["secret"]
    confirmed = browser.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": code_at(secret, env.clock)}
    )
    assert confirmed.status_code == 200, confirmed.text
    if settle:
        env.clock.advance(minutes=5)
    return Account(env, browser, email, secret, confirmed.json["data"]["recovery_codes"])


def password_step(browser: Browser, email: str):
    result = browser.request(
        "POST", "/v1/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert result.status_code == 200, result.text
    return result


def ticket_of(browser: Browser, email: str) -> str:
    data = password_step(browser, email).json["data"]
    assert data["mfa_required"] is True
    return data["mfa_ticket"]


def second_step(browser: Browser, ticket: str, **proof):
    result = browser.request("POST", "/v1/auth/login/mfa", json={"mfa_ticket": ticket, **proof})
    if result.status_code == 200:
        browser.access_token = result.json["data"]["access_token"]
        browser.csrf = result.json["data"]["csrf_token"]
    return result


# ----- enrolment ---------------------------------------------------------------------------


def test_enrolment_answers_a_secret_and_its_otpauth_uri(env):
    browser, email = signed_in(env)
    result = browser.request("POST", "/v1/users/me/mfa/totp")
    assert result.status_code == 200
    data = result.json["data"]
    assert len(data["secret"]) == 32 and pyotp.TOTP(data["secret"]).now()
    parsed = pyotp.parse_uri(data["otpauth_uri"])
    assert parsed.secret == data["secret"] and parsed.interval == 30 and parsed.digits == 6
    assert parsed.name == email and parsed.issuer == "Job App Tracker"
    assert result.headers["cache-control"] == "no-store"


def test_an_unconfirmed_enrolment_changes_nothing_for_sign_in(env):
    browser, email = signed_in(env)
    assert browser.request("POST", "/v1/users/me/mfa/totp").status_code == 200
    again = env.browser().login(email)
    assert again.status_code == 200
    assert "access_token" in again.json["data"] and "mfa_required" not in again.json["data"]
    me = browser.request("GET", "/v1/users/me").json["data"]
    assert me["mfa"] == {"totp": False, "passkeys": 0, "recovery_codes_left": 0}


def test_confirmation_needs_the_current_code_and_answers_ten_recovery_codes(env):
    browser, email = signed_in(env)
    secret = browser.request("POST", "/v1/users/me/mfa/totp").json["data"]["secret"]
    wrong = browser.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": code_at(secret, env.clock, -3)}
    )
    assert wrong.status_code == 422
    assert wrong.json["error"]["details"][0]["field"] == "code"
    right = browser.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": code_at(secret, env.clock)}
    )
    assert right.status_code == 200
    codes = right.json["data"]["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    me = browser.request("GET", "/v1/users/me").json["data"]
    assert me["mfa"] == {"totp": True, "passkeys": 0, "recovery_codes_left": 10}
    events = [e.event_type for e in SecurityEvent.select().join(User).where(User.email == email)]
    assert {"totp_enrolment_started", "mfa_factor_added"} <= set(events)


def test_the_secret_is_never_shown_after_confirmation(env):
    account = enrolled(env)
    again = account.browser.request("POST", "/v1/users/me/mfa/totp")
    assert again.status_code == 409
    assert error_code(again) == "TOTP_ALREADY_ENROLLED"
    for path in ("/v1/users/me", "/v1/users/me/security-events", "/v1/users/me/export"):
        text = account.browser.request("GET", path).text
        assert account.secret not in text, path
    confirm_again = account.browser.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": account.code()}
    )
    assert error_code(confirm_again) == "TOTP_NOT_PENDING"
    assert account.secret not in confirm_again.text


def test_the_confirmation_answers_recovery_codes_only(env):
    browser, _ = signed_in(env)
    secret = browser.request("POST", "/v1/users/me/mfa/totp").json["data"]["secret"]
    confirmed = browser.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": code_at(secret, env.clock)}
    )
    assert set(confirmed.json["data"]) == {"recovery_codes"}
    assert secret not in confirmed.text and confirmed.headers["cache-control"] == "no-store"


def test_the_secret_never_reaches_the_log(env, capsys):
    account = enrolled(env)
    browser = env.browser()
    assert (
        second_step(browser, ticket_of(browser, account.email), code=account.code()).status_code
        == 200
    )
    logged = capsys.readouterr()
    assert '"route": "/v1/users/me/mfa/totp/confirm"' in logged.out  # the log was captured
    assert account.secret not in logged.out + logged.err
    for code in account.recovery_codes:
        assert code not in logged.out + logged.err


def test_the_secret_is_stored_encrypted_bound_to_its_row(env, settings):
    from app.core.factor_sealing import FactorSealError, FactorSecretCipher, factor_key_id

    account = enrolled(env)
    row = TotpFactor.get(TotpFactor.user == User.get(User.email == account.email).id)
    stored = bytes(row.secret_sealed)
    assert account.secret.encode() not in stored
    assert row.key_id == factor_key_id(settings.mfa_encryption_key)
    cipher = FactorSecretCipher(settings)
    bound = b"totp:" + row.id.bytes + row.user_id.bytes
    assert cipher.open(stored, row.key_id, bound) == account.secret
    other = enrolled(env)
    other_row = TotpFactor.get(TotpFactor.user == User.get(User.email == other.email).id)
    with pytest.raises(FactorSealError):
        cipher.open(stored, row.key_id, b"totp:" + other_row.id.bytes + other_row.user_id.bytes)


# ----- TOTP steps: each case on a fresh enrolment --------------------------------------------


@pytest.mark.parametrize(
    "steps,accepted",
    [(0, True), (-1, True), (-2, False), (1, False)],
    ids=["current", "previous", "two-back", "one-ahead"],
)
def test_totp_accepts_the_current_and_previous_step_only(env, steps, accepted):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    result = second_step(browser, ticket, code=account.code(steps))
    assert result.status_code == (200 if accepted else 401), result.text
    if not accepted:
        assert error_code(result) == "MFA_CODE_INVALID"


def test_a_used_step_fails_the_second_time(env):
    account = enrolled(env)
    code = account.code()
    first = env.browser()
    assert second_step(first, ticket_of(first, account.email), code=code).status_code == 200
    second = env.browser()
    replay = second_step(second, ticket_of(second, account.email), code=code)
    assert replay.status_code == 401 and error_code(replay) == "MFA_CODE_INVALID"
    # Nor the step before the one used: steps only move forward.
    earlier = second_step(second, ticket_of(second, account.email), code=account.code(-1))
    assert earlier.status_code == 401
    env.clock.advance(seconds=30)
    fresh = env.browser()
    assert (
        second_step(fresh, ticket_of(fresh, account.email), code=account.code()).status_code == 200
    )


def test_two_concurrent_requests_with_the_same_code_do_not_both_succeed(env):
    """Real threads against the real PostgreSQL, one round per fresh step: exactly one of two
    simultaneous second steps with the same code wins."""
    account = enrolled(env)
    for _ in range(8):
        # Each round's loser spends the account's shared budget; start each round whole.
        RateLimitCounter.delete().where(RateLimitCounter.key.startswith("mfa:")).execute()
        env.clock.advance(seconds=30)
        browsers = [env.browser(), env.browser()]
        tickets = [ticket_of(browser, account.email) for browser in browsers]
        code = account.code()
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def attempt(browser, ticket, barrier=barrier, statuses=statuses, code=code):
            barrier.wait()
            statuses.append(second_step(browser, ticket, code=code).status_code)

        threads = [
            threading.Thread(target=attempt, args=pair)
            for pair in zip(browsers, tickets, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(statuses) == [200, 401], statuses


# ----- the login ticket --------------------------------------------------------------------


def test_password_step_answers_a_ticket_and_no_session(env):
    account = enrolled(env)
    browser = env.browser()
    result = password_step(browser, account.email)
    data = result.json["data"]
    assert data["mfa_required"] is True
    assert data["methods"] == ["totp", "recovery_code"]
    assert set(data) == {"mfa_required", "mfa_ticket", "methods"}
    assert "set-cookie" not in result.headers
    assert not result.cookies
    assert browser.request("GET", "/v1/users/me", bearer="").status_code == 401


def test_a_full_sign_in_with_totp_gives_the_normal_answer_and_cookies(env):
    account = enrolled(env)
    browser = env.browser()
    result = second_step(browser, ticket_of(browser, account.email), code=account.code())
    assert result.status_code == 200
    assert set(result.json["data"]) == {
        "access_token",
        "token_type",
        "expires_in",
        "csrf_token",
        "user",
    }
    assert "jat_refresh" in browser.cookies and DEVICE_COOKIE in browser.cookies
    assert browser.request("GET", "/v1/users/me").json["data"]["email"] == account.email
    # A refresh never asks again.
    env.clock.advance(hours=1)
    refreshed = browser.refresh()
    assert refreshed.status_code == 200 and "access_token" in refreshed.json["data"]


def test_the_ticket_cannot_be_used_twice(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    assert second_step(browser, ticket, code=account.code()).status_code == 200
    env.clock.advance(seconds=30)
    again = second_step(browser, ticket, code=account.code())
    assert again.status_code == 401 and error_code(again) == "MFA_TICKET_INVALID"


def test_the_ticket_expires_after_five_minutes(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    env.clock.advance(minutes=5, seconds=1)
    late = second_step(browser, ticket, code=account.code())
    assert late.status_code == 401 and error_code(late) == "MFA_TICKET_INVALID"


def test_the_ticket_works_just_before_it_expires(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    env.clock.advance(minutes=4, seconds=59)
    assert second_step(browser, ticket, code=account.code()).status_code == 200


def test_the_ticket_is_for_its_own_account_only(env):
    alice, bob = enrolled(env), enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, alice.email)
    with_bobs_code = second_step(browser, ticket, code=bob.code())
    assert with_bobs_code.status_code == 401
    with_bobs_recovery = second_step(browser, ticket, recovery_code=bob.recovery_codes[0])
    assert with_bobs_recovery.status_code == 401
    # Bob's code and recovery code are still his, unspent.
    other = env.browser()
    assert second_step(other, ticket_of(other, bob.email), code=bob.code()).status_code == 200
    assert (
        RecoveryCode.select()
        .join(User)
        .where(User.email == bob.email, RecoveryCode.used_at.is_null())
        .count()
        == 10
    )


def test_the_ticket_is_bound_to_the_client_that_sent_the_password(env):
    account = enrolled(env)
    ticket = ticket_of(env.browser(), account.email)
    elsewhere = second_step(env.browser(), ticket, code=account.code())
    assert elsewhere.status_code == 401 and error_code(elsewhere) == "MFA_TICKET_INVALID"


def test_a_password_change_between_the_steps_ends_the_ticket(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    User.update(password_hash=User.password_hash + "x").where(User.email == account.email).execute()
    result = second_step(browser, ticket, code=account.code())
    assert result.status_code == 401 and error_code(result) == "MFA_TICKET_INVALID"


def test_a_ticket_allows_five_wrong_factors_then_is_spent(env):
    account = enrolled(env)
    browser = env.browser(ip="203.0.113.77")
    ticket = ticket_of(browser, account.email)
    wrong = account.code(-5)
    for _ in range(4):
        assert error_code(second_step(browser, ticket, code=wrong)) == "MFA_CODE_INVALID"
    assert error_code(second_step(browser, ticket, code=wrong)) == "MFA_CODE_INVALID"
    spent = second_step(browser, ticket, code=account.code())
    assert error_code(spent) == "MFA_TICKET_INVALID"
    row = MfaTicket.get(MfaTicket.user == User.get(User.email == account.email).id)
    assert row.failed_attempts == 5 and row.used_at is not None
    events = (
        SecurityEvent.select()
        .join(User)
        .where(User.email == account.email, SecurityEvent.event_type == "mfa_failed")
        .count()
    )
    assert events == 5


def test_failed_factors_are_limited_per_account_but_a_known_device_keeps_working(env):
    account = enrolled(env)
    owner = env.browser()
    assert (
        second_step(owner, ticket_of(owner, account.email), code=account.code()).status_code == 200
    )
    assert DEVICE_COOKIE in owner.cookies
    budget = rate_limit.MFA_FAILURES_PER_ACCOUNT.limit
    attacker = env.browser()
    ticket = ticket_of(attacker, account.email)
    for _ in range(budget):
        assert second_step(attacker, ticket, code="000000").status_code == 401
    another = env.browser()
    throttled = second_step(another, ticket_of(another, account.email), code=account.code(-1))
    assert throttled.status_code == 429 and error_code(throttled) == "RATE_LIMITED"
    # The owner's known device spends its own budget: not locked out.
    env.clock.advance(seconds=30)
    ticket = ticket_of(owner, account.email)
    assert second_step(owner, ticket, code=account.code()).status_code == 200


def test_an_unknown_field_or_two_proofs_are_refused_with_a_clear_error(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    both = second_step(browser, ticket, code=account.code(), recovery_code="abcde-fghjk")
    assert both.status_code == 422
    assert "exactly one" in both.json["error"]["details"][0]["message"]
    neither = second_step(browser, ticket)
    assert neither.status_code == 422
    garbage = second_step(browser, ticket, code="12345\u0000")
    assert garbage.status_code == 422
    # The ticket is still good: validation spent nothing.
    assert second_step(browser, ticket, code=account.code()).status_code == 200


# ----- recovery codes ------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(env):
    account = enrolled(env)
    code = account.recovery_codes[3]
    browser = env.browser()
    result = second_step(browser, ticket_of(browser, account.email), recovery_code=code.upper())
    assert result.status_code == 200, result.text
    again = env.browser()
    replay = second_step(again, ticket_of(again, account.email), recovery_code=code)
    assert replay.status_code == 401 and error_code(replay) == "MFA_CODE_INVALID"
    me = browser.request("GET", "/v1/users/me").json["data"]
    assert me["mfa"]["recovery_codes_left"] == 9
    used = (
        SecurityEvent.select()
        .join(User)
        .where(User.email == account.email, SecurityEvent.event_type == "recovery_code_used")
        .get()
    )
    assert used.details == {"recovery_codes_left": 9}


def test_recovery_codes_are_stored_as_argon2id_hashes(env):
    account = enrolled(env)
    rows = list(RecoveryCode.select().join(User).where(User.email == account.email))
    assert len(rows) == 10
    for row, code in zip(rows, account.recovery_codes, strict=False):
        assert row.code_hash.startswith("$argon2id$")
        assert code.replace("-", "") not in row.code_hash


# ----- step-up -----------------------------------------------------------------------------


def test_step_up_takes_a_factor_for_an_account_with_one(env):
    account = enrolled(env)
    browser = account.browser
    refused = browser.request("POST", "/v1/auth/step-up", json={"password": STRONG_PASSWORD})
    assert refused.status_code == 422
    wrong = browser.request("POST", "/v1/auth/step-up", json={"code": account.code(-4)})
    assert wrong.status_code == 401 and error_code(wrong) == "MFA_CODE_INVALID"
    assert (
        browser.request("POST", "/v1/auth/step-up", json={"code": account.code()}).status_code
        == 204
    )
    recovery = browser.request(
        "POST", "/v1/auth/step-up", json={"recovery_code": account.recovery_codes[0]}
    )
    assert recovery.status_code == 204


def test_step_up_takes_the_password_for_an_account_without_a_factor(env):
    browser, _ = signed_in(env)
    wrong = browser.request("POST", "/v1/auth/step-up", json={"password": "not-the-password-1"})
    assert wrong.status_code == 422
    assert (
        browser.request("POST", "/v1/auth/step-up", json={"password": STRONG_PASSWORD}).status_code
        == 204
    )
    code = browser.request("POST", "/v1/auth/step-up", json={"code": "123456"})
    assert code.status_code == 422


def test_step_up_failures_are_limited_per_session(env):
    account = enrolled(env)
    browser = account.browser
    limit = rate_limit.STEP_UP_FAILURES_PER_SESSION.limit
    for _ in range(limit):
        result = browser.request("POST", "/v1/auth/step-up", json={"code": "000000"})
        assert result.status_code == 401
    refused = browser.request("POST", "/v1/auth/step-up", json={"code": account.code()})
    assert refused.status_code == 429

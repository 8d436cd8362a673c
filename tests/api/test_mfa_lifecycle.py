"""The life of second factors: step-up on every protected operation, removal and regeneration,
recovery (a reset does not skip the factor; the operator's reset-factors), notices through the
outbox, the export and account deletion."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import trustme

from app.core.security import PasswordHashing
from app.integrations.email import ConsoleSender
from app.main import assemble
from app.models import (
    MfaTicket,
    RecoveryCode,
    RefreshToken,
    SecurityEvent,
    SessionStepUp,
    TotpFactor,
    User,
)
from tests.api.test_mfa import (
    Account,
    code_at,
    enrolled,
    error_code,
    make_env,
    second_step,
    signed_in,
    ticket_of,
)
from tests.helpers import STRONG_PASSWORD, Browser, FakeClock, fast_settings, forget_queued_emails
from tests.unit import test_email_providers as smtp


@pytest.fixture
def env(settings):
    return make_env(settings)


@pytest.fixture
def smtps():
    """A local SMTPS server (aiosmtpd, a trustme certificate), as the provider tests use."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    handler = smtp.RecordingHandler()
    controller = smtp.SmtpsController(
        handler,
        hostname="127.0.0.1",
        port=0,
        ssl_context=context,
        authenticator=smtp.Authenticator(smtp.GMAIL_USER, smtp.APP_PASSWORD),
        auth_required=True,
        auth_require_tls=False,  # SMTPS: TLS from the first byte (see the provider tests)
    )
    controller.start()
    yield smtp.gmail_sender(controller, authority), handler
    controller.stop()


NEW_PASSWORD = "a-brand-new-passphrase-for-2026"
MFA_SUBJECTS = {
    "A second factor was added to your account",
    "A second factor was removed from your account",
    "A recovery code was used to sign in",
    "The second factors of your account were removed",
}
REPO = Path(__file__).resolve().parents[2]


def events_of(email: str) -> list[SecurityEvent]:
    return list(
        SecurityEvent.select()
        .join(User)
        .where(User.email == email)
        .order_by(SecurityEvent.created_at)
    )


def signs_in(browser: Browser, account: Account, **proof) -> bool:
    """Both steps of a sign-in from ``browser``; whether the second one was accepted."""
    return second_step(browser, ticket_of(browser, account.email), **proof).status_code == 200


def step_up(account: Account, browser: Browser | None = None):
    result = (browser or account.browser).request(
        "POST", "/v1/auth/step-up", json={"code": account.code()}
    )
    assert result.status_code == 204, result.text
    return result


# ----- step-up on every protected operation -------------------------------------------------


def remove_totp(account: Account):
    return account.browser.request("DELETE", "/v1/users/me/mfa/totp")


def regenerate_codes(account: Account):
    return account.browser.request("POST", "/v1/users/me/mfa/recovery-codes")


def change_password(account: Account):
    return account.browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )


def delete_account(account: Account):
    return account.browser.request("DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD})


PROTECTED = {
    "remove-totp": (remove_totp, 204),
    "regenerate-recovery-codes": (regenerate_codes, 200),
    "change-password": (change_password, 204),
    "delete-account": (delete_account, 204),
}


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_a_protected_operation_refuses_without_a_fresh_step_up_and_accepts_after_one(env, name):
    operation, success = PROTECTED[name]
    account = enrolled(env)  # the sign-in's own step-up is five minutes old by now
    env.clock.advance(seconds=1)
    refused = operation(account)
    assert refused.status_code == 403, refused.text
    assert error_code(refused) == "STEP_UP_REQUIRED"
    step_up(account)
    env.clock.advance(minutes=4, seconds=59)
    accepted = operation(account)
    assert accepted.status_code == success, accepted.text


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_a_step_up_older_than_five_minutes_is_refused(env, name):
    operation, _ = PROTECTED[name]
    account = enrolled(env)
    step_up(account)
    env.clock.advance(minutes=5, seconds=1)
    refused = operation(account)
    assert refused.status_code == 403 and error_code(refused) == "STEP_UP_REQUIRED"


def test_a_step_up_belongs_to_its_own_session(env):
    account = enrolled(env)
    other = env.browser()
    assert (
        second_step(other, ticket_of(other, account.email), code=account.code()).status_code == 200
    )
    env.clock.advance(minutes=5, seconds=1)
    step_up(account)
    refused = other.request("POST", "/v1/users/me/mfa/recovery-codes")
    assert refused.status_code == 403 and error_code(refused) == "STEP_UP_REQUIRED"
    assert regenerate_codes(account).status_code == 200


def test_an_account_without_a_factor_needs_no_step_up(env):
    browser, _ = signed_in(env)
    env.clock.advance(minutes=10)  # long past any step-up window, within the access token
    result = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert result.status_code == 204


def test_a_sign_in_with_a_second_factor_counts_as_a_step_up(env):
    account = enrolled(env)
    browser = env.browser()
    assert (
        second_step(browser, ticket_of(browser, account.email), code=account.code()).status_code
        == 200
    )
    assert browser.request("POST", "/v1/users/me/mfa/recovery-codes").status_code == 200


# ----- removal and regeneration -------------------------------------------------------------


def test_removing_totp_ends_the_second_step_and_drops_the_recovery_codes(env):
    account = enrolled(env)
    step_up(account)
    assert remove_totp(account).status_code == 204
    user = User.get(User.email == account.email)
    assert not TotpFactor.select().where(TotpFactor.user == user.id).exists()
    assert not RecoveryCode.select().where(RecoveryCode.user == user.id).exists()
    login = env.browser().login(account.email)
    assert login.status_code == 200 and "access_token" in login.json["data"]
    assert remove_totp(account).status_code == 404
    removed = [e for e in events_of(account.email) if e.event_type == "mfa_factor_removed"]
    assert [e.details for e in removed] == [{"method": "totp", "recovery_codes_dropped": 10}]


def test_regenerating_recovery_codes_invalidates_the_old_set(env):
    account = enrolled(env)
    step_up(account)
    result = regenerate_codes(account)
    assert result.status_code == 200
    fresh = result.json["data"]["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(account.recovery_codes)
    browser = env.browser()
    old = second_step(
        browser, ticket_of(browser, account.email), recovery_code=account.recovery_codes[0]
    )
    assert old.status_code == 401
    new = second_step(browser, ticket_of(browser, account.email), recovery_code=fresh[0])
    assert new.status_code == 200
    assert "recovery_codes_regenerated" in [e.event_type for e in events_of(account.email)]


def test_regenerating_without_a_factor_is_a_conflict(env):
    browser, _ = signed_in(env)
    result = browser.request("POST", "/v1/users/me/mfa/recovery-codes")
    assert result.status_code == 409 and error_code(result) == "MFA_NOT_ENROLLED"


# ----- recovery -----------------------------------------------------------------------------


def test_a_password_reset_does_not_skip_the_second_factor(env):
    account = enrolled(env)
    browser = env.browser()
    assert (
        browser.request(
            "POST", "/v1/auth/password-reset", json={"email": account.email}
        ).status_code
        == 202
    )
    token = env.outbox.token_for(account.email)
    confirmed = browser.request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": NEW_PASSWORD},
    )
    assert confirmed.status_code == 204
    login = browser.request(
        "POST", "/v1/auth/login", json={"email": account.email, "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
    data = login.json["data"]
    assert data["mfa_required"] is True and "access_token" not in data
    assert "set-cookie" not in login.headers
    assert second_step(browser, data["mfa_ticket"], code=account.code()).status_code == 200


def test_a_ticket_issued_before_a_reset_dies_with_the_old_password(env):
    account = enrolled(env)
    browser = env.browser()
    ticket = ticket_of(browser, account.email)
    browser.request("POST", "/v1/auth/password-reset", json={"email": account.email})
    browser.request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": env.outbox.token_for(account.email), "new_password": NEW_PASSWORD},
    )
    late = second_step(browser, ticket, code=account.code())
    assert late.status_code == 401 and error_code(late) == "MFA_TICKET_INVALID"


def cli(env_vars: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env={**env_vars, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reset_factors_removes_every_factor_emails_the_account_and_ends_every_session(env, db_env):
    account = enrolled(env)
    other = env.browser()
    assert (
        second_step(other, ticket_of(other, account.email), code=account.code()).status_code == 200
    )
    result = cli(db_env, "users", "reset-factors", account.email.upper())
    assert result.returncode == 0, result.stderr
    assert "every second factor removed" in result.stdout and "Traceback" not in result.stderr
    user = User.get(User.email == account.email)
    assert not TotpFactor.select().where(TotpFactor.user == user.id).exists()
    assert not RecoveryCode.select().where(RecoveryCode.user == user.id).exists()
    assert not (
        RefreshToken.select()
        .where(RefreshToken.user == user.id, RefreshToken.revoked_at.is_null())
        .exists()
    )
    for browser in (account.browser, other):
        assert browser.request("GET", "/v1/users/me").status_code == 401
    [event] = [e for e in events_of(account.email) if e.event_type == "mfa_factors_reset"]
    assert event.details["factors_removed"] == {"totp": 1, "passkey": 0, "recovery_code": 10}
    assert event.details["sessions_revoked"] >= 2
    notices = [m for m in env.outbox.messages if m.to == account.email]
    assert any(m.tags == {"category": "mfa_factors_reset"} for m in notices)
    # The password alone signs in again; the owner can enrol afresh.
    login = env.browser().login(account.email)
    assert login.status_code == 200 and "access_token" in login.json["data"]


def test_reset_factors_names_an_unknown_account(db_env):
    result = cli(db_env, "users", "reset-factors", "nobody-here@example.com")
    assert result.returncode == 1
    assert "No account with this email." in result.stderr


# ----- notices ------------------------------------------------------------------------------


def notices_to(outbox, email: str) -> dict[str, str]:
    return {
        m.tags["category"]: m.text
        for m in outbox.messages
        if m.to == email and m.tags.get("category", "").startswith("mfa_")
    }


def test_each_factor_change_sends_its_notice_off_the_request_path(env):
    account = enrolled(env)
    # The requests only queued them: nothing reached the provider before the drainer ran.
    assert all(m.to != account.email for m in env.outbox.sent)
    browser = env.browser()
    second_step(browser, ticket_of(browser, account.email), recovery_code=account.recovery_codes[0])
    step_up(account)
    remove_totp(account)
    notices = notices_to(env.outbox, account.email)
    assert set(notices) == {"mfa_factor_added", "mfa_recovery_code_used", "mfa_factor_removed"}
    assert "authenticator app" in notices["mfa_factor_added"]
    assert "9 recovery codes left" in notices["mfa_recovery_code_used"]
    assert "authenticator app" in notices["mfa_factor_removed"]
    for text in notices.values():
        assert account.secret not in text


def built_with(settings, sender):
    clock = FakeClock()
    assembly = assemble(
        settings, clock=clock, email_sender=sender, hashing=PasswordHashing(settings)
    )
    with assembly.outbox_drainer.database.connection_context():
        forget_queued_emails()

    class Env:
        pass

    e = Env()
    e.app, e.clock, e.settings, e.drainer = assembly.app, clock, settings, assembly.outbox_drainer
    e.browser = lambda **kw: Browser(assembly.app, settings, **kw)
    return e


def drain(e) -> None:
    while e.drainer.drain_once():
        pass


def test_notices_through_the_console_provider(settings, capsys):
    e = built_with(fast_settings(settings), ConsoleSender(production=False))
    account = enrolled(e)
    capsys.readouterr()
    drain(e)
    logged = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    [notice] = [
        r
        for r in logged
        if r.get("event") == "email.console"
        and r["to"] == account.email
        and r["subject"] in MFA_SUBJECTS
    ]
    assert notice["subject"] == "A second factor was added to your account"
    assert "authenticator app" in notice["text"] and account.secret not in notice["text"]


# SMTPS is TLS from the first byte, which aiosmtpd's AUTH-over-TLS check does not recognise (the
# provider tests say the same).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_notices_through_smtp_on_aiosmtpd(settings, smtps):
    sender, handler = smtps
    e = built_with(fast_settings(settings), sender)
    account = enrolled(e)
    browser = e.browser()
    second_step(browser, ticket_of(browser, account.email), recovery_code=account.recovery_codes[1])
    drain(e)
    received = [
        message_from_bytes(m["content"], policy=policy.default)
        for m in handler.messages
        if m["rcpt_tos"] == [account.email]
    ]
    ours = [m for m in received if str(m["Subject"]) in MFA_SUBJECTS]
    assert sorted(str(m["Subject"]) for m in ours) == [
        "A recovery code was used to sign in",
        "A second factor was added to your account",
    ]
    for message in ours:
        body = message.get_body(("plain",)).get_content()
        assert account.email in body and re.search(r"/settings/security", body)


# ----- data ---------------------------------------------------------------------------------


def test_the_export_lists_factors_without_secrets_or_hashes(env):
    account = enrolled(env)
    export = account.browser.request("GET", "/v1/users/me/export")
    assert export.status_code == 200
    factors = export.json["data"]["second_factors"]
    assert [f["type"] for f in factors] == ["totp", "recovery_codes"]
    assert factors[0]["name"] == "Authenticator app" and factors[0]["confirmed_at"]
    assert factors[1]["remaining"] == 10
    text = export.text
    assert account.secret not in text and "$argon2id$" not in text
    for code in account.recovery_codes:
        assert code not in text


def test_account_deletion_removes_the_factors(env):
    account = enrolled(env)
    user_id = User.get(User.email == account.email).id
    ticket_of(env.browser(), account.email)
    step_up(account)
    assert delete_account(account).status_code == 204
    for model in (TotpFactor, RecoveryCode, MfaTicket, SessionStepUp):
        assert not model.select().where(model.user == user_id).exists(), model.__name__


def test_security_events_show_the_factor_lifecycle(env):
    account = enrolled(env)
    bad = env.browser()
    second_step(bad, ticket_of(bad, account.email), code=code_at(account.secret, env.clock, -9))
    step_up(account)
    regenerate_codes(account)
    remove_totp(account)
    listed = account.browser.request("GET", "/v1/users/me/security-events?limit=200").json["data"]
    types = {event["type"] for event in listed}
    assert {
        "totp_enrolment_started",
        "mfa_factor_added",
        "mfa_challenge_issued",
        "mfa_failed",
        "step_up_succeeded",
        "recovery_codes_regenerated",
        "mfa_factor_removed",
    } <= types

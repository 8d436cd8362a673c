"""Changing an account's email address, through HTTP on the real PostgreSQL: the request, the
link, the notices, the guarantees of the link, and the same flow through the console provider
and through SMTP on a local aiosmtpd server."""

from __future__ import annotations

import email
import logging
import re
import ssl
import threading
from email import policy
from urllib.parse import unquote

import pyotp
import pytest
import trustme
from structlog.testing import capture_logs

from app.bootstrap import build_email_sender
from app.core.security import PasswordHashing
from app.main import assemble
from app.models import EmailToken, OutboxEmail, RefreshToken, SecurityEvent, User
from tests.helpers import (
    STRONG_PASSWORD,
    Browser,
    build,
    fast_settings,
    forget_queued_emails,
    unique_email,
)
from tests.smtp_server import Authenticator, RecordingHandler, SmtpsController

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

NEW_PASSWORD = "an-entirely-new-passphrase-77"
LINK = "Confirm your new email address"
REQUESTED = "Your email address is about to change"
CHANGED = "Your email address was changed"
TAKEN = "Someone tried to use your email address"


class Env:
    def __init__(self, settings, **overrides):
        self.settings = fast_settings(settings, **overrides)
        self.app, self.clock, self.outbox = build(self.settings)

    def browser(self, **kwargs) -> Browser:
        return Browser(self.app, self.settings, **kwargs)

    def signed_in(self, email: str | None = None) -> tuple[Browser, str]:
        browser = self.browser()
        email = email or unique_email("owner")
        assert browser.register(email).status_code == 201
        assert browser.login(email).status_code == 200
        return browser, email

    def mail(self) -> list[tuple[str, str, str]]:
        return [(m.to, m.subject, m.text) for m in self.outbox.messages]


@pytest.fixture
def env(settings):
    return Env(settings)


def change(browser: Browser, new_email: str, password: str = STRONG_PASSWORD):
    return browser.request(
        "POST",
        "/v1/users/me/email",
        json={"new_email": new_email, "current_password": password},
    )


def confirm(browser: Browser, token: str, **kwargs):
    return browser.request("POST", "/v1/users/me/email/confirm", json={"token": token}, **kwargs)


def token_in(text: str) -> str:
    match = re.search(r"/confirm-email-change\?token=([A-Za-z0-9_\-%]+)", text)
    assert match, text
    return unquote(match.group(1))


def mails_to(mail, address: str, subject: str) -> list[str]:
    return [text for to, sent_subject, text in mail if to == address and sent_subject == subject]


def the_link(env: Env, new_email: str) -> str:
    (text,) = mails_to(env.mail(), new_email, LINK)
    return token_in(text)


def error(result) -> tuple[int, str]:
    assert result.json["success"] is False, result.text
    return result.status_code, result.json["error"]["code"]


def events(email: str) -> list[SecurityEvent]:
    user = User.get(User.email == email)
    return list(
        SecurityEvent.select()
        .where(SecurityEvent.user == user)
        .order_by(SecurityEvent.created_at, SecurityEvent.event_type)
    )


# ----- the flow ------------------------------------------------------------------------------


def test_a_change_moves_the_account_after_the_link_and_tells_both_addresses(env):
    owner, old = env.signed_in()
    new = unique_email("moved")

    requested = change(owner, new.upper())  # normalised as registration does
    assert requested.status_code == 202, requested.text
    mail = env.mail()
    (requested_notice,) = mails_to(mail, old, REQUESTED)
    assert new in requested_notice and "change your password" in requested_notice
    assert env.settings.frontend_url + "/settings/security" in requested_notice
    token = the_link(env, new)
    # Nothing changed yet: the old address still signs in.
    assert User.get_or_none(User.email == old) is not None
    assert env.browser().login(old).status_code == 200

    # Opened in another browser, not signed in.
    confirmed = confirm(env.browser(), token)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json["data"]["email"] == new
    assert confirmed.json["data"]["email_verified"] is True
    (final,) = mails_to(env.mail(), old, CHANGED)
    assert new in final and "no longer signs in" in final

    assert error(env.browser().login(old)) == (401, "INVALID_CREDENTIALS")
    assert env.browser().login(new).status_code == 200
    # Every session of the account ended, the requesting one included.
    assert error(owner.request("GET", "/v1/users/me")) == (401, "INVALID_TOKEN")
    assert error(owner.refresh())[0] == 401

    types = [event.event_type for event in events(new)]
    assert "email_change_requested" in types and "email_changed" in types
    changed = next(event for event in events(new) if event.event_type == "email_changed")
    assert changed.details["old_email"] == old and changed.details["new_email"] == new


def test_the_export_and_the_security_events_show_the_change(env):
    owner, old = env.signed_in()
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    assert confirm(owner, the_link(env, new)).status_code == 200  # signed in: the session stays
    listed = owner.request("GET", "/v1/users/me/security-events").json["data"]
    by_type = {event["type"]: event for event in listed}
    assert by_type["email_change_requested"]["details"] == {"new_email": new}
    assert by_type["email_changed"]["details"]["old_email"] == old
    exported = owner.request("GET", "/v1/users/me/export")
    assert exported.status_code == 200, exported.text
    data = exported.json["data"]
    assert data["user"]["email"] == new and data["user"]["email_verified_at"]
    exported_types = [event["type"] for event in data["security_events"]]
    assert "email_change_requested" in exported_types and "email_changed" in exported_types


def test_the_confirming_session_stays_and_every_other_ends(env):
    owner, old = env.signed_in()
    other = env.browser()
    assert other.login(old).status_code == 200
    new = unique_email("moved")
    assert change(owner, new).status_code == 202

    confirmed = confirm(owner, the_link(env, new))
    assert confirmed.status_code == 200, confirmed.text
    assert owner.request("GET", "/v1/users/me").json["data"]["email"] == new
    assert owner.refresh().status_code == 200
    assert error(other.request("GET", "/v1/users/me")) == (401, "INVALID_TOKEN")
    assert error(other.refresh())[0] == 401
    families = {
        row.family_id
        for row in RefreshToken.select().where(
            RefreshToken.user == User.get(User.email == new).id, RefreshToken.revoked_at.is_null()
        )
    }
    assert len(families) == 1


def test_an_invalid_bearer_on_confirm_is_refused_and_changes_nothing(env):
    owner, old = env.signed_in()
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    assert error(confirm(env.browser(), token, bearer="not-a-token")) == (401, "INVALID_TOKEN")
    assert User.get_or_none(User.email == old) is not None
    assert confirm(env.browser(), token).status_code == 200


def test_a_taken_address_gets_the_same_answer_and_its_holder_a_notice(env):
    owner, old = env.signed_in()
    another, another_old = env.signed_in()
    _, holder = env.signed_in(unique_email("holder"))
    free = unique_email("free")

    taken_answer = change(owner, holder)
    free_answer = change(another, free)
    for result in (taken_answer, free_answer):
        assert result.status_code == 202, result.text
    assert taken_answer.json["data"] == free_answer.json["data"]
    assert set(taken_answer.json["meta"]) == set(free_answer.json["meta"])

    def shape(result) -> dict:
        varying = {"x-request-id", "content-length"}
        return {k.lower(): v for k, v in result.headers.items() if k.lower() not in varying}

    assert shape(taken_answer) == shape(free_answer)
    assert taken_answer.headers["content-length"] == free_answer.headers["content-length"]

    mail = env.mail()
    (notice,) = mails_to(mail, holder, TAKEN)
    assert "token=" not in notice and "nothing changed" in notice
    assert mails_to(mail, holder, LINK) == []
    assert len(mails_to(mail, free, LINK)) == 1
    # Each requester's own address is told alike.
    assert len(mails_to(mail, old, REQUESTED)) == len(mails_to(mail, another_old, REQUESTED)) == 1
    # The link queued for the taken address died with the holder's notice.
    holder_user = User.get(User.email == holder)
    assert User.get(User.email == old).email == old and holder_user.email == holder
    assert (
        not EmailToken.select()
        .where(EmailToken.new_email == holder, EmailToken.used_at.is_null())
        .exists()
    )


def test_taken_and_free_addresses_run_the_same_statements(env):
    owner, _ = env.signed_in()
    _, holder = env.signed_in(unique_email("holder"))
    # The connection prepares its reads once (app/core/database.py): not part of either answer.
    assert change(owner, unique_email("warm")).status_code == 202
    statements: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record):
            statements.append(record.msg[0] if isinstance(record.msg, tuple) else str(record.msg))

    recorder = Recorder(level=logging.DEBUG)
    peewee_log = logging.getLogger("peewee")
    previous = peewee_log.level
    peewee_log.addHandler(recorder)
    peewee_log.setLevel(logging.DEBUG)
    try:
        assert change(owner, holder).status_code == 202
        taken = list(statements)
        statements.clear()
        assert change(owner, unique_email("free")).status_code == 202
        free = list(statements)
    finally:
        peewee_log.removeHandler(recorder)
        peewee_log.setLevel(previous)
    assert taken, "no statement was recorded"
    assert taken == free


# ----- the link's guarantees ------------------------------------------------------------------


def test_the_link_works_once(env):
    owner, _ = env.signed_in()
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    assert confirm(env.browser(), token).status_code == 200
    assert error(confirm(env.browser(), token)) == (400, "TOKEN_INVALID")
    assert len(mails_to(env.mail(), new, LINK)) == 1


def test_the_link_lives_one_hour(env):
    owner, old = env.signed_in()
    first = unique_email("late")
    assert change(owner, first).status_code == 202
    token = the_link(env, first)
    env.clock.advance(minutes=60, seconds=1)
    assert error(confirm(env.browser(), token)) == (400, "TOKEN_INVALID")
    assert User.get_or_none(User.email == old) is not None

    owner.login(old)  # the access token outlived the clock's jump
    second = unique_email("in-time")
    assert change(owner, second).status_code == 202
    token = the_link(env, second)
    env.clock.advance(minutes=59)
    assert confirm(env.browser(), token).status_code == 200


def test_a_password_change_after_the_request_ends_the_link(env):
    owner, old = env.signed_in()
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    changed = owner.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert error(confirm(env.browser(), token)) == (400, "TOKEN_INVALID")
    assert User.get_or_none(User.email == old) is not None
    assert User.get_or_none(User.email == new) is None


def test_a_password_reset_after_the_request_ends_the_link(env):
    owner, old = env.signed_in()
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    assert (
        env.browser().request("POST", "/v1/auth/password-reset", json={"email": old}).status_code
        == 202
    )
    reset = env.outbox.token_for(old)
    done = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": reset, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 204, done.text
    assert error(confirm(env.browser(), token)) == (400, "TOKEN_INVALID")


def test_a_new_request_ends_the_earlier_link(env):
    owner, _ = env.signed_in()
    first, second = unique_email("first"), unique_email("second")
    assert change(owner, first).status_code == 202
    first_link = the_link(env, first)
    assert change(owner, second).status_code == 202
    assert error(confirm(env.browser(), first_link)) == (400, "TOKEN_INVALID")
    assert confirm(env.browser(), the_link(env, second)).status_code == 200


def test_an_address_taken_after_the_link_was_sent_refuses_the_change_whole(env):
    owner, old = env.signed_in()
    other = env.browser()
    assert other.login(old).status_code == 200
    new = unique_email("contested")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    assert env.browser().register(new).status_code == 201  # someone else takes it meanwhile

    assert error(confirm(owner, token)) == (409, "EMAIL_TAKEN")
    user = User.get(User.email == old)
    assert user.email == old
    assert owner.request("GET", "/v1/users/me").json["data"]["email"] == old
    assert other.request("GET", "/v1/users/me").status_code == 200  # no session was ended
    assert mails_to(env.mail(), old, CHANGED) == []
    assert error(confirm(owner, token)) == (400, "TOKEN_INVALID")  # the link is used up
    assert "email_change_failed" in [event.event_type for event in events(old)]


def test_two_confirmations_of_one_link_at_once_change_the_address_once(env):
    owner, old = env.signed_in()
    new = unique_email("raced")
    assert change(owner, new).status_code == 202
    token = the_link(env, new)
    browsers = [env.browser(), env.browser()]
    start = threading.Barrier(len(browsers))
    answers: list[int] = []

    def confirm_at_once(browser: Browser) -> None:
        start.wait()
        answers.append(confirm(browser, token).status_code)

    threads = [threading.Thread(target=confirm_at_once, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [200, 400]
    assert [e.event_type for e in events(new)].count("email_changed") == 1
    assert len(mails_to(env.mail(), old, CHANGED)) == 1


# ----- what the request refuses ---------------------------------------------------------------


def test_the_same_address_is_refused_clearly(env):
    owner, old = env.signed_in()
    result = change(owner, f"  {old.upper()} ")
    assert error(result) == (422, "VALIDATION_ERROR")
    assert result.json["error"]["details"] == [
        {"field": "new_email", "message": "is already this account's email address"}
    ]
    assert env.mail() == []


@pytest.mark.parametrize(
    ("new_email", "message"),
    [
        ("not-an-address", "is not a valid email address"),
        ("ada\u200b@example.com", "must not contain invisible formatting characters"),
        ("ada@example.com.", "must not end with a dot"),
    ],
)
def test_an_invalid_address_gets_the_validation_envelope(env, new_email, message):
    owner, _ = env.signed_in()
    result = change(owner, new_email)
    assert error(result) == (422, "VALIDATION_ERROR")
    assert {"field": "new_email", "message": message} in result.json["error"]["details"]
    assert env.mail() == []


def test_a_wrong_password_is_refused_and_limited_like_every_reauthentication(env):
    owner, old = env.signed_in()
    new = unique_email("moved")
    for _ in range(5):
        result = change(owner, new, password="not-the-password-at-all")
        assert error(result) == (422, "VALIDATION_ERROR")
        assert result.json["error"]["details"] == [
            {"field": "current_password", "message": "is not your current password"}
        ]
    limited = change(owner, new)
    assert error(limited) == (429, "RATE_LIMITED") and limited.headers["Retry-After"]
    assert env.mail() == []
    assert not EmailToken.select().where(EmailToken.new_email == new).exists()


def test_an_unverified_account_may_fix_its_address_and_the_link_verifies_it(env):
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    owner, old = env.signed_in(unique_email("typo"))
    assert error(owner.request("GET", "/v1/users/me/security-events")) == (
        403,
        "EMAIL_NOT_VERIFIED",
    )
    new = unique_email("fixed")
    assert change(owner, new).status_code == 202
    confirmed = confirm(owner, the_link(env, new))
    assert confirmed.json["data"]["email_verified"] is True
    assert owner.request("GET", "/v1/users/me/security-events").status_code == 200


def test_the_confirming_browser_keeps_its_device_for_the_new_address(env):
    owner, old = env.signed_in()
    before = owner.cookies["__Host-jat_device"]
    new = unique_email("moved")
    assert change(owner, new).status_code == 202
    confirmed = confirm(owner, the_link(env, new))
    after = confirmed.cookies["__Host-jat_device"].value
    assert after != before and after.split(".")[0] == before.split(".")[0]  # the same device
    forget_queued_emails()
    env.outbox.sent.clear()
    assert owner.login(new).status_code == 200
    assert [m.subject for m in env.outbox.messages] == []  # a known device: no notice


def test_an_account_with_a_second_factor_changes_its_address_only_after_a_step_up(env):
    owner, old = env.signed_in()
    started = owner.request("POST", "/v1/users/me/mfa/totp")
    assert started.status_code == 200, started.text
    totp = pyotp.TOTP(started.json["data"]["secret"])
    enrolled = owner.request(
        "POST", "/v1/users/me/mfa/totp/confirm", json={"code": totp.at(env.clock.now)}
    )
    assert enrolled.status_code == 200, enrolled.text
    env.clock.advance(minutes=6)  # past the step-up window and the enrolment's time step
    new = unique_email("stepped")

    assert error(change(owner, new)) == (403, "STEP_UP_REQUIRED")
    assert mails_to(env.mail(), new, LINK) == []
    assert not EmailToken.select().where(EmailToken.new_email == new).exists()

    stepped = owner.request("POST", "/v1/auth/step-up", json={"code": totp.at(env.clock.now)})
    assert stepped.status_code == 204, stepped.text
    assert change(owner, new).status_code == 202
    assert confirm(owner, the_link(env, new)).status_code == 200

    env.clock.advance(minutes=5, seconds=1)  # the step-up counts for 5 minutes
    assert error(change(owner, unique_email("late"))) == (403, "STEP_UP_REQUIRED")


# ----- the same flow through real providers ---------------------------------------------------


def assembled(settings, sender):
    assembly = assemble(settings, email_sender=sender, hashing=PasswordHashing(settings))
    with assembly.outbox_drainer.database.connection_context():
        forget_queued_emails()
    return assembly


def run_the_flow(assembly, settings, read_mail) -> None:
    """Register, sign in, ask for a change, confirm with the link read from the provider's
    output, then check both addresses' mail and who can sign in."""
    drainer = assembly.outbox_drainer
    browser = Browser(assembly.app, settings)
    old, new = unique_email("old"), unique_email("new")
    assert browser.register(old).status_code == 201
    assert browser.login(old).status_code == 200
    assert change(browser, new).status_code == 202
    while drainer.drain_once():
        pass
    mail = read_mail()
    (link,) = mails_to(mail, new, LINK)
    assert mails_to(mail, old, REQUESTED)
    confirmed = confirm(Browser(assembly.app, settings), token_in(link))
    assert confirmed.status_code == 200, confirmed.text
    while drainer.drain_once():
        pass
    assert mails_to(read_mail(), old, CHANGED)
    assert Browser(assembly.app, settings).login(old).status_code == 401
    assert Browser(assembly.app, settings).login(new).status_code == 200
    # That browser never signed in to the account: the new address is told.
    while drainer.drain_once():
        pass
    assert mails_to(read_mail(), new, "New sign-in to your account")


def test_end_to_end_with_the_console_provider(settings):
    config = fast_settings(settings, environ={"EMAIL_PROVIDER": "console"})
    assert config.email_provider == "console"
    assembly = assembled(config, build_email_sender(config))  # configures logging first
    with capture_logs() as logs:
        run_the_flow(
            assembly,
            config,
            lambda: [
                (entry["to"], entry["subject"], entry["text"])
                for entry in logs
                if entry.get("event") == "email.console"
            ],
        )


SMTP_USER = "jat.sender@gmail.example"
SMTP_PASSWORD = "abcd efgh ijkl mnop"


@pytest.fixture
def smtps():
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    handler = RecordingHandler()
    controller = SmtpsController(
        handler,
        hostname="127.0.0.1",
        port=0,
        ssl_context=server_context,
        authenticator=Authenticator(SMTP_USER, SMTP_PASSWORD),
        auth_required=True,
        auth_require_tls=False,  # implicit TLS, which aiosmtpd's STARTTLS check does not see
    )
    controller.start()
    yield controller, handler, authority
    controller.stop()


def test_end_to_end_with_smtp(settings, smtps):
    controller, handler, authority = smtps
    config = fast_settings(
        settings,
        email_provider="gmail",
        gmail_user=SMTP_USER,
        gmail_app_password=SMTP_PASSWORD,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
    )
    sender = build_email_sender(config)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    sender.ssl_context = trusting  # the test CA instead of the system store

    def received() -> list[tuple[str, str, str]]:
        mail = []
        for message in handler.messages:
            assert message["tls"] is True
            parsed = email.message_from_bytes(message["content"], policy=policy.default)
            (to,) = message["rcpt_tos"]
            mail.append((to, parsed["Subject"], parsed.get_body(("plain",)).get_content()))
        return mail

    run_the_flow(assembled(config, sender), config, received)
    assert OutboxEmail.select().where(OutboxEmail.payload.is_null(False)).count() == 0

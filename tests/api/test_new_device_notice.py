"""The new-device notice: a sign-in from a client without a valid device cookie for the account
emails the account, through the outbox; a known device, and the first sign-in after
registration, do not."""

from __future__ import annotations

import pytest

from app.models import OutboxEmail
from tests.helpers import Browser, build, fast_settings, forget_queued_emails, unique_email

NOTICE = "New sign-in to your account"
DEVICE_COOKIE = "__Host-jat_device"


class Env:
    def __init__(self, settings):
        self.settings = fast_settings(settings)
        self.app, self.clock, self.outbox = build(self.settings)

    def browser(self, **kwargs) -> Browser:
        return Browser(self.app, self.settings, **kwargs)

    def notices(self, to: str) -> list[str]:
        return [m.text for m in self.outbox.messages if m.to == to and m.subject == NOTICE]


@pytest.fixture
def env(settings):
    return Env(settings)


def registered_and_signed_in(env: Env) -> tuple[Browser, str]:
    browser = env.browser()
    email = unique_email("device")
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    return browser, email


def test_the_first_sign_in_after_registration_sends_no_notice(env):
    _, email = registered_and_signed_in(env)
    assert env.notices(email) == []


def test_a_known_device_signs_in_without_a_notice(env):
    browser, email = registered_and_signed_in(env)
    assert DEVICE_COOKIE in browser.cookies
    for _ in range(2):
        assert browser.login(email).status_code == 200
    assert env.notices(email) == []


def test_a_new_device_gets_a_notice_naming_when_where_and_what(env):
    _, email = registered_and_signed_in(env)
    stranger = env.browser(ip="203.0.113.77")
    result = stranger.request(
        "POST",
        "/v1/auth/login",
        json={"email": email, "password": "correct-horse-battery-staple-42"},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},
    )
    assert result.status_code == 200, result.text
    (notice,) = env.notices(email)
    assert "203.0.113.77" in notice and "Firefox/140.0" in notice
    assert env.clock().strftime("%Y-%m-%d %H:%M UTC") in notice
    assert env.settings.frontend_url + "/settings/security" in notice
    # Known from now on.
    assert stranger.login(email).status_code == 200
    assert len(env.notices(email)) == 1


def test_a_device_cookie_of_another_account_counts_as_a_new_device(env):
    browser, _ = registered_and_signed_in(env)
    _, other = registered_and_signed_in(env)
    # This browser's valid cookie is bound to the first account: for the second it is none.
    assert DEVICE_COOKIE in browser.cookies
    assert browser.login(other).status_code == 200
    assert len(env.notices(other)) == 1


def test_a_failed_sign_in_sends_nothing(env):
    _, email = registered_and_signed_in(env)
    assert env.browser().login(email, "not-the-right-password-at-all").status_code == 401
    assert env.notices(email) == []


def test_the_notice_is_queued_with_the_sign_in_and_sent_off_the_request_path(env):
    _, email = registered_and_signed_in(env)
    forget_queued_emails()

    def queued() -> set:
        return {row.id for row in OutboxEmail.select().where(OutboxEmail.sent_at.is_null())}

    before = queued()  # the database is shared: count only what this sign-in queued
    assert env.browser().login(email).status_code == 200
    assert env.outbox.threads == []  # the request did not call the provider
    assert len(queued() - before) == 1
    assert len(env.notices(email)) == 1


def test_the_session_and_its_notice_commit_together_or_not_at_all(env, monkeypatch):
    """A new device's sign-in stores its session and queues its notice in one transaction: if
    the notice cannot be queued, no session is left behind."""
    from app.models import RefreshToken, User
    from app.services.outbox import OutboxWriter

    _, email = registered_and_signed_in(env)
    user = User.get(User.email == email)
    before = RefreshToken.select().where(RefreshToken.user == user.id).count()

    def refuse(*args, **kwargs):
        raise RuntimeError("the outbox refused the notice")

    monkeypatch.setattr(OutboxWriter, "enqueue_notice", refuse)
    result = env.browser(ip="203.0.113.78").login(email)
    assert result.status_code >= 500
    assert RefreshToken.select().where(RefreshToken.user == user.id).count() == before
    monkeypatch.undo()
    assert env.browser(ip="203.0.113.78").login(email).status_code == 200
    assert RefreshToken.select().where(RefreshToken.user == user.id).count() == before + 1

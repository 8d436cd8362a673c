"""The account emails: links into FRONTEND_URL, URL-encoded tokens, escaped HTML."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from app.core.settings import Settings
from app.integrations.email import (
    EmailMessage,
    password_expiry_reminder,
    password_reset_email,
    verification_email,
)
from app.integrations.email.templates import (
    email_change_address_taken_notice,
    email_change_link,
    email_change_requested_notice,
    email_changed_notice,
    new_device_sign_in_notice,
)

FRONTEND = "https://app.jat.example"
TRICKY_TOKEN = 'a/b+c=d&e?f#g "h" <i>'
HOSTILE_ADDRESS = '"<script>alert(1)</script>"@example.com'


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(
        {"APP_ENV": "test", "FRONTEND_URL": FRONTEND + "/", "API_URL": "https://api.jat.example"}
    )


class Links(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def only_link(message: EmailMessage) -> str:
    parsed = Links(message.html)
    assert len(parsed.hrefs) == 1
    return parsed.hrefs[0]


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (verification_email, "/verify-email"),
        (password_reset_email, "/reset-password"),
        (email_change_link, "/confirm-email-change"),
    ],
)
def test_token_links_point_at_the_frontend_with_the_token_url_encoded(settings, build, path):
    message = build("ada@example.com", TRICKY_TOKEN, settings)

    href = only_link(message)
    parts = urlsplit(href)
    assert f"{parts.scheme}://{parts.netloc}" == FRONTEND
    assert parts.path == path
    assert parts.fragment == ""
    assert parse_qs(parts.query) == {"token": [TRICKY_TOKEN]}
    assert "token=a%2Fb%2Bc%3Dd%26e%3Ff%23g%20%22h%22%20%3Ci%3E" in href
    assert href in message.text
    assert message.to == "ada@example.com"


def test_expiry_reminder_links_to_the_password_settings_page(settings):
    message = password_expiry_reminder("ada@example.com", 7, settings)

    assert only_link(message) == f"{FRONTEND}/settings/password"
    assert f"{FRONTEND}/settings/password" in message.text
    assert message.subject == "Your password expires in 7 days"
    assert "expires in 7 days" in message.text


@pytest.mark.parametrize(
    ("days", "subject"),
    [(0, "Your password expires today"), (1, "Your password expires in 1 day")],
)
def test_expiry_reminder_wording(settings, days, subject):
    assert password_expiry_reminder("ada@example.com", days, settings).subject == subject


def test_expiry_reminder_rejects_negative_days(settings):
    with pytest.raises(ValueError):
        password_expiry_reminder("ada@example.com", -1, settings)


@pytest.mark.parametrize(
    "build",
    [
        lambda to, s: verification_email(to, TRICKY_TOKEN, s),
        lambda to, s: password_reset_email(to, TRICKY_TOKEN, s),
        lambda to, s: password_expiry_reminder(to, 3, s),
    ],
)
def test_html_escapes_the_address_and_token(settings, build):
    message = build(HOSTILE_ADDRESS, settings)

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "<i>" not in message.html
    assert "script" not in Links(message.html).tags
    # The plain-text part shows the address as given.
    assert HOSTILE_ADDRESS in message.text


def test_every_template_has_text_html_and_a_category_tag(settings):
    messages = {
        "email_verification": verification_email("ada@example.com", "t", settings),
        "password_reset": password_reset_email("ada@example.com", "t", settings),
        "password_expiry": password_expiry_reminder("ada@example.com", 5, settings),
    }
    for category, message in messages.items():
        assert message.tags == {"category": category}
        assert message.text.strip() and "<" not in message.text.split("This email")[0]
        assert message.html.lstrip().startswith("<!DOCTYPE html>")


def test_token_lifetimes_are_stated(settings):
    assert "24 hours" in verification_email("ada@example.com", "t", settings).text
    assert "1 hour" in password_reset_email("ada@example.com", "t", settings).text
    assert "2 hours" in password_reset_email("ada@example.com", "t", settings, valid_hours=2).html


HOSTILE_AGENT = '<img src=x onerror="alert(1)"> Firefox'
NOTICES = {
    "email_change_address_taken": lambda to, s: email_change_address_taken_notice(to, s),
    "email_change_requested": lambda to, s: email_change_requested_notice(
        to, {"new_email": "grace@example.org", "requested_at": "2026-11-29 10:00 UTC"}, s
    ),
    "email_changed": lambda to, s: email_changed_notice(
        to, {"new_email": "grace@example.org", "changed_at": "2026-11-29 10:30 UTC"}, s
    ),
    "new_device_sign_in": lambda to, s: new_device_sign_in_notice(
        to,
        {"signed_in_at": "2026-11-29 10:00 UTC", "ip": "203.0.113.9", "user_agent": HOSTILE_AGENT},
        s,
    ),
}


@pytest.mark.parametrize("category", sorted(NOTICES))
def test_notices_point_to_the_security_page_and_escape_what_they_quote(settings, category):
    message = NOTICES[category](HOSTILE_ADDRESS, settings)

    assert only_link(message) == f"{FRONTEND}/settings/security"
    assert message.tags == {"category": category}
    assert "token" not in message.text
    assert "<script>" not in message.html and "<img" not in message.html
    assert "script" not in Links(message.html).tags and "img" not in Links(message.html).tags
    assert "write to" not in message.text  # no support address configured: none is named


def test_notices_name_the_support_address_when_one_is_configured():
    configured = Settings.from_env(
        {
            "APP_ENV": "test",
            "FRONTEND_URL": FRONTEND,
            "API_URL": "https://api.jat.example",
            "SUPPORT_EMAIL": "help@jat.example",
        }
    )
    for build in NOTICES.values():
        message = build("ada@example.com", configured)
        assert "write to help@jat.example" in message.text
        assert "help@jat.example" in message.html


def test_a_support_address_that_is_not_one_is_refused():
    from app.core.settings import SettingsError

    with pytest.raises(SettingsError, match="SUPPORT_EMAIL=help desk is not an email address"):
        Settings.from_env({"APP_ENV": "test", "SUPPORT_EMAIL": "help desk"})


def test_the_email_change_notices_say_what_changed_and_what_to_do(settings):
    requested = NOTICES["email_change_requested"]("ada@example.com", settings)
    assert "from ada@example.com to grace@example.org" in requested.text
    assert "change your password now: that cancels the change" in requested.text
    changed = NOTICES["email_changed"]("ada@example.com", settings)
    assert "from ada@example.com to grace@example.org" in changed.text
    assert "no longer signs in" in changed.text
    assert "1 hour" in email_change_link("grace@example.org", "t", settings).text

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

"""The account emails, each as plain text and HTML with links into the frontend.

Every value placed in HTML is escaped, and tokens are percent-encoded into the link, so neither
an address nor a token can change a message's markup or its link.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from app.core.settings import Settings
from app.integrations.email.base import EmailMessage

PRODUCT_NAME = "Job App Tracker"
VERIFICATION_VALID_HOURS = 24
RESET_VALID_HOURS = 1


def _link(settings: Settings, path: str, token: str | None = None) -> str:
    url = f"{settings.frontend_url.rstrip('/')}{path}"
    if token is not None:
        url += "?token=" + quote(token, safe="")
    return url


def _hours(hours: int) -> str:
    return "1 hour" if hours == 1 else f"{hours} hours"


def _html(to: str, heading: str, paragraphs: list[str], action: str, url: str) -> str:
    body = "\n".join(f"    <p>{escape(paragraph)}</p>" for paragraph in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{escape(heading)}</title>
  </head>
  <body style="font-family: sans-serif; line-height: 1.5; color: #1f2933;">
    <h1 style="font-size: 20px;">{escape(heading)}</h1>
{body}
    <p><a href="{escape(url, quote=True)}" style="display: inline-block; padding: 10px 16px; \
background: #1f6feb; color: #ffffff; text-decoration: none; border-radius: 4px;">\
{escape(action)}</a></p>
    <p style="font-size: 13px; color: #52606d;">If the button does not work, copy this link \
into your browser:<br>{escape(url)}</p>
    <p style="font-size: 13px; color: #52606d;">This email was sent to {escape(to)} by \
{escape(PRODUCT_NAME)}.</p>
  </body>
</html>
"""


def _text(to: str, paragraphs: list[str], action: str, url: str) -> str:
    body = "\n\n".join(paragraphs)
    return f"{body}\n\n{action}:\n{url}\n\nThis email was sent to {to} by {PRODUCT_NAME}.\n"


def _message(
    to: str, subject: str, paragraphs: list[str], action: str, url: str, category: str
) -> EmailMessage:
    return EmailMessage(
        to=to,
        subject=subject,
        text=_text(to, paragraphs, action, url),
        html=_html(to, subject, paragraphs, action, url),
        tags={"category": category},
    )


def verification_email(
    to: str, token: str, settings: Settings, *, valid_hours: int = VERIFICATION_VALID_HOURS
) -> EmailMessage:
    paragraphs = [
        f"Welcome to {PRODUCT_NAME}. Please confirm that this is your email address.",
        f"The link works once and expires in {_hours(valid_hours)}. If you did not create an "
        "account, you can ignore this email.",
    ]
    return _message(
        to,
        "Verify your email address",
        paragraphs,
        "Verify email address",
        _link(settings, "/verify-email", token),
        "email_verification",
    )


def password_reset_email(
    to: str, token: str, settings: Settings, *, valid_hours: int = RESET_VALID_HOURS
) -> EmailMessage:
    paragraphs = [
        f"Someone asked to reset the password of your {PRODUCT_NAME} account.",
        f"The link works once and expires in {_hours(valid_hours)}. If you did not ask for a "
        "reset, ignore this email: your password stays as it is.",
    ]
    return _message(
        to,
        "Reset your password",
        paragraphs,
        "Choose a new password",
        _link(settings, "/reset-password", token),
        "password_reset",
    )


def password_expiry_reminder(to: str, days_left: int, settings: Settings) -> EmailMessage:
    if days_left < 0:
        raise ValueError("days_left cannot be negative")
    if days_left == 0:
        when = "today"
        subject = "Your password expires today"
    else:
        when = "in 1 day" if days_left == 1 else f"in {days_left} days"
        subject = f"Your password expires {when}"
    paragraphs = [
        f"The password of your {PRODUCT_NAME} account expires {when}.",
        "Choose a new one now; after it expires you will be asked to change it when you sign in.",
    ]
    return _message(
        to,
        subject,
        paragraphs,
        "Change your password",
        _link(settings, "/settings/password"),
        "password_expiry",
    )

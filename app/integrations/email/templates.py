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


# ----- email change and security notices -------------------------------------------------------

EMAIL_CHANGE_VALID_HOURS = 1
# The frontend's page listing the account's sessions and security events, with "sign out
# everywhere" and the password change: where every notice sends someone who did not do it.
SECURITY_PAGE = "/settings/security"


def _report(settings: Settings) -> str:
    """Where the notice's reader can look and whom to tell: the security page, and the support
    address when SUPPORT_EMAIL is configured."""
    said = "The security page of your account lists its sessions and recent security events"
    if settings.support_email:
        return f"{said}. To report a change you did not make, write to {settings.support_email}."
    return f"{said}."


def _security_notice(
    to: str,
    subject: str,
    paragraphs: list[str],
    settings: Settings,
    category: str,
    action: str = "Review your account security",
) -> EmailMessage:
    """A security notice: its paragraphs, then where to look and whom to tell (``_report``),
    and a button to the account's security page."""
    return _message(
        to,
        subject,
        [*paragraphs, _report(settings)],
        action,
        _link(settings, SECURITY_PAGE),
        category,
    )


def email_change_link(
    to: str, token: str, settings: Settings, *, valid_hours: int = EMAIL_CHANGE_VALID_HOURS
) -> EmailMessage:
    paragraphs = [
        f"Someone asked to use this address for a {PRODUCT_NAME} account. Confirm it to make it "
        "the account's sign-in address; until then nothing changes.",
        f"The link works once and expires in {_hours(valid_hours)}. If you did not ask for "
        "this, ignore this email.",
    ]
    return _message(
        to,
        "Confirm your new email address",
        paragraphs,
        "Confirm new email address",
        _link(settings, "/confirm-email-change", token),
        "email_change",
    )


def email_change_address_taken_notice(to: str, settings: Settings) -> EmailMessage:
    paragraphs = [
        f"Someone asked to move another {PRODUCT_NAME} account to this address. It already "
        "belongs to your account, so nothing changed and no link was sent.",
        "If that was you, sign in with this address instead. Otherwise there is nothing to do; "
        "your account was not touched.",
    ]
    return _security_notice(
        to,
        "Someone tried to use your email address",
        paragraphs,
        settings,
        "email_change_address_taken",
    )


def email_change_requested_notice(
    to: str, context: dict[str, str], settings: Settings
) -> EmailMessage:
    paragraphs = [
        f"Someone signed in to your {PRODUCT_NAME} account asked to change its email address "
        f"from {to} to {context['new_email']} ({context['requested_at']}).",
        "Nothing changes until the link sent to the new address is used, within "
        f"{_hours(EMAIL_CHANGE_VALID_HOURS)}.",
        "If this was not you, change your password now: that cancels the change and signs out "
        "every other session.",
    ]
    return _security_notice(
        to, "Your email address is about to change", paragraphs, settings, "email_change_requested"
    )


def email_changed_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    paragraphs = [
        f"The email address of your {PRODUCT_NAME} account was changed from {to} to "
        f"{context['new_email']} ({context['changed_at']}). This address no longer signs in, "
        "and every other session of the account was signed out.",
        "If this was not you, sign in with the new address and your password, change your "
        "password, and change the address back.",
    ]
    return _security_notice(
        to, "Your email address was changed", paragraphs, settings, "email_changed"
    )


def new_device_sign_in_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    client = context.get("user_agent") or "an unnamed browser or app"
    where = context.get("ip") or "an unknown address"
    paragraphs = [
        f"Your {PRODUCT_NAME} account was signed in to from a device it has not seen before: "
        f"{context['signed_in_at']}, from {where}, with {client}.",
        "If this was you, there is nothing to do. If not, change your password now: that signs "
        "out every other session.",
    ]
    return _security_notice(
        to, "New sign-in to your account", paragraphs, settings, "new_device_sign_in"
    )


# ----- second-factor notices -------------------------------------------------------------------

FACTOR_NAMES = {"totp": "an authenticator app", "passkey": "a passkey"}
NOT_YOU = (
    "If this was not you, change your password now (that signs out every other session) and "
    "review your second factors."
)


def _factor(context: dict[str, str]) -> str:
    return FACTOR_NAMES.get(context.get("method", ""), "a second factor")


def factor_added_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    paragraphs = [
        f"A second factor, {_factor(context)}, was added to your {PRODUCT_NAME} account. Signing "
        "in now needs it after your password.",
        NOT_YOU,
    ]
    return _security_notice(
        to, "A second factor was added to your account", paragraphs, settings, "mfa_factor_added"
    )


def factor_removed_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    paragraphs = [
        f"A second factor, {_factor(context)}, was removed from your {PRODUCT_NAME} account.",
        NOT_YOU,
    ]
    return _security_notice(
        to,
        "A second factor was removed from your account",
        paragraphs,
        settings,
        "mfa_factor_removed",
    )


def recovery_code_used_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    left = context.get("left", "")
    count = "1 recovery code left" if left == "1" else f"{left} recovery codes left"
    paragraphs = [
        f"A recovery code was just used for your {PRODUCT_NAME} account. You have {count}; make "
        "a new set on the security page when they run low.",
        NOT_YOU,
    ]
    return _security_notice(
        to, "A recovery code was used to sign in", paragraphs, settings, "mfa_recovery_code_used"
    )


def factors_reset_notice(to: str, context: dict[str, str], settings: Settings) -> EmailMessage:
    paragraphs = [
        f"At your request, and after checking your identity, support removed every second "
        f"factor and recovery code of your {PRODUCT_NAME} account and signed out every session. "
        "Your password alone signs you in now: set up a second factor again at once.",
        "If you did not ask for this, change your password now and tell support.",
    ]
    return _security_notice(
        to,
        "The second factors of your account were removed",
        paragraphs,
        settings,
        "mfa_factors_reset",
        action="Set up a second factor",
    )

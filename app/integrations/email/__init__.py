"""Outgoing email: one interface, one adapter per provider, and the account templates.

``build_email_sender(settings)`` is the only place that chooses a provider.
"""

from app.integrations.email.base import (
    EmailConfigurationError,
    EmailDeliveryError,
    EmailMessage,
    EmailSender,
)
from app.integrations.email.console import ConsoleSender
from app.integrations.email.factory import build_email_sender
from app.integrations.email.resend import ResendSender
from app.integrations.email.ses import SesSender
from app.integrations.email.smtp import GmailSmtpSender
from app.integrations.email.templates import (
    password_expiry_reminder,
    password_reset_email,
    verification_email,
)

__all__ = [
    "ConsoleSender",
    "EmailConfigurationError",
    "EmailDeliveryError",
    "EmailMessage",
    "EmailSender",
    "GmailSmtpSender",
    "ResendSender",
    "SesSender",
    "build_email_sender",
    "password_expiry_reminder",
    "password_reset_email",
    "verification_email",
]

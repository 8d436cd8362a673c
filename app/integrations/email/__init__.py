"""Outgoing email: one interface, one adapter per provider, and the account templates.

``app.bootstrap.build_email_sender(settings)`` is the only place that chooses a provider. The SES
adapter (``app.integrations.email.ses``) is not imported here: it loads boto3, which only a
process configured for SES needs; nor is the SMTP one (``app.integrations.email.smtp``), whose
smtplib only a process configured for Gmail needs.
"""

from app.integrations.email.base import (
    EmailConfigurationError,
    EmailDeliveryError,
    EmailMessage,
    EmailSender,
)
from app.integrations.email.console import ConsoleSender
from app.integrations.email.resend import ResendSender
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
    "ResendSender",
    "password_expiry_reminder",
    "password_reset_email",
    "verification_email",
]

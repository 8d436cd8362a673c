"""The one place that turns settings into an email sender."""

from __future__ import annotations

from app.core.settings import Settings
from app.integrations.email.base import EmailConfigurationError, EmailSender
from app.integrations.email.console import ConsoleSender
from app.integrations.email.resend import ResendSender
from app.integrations.email.ses import SesSender
from app.integrations.email.smtp import GmailSmtpSender


def build_email_sender(settings: Settings) -> EmailSender:
    """The sender for ``settings.email_provider``.

    Settings already refuses an incomplete provider in production; this repeats the check for
    every environment, so a development or test set-up fails here, naming what is missing,
    rather than at the first send.
    """
    provider = settings.email_provider
    if provider == "console":
        return ConsoleSender(production=settings.is_production)
    missing = _missing(settings)
    if missing:
        raise EmailConfigurationError(f"EMAIL_PROVIDER={provider} needs {', '.join(missing)}")
    if provider == "resend":
        return ResendSender(
            api_key=settings.resend_api_key,
            from_email=settings.from_email,
            api_url=settings.resend_api_url,
        )
    if provider == "ses":
        return SesSender(from_email=settings.from_email, region=settings.aws_region)
    if provider == "gmail":
        return GmailSmtpSender(
            user=settings.gmail_user,
            app_password=settings.gmail_app_password,
            host=settings.smtp_host,
            port=settings.smtp_port,
        )
    raise EmailConfigurationError(f"EMAIL_PROVIDER={provider} is not a known email provider")


def _missing(settings: Settings) -> list[str]:
    required = {
        "resend": {"FROM_EMAIL": settings.from_email, "RESEND_API_KEY": settings.resend_api_key},
        "ses": {"FROM_EMAIL": settings.from_email, "AWS_REGION": settings.aws_region},
        "gmail": {
            "GMAIL_USER": settings.gmail_user,
            "GMAIL_APP_PASSWORD": settings.gmail_app_password,
        },
    }.get(settings.email_provider, {})
    return [name for name, value in required.items() if not value]

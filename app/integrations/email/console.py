"""Development only: the message goes to stdout through the structured logger."""

from __future__ import annotations

import structlog

from app.integrations.email.base import EmailConfigurationError, EmailMessage

log = structlog.get_logger("app.email.console")


class ConsoleSender:
    provider = "console"

    def __init__(self, *, production: bool):
        if production:
            raise EmailConfigurationError(
                "EMAIL_PROVIDER=console is for local development only; "
                "choose resend, ses or gmail in production"
            )

    def __repr__(self) -> str:
        return "ConsoleSender()"

    def send(self, message: EmailMessage) -> None:
        log.info(
            "email.console",
            provider=self.provider,
            to=message.to,
            subject=message.subject,
            text=message.text,
        )

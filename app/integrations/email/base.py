"""The provider-neutral email interface: a message, a sender, and the one error senders raise."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# Resend and SES both accept tag names and values made of ASCII letters, digits, "_" and "-".
_TAG_PART = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class EmailMessage:
    """One email to one recipient, always with a plain-text and an HTML body.

    ``tags`` are provider metadata (Resend tags, SES message tags) used to group deliveries in
    the provider's console; SMTP has no equivalent and ignores them.
    """

    to: str
    subject: str
    text: str
    html: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("to", "subject"):
            value = getattr(self, name)
            if not value or "\r" in value or "\n" in value:
                raise ValueError(f"email {name} must be a non-empty single line")
        if "@" not in self.to:
            raise ValueError("email recipient must be an email address")
        if not self.text or not self.html:
            raise ValueError("an email needs both a text and an HTML body")
        for key, value in self.tags.items():
            if not (_TAG_PART.match(key) and _TAG_PART.match(value)):
                raise ValueError("email tags may contain only letters, digits, '_' and '-'")


@runtime_checkable
class EmailSender(Protocol):
    """Delivers a message or raises ``EmailDeliveryError``."""

    def send(self, message: EmailMessage) -> None: ...


class EmailDeliveryError(Exception):
    """A provider did not accept a message.

    The message names the provider and a short reason (an HTTP status, an SMTP reply code, an
    AWS error code or an exception class); it never carries credentials or message bodies, so it
    is safe to log.
    """

    def __init__(self, provider: str, reason: str, *, status_code: int | None = None):
        self.provider = provider
        self.reason = reason
        self.status_code = status_code
        super().__init__(f"{provider} did not accept the email: {reason}")


class EmailConfigurationError(Exception):
    """The configured provider cannot be built (missing settings, or console in production)."""

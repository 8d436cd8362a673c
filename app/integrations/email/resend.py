"""Resend's HTTPS API: POST /emails with a bearer API key."""

from __future__ import annotations

import re
from typing import Any

import requests
import structlog

from app.integrations.email.base import EmailDeliveryError, EmailMessage

log = structlog.get_logger("app.email.resend")

# (connect, read) seconds; together they stay under ten seconds.
DEFAULT_TIMEOUT = (3.0, 7.0)
# Resend's error bodies carry a machine-readable "name" such as "validation_error".
_ERROR_NAME = re.compile(r"^[a-z_]{1,64}$")


class ResendSender:
    provider = "resend"

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        api_url: str = "https://api.resend.com",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ):
        self._api_key = api_key
        self.from_email = from_email
        self.endpoint = api_url.rstrip("/") + "/emails"
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"ResendSender(endpoint={self.endpoint!r}, from_email={self.from_email!r})"

    def send(self, message: EmailMessage) -> None:
        payload: dict[str, Any] = {
            "from": self.from_email,
            "to": [message.to],
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
        }
        if message.tags:
            payload["tags"] = [{"name": key, "value": value} for key, value in message.tags.items()]
        try:
            response = self._session.post(
                self.endpoint,
                json=payload,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise EmailDeliveryError(self.provider, "request timed out") from None
        except requests.RequestException as exc:
            raise EmailDeliveryError(
                self.provider, f"request failed ({type(exc).__name__})"
            ) from None
        if not 200 <= response.status_code < 300:
            reason = f"HTTP {response.status_code}"
            name = _error_name(response)
            if name:
                reason += f" ({name})"
            raise EmailDeliveryError(self.provider, reason, status_code=response.status_code)
        log.info("email.sent", provider=self.provider, message_id=_message_id(response))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _error_name(response: requests.Response) -> str | None:
    name = _json(response).get("name")
    return name if isinstance(name, str) and _ERROR_NAME.match(name) else None


def _message_id(response: requests.Response) -> str | None:
    message_id = _json(response).get("id")
    return message_id if isinstance(message_id, str) else None

"""Resend's HTTPS API: POST /emails with a bearer API key.

Sent with urllib3, which botocore already loads in every API worker, rather than requests: requests
adds about 4 MB and a hundred modules to each worker (charset_normalizer with every CJK codec,
idna, simplejson), none of which one JSON POST needs (docs/benchmarks.md). Certificates are checked
against certifi's bundle, as requests and botocore do; no retry, no redirect (the bearer key goes
to the configured endpoint only); Resend refuses a request without a User-Agent.
"""

from __future__ import annotations

import json
import re
from typing import Any

import certifi
import structlog
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as HTTPTimeoutError

from app.integrations.email.base import EmailDeliveryError, EmailMessage

log = structlog.get_logger("app.email.resend")

# (connect, read) seconds; together they stay under ten seconds.
DEFAULT_TIMEOUT = (3.0, 7.0)
# Resend's error bodies carry a machine-readable "name" such as "validation_error".
_ERROR_NAME = re.compile(r"^[a-z_]{1,64}$")
USER_AGENT = "jobapptracker-api"


class ResendSender:
    provider = "resend"

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        api_url: str = "https://api.resend.com",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool: urllib3.PoolManager | None = None,
    ):
        self._api_key = api_key
        self.from_email = from_email
        self.endpoint = api_url.rstrip("/") + "/emails"
        self.timeout = timeout
        self._pool = pool or urllib3.PoolManager(ca_certs=certifi.where())

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
        connect, read = self.timeout
        try:
            response = self._pool.request(
                "POST",
                self.endpoint,
                body=json.dumps(payload).encode(),
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
                timeout=urllib3.Timeout(connect=connect, read=read),
                retries=False,
                redirect=False,
            )
        except (HTTPError, OSError) as exc:
            # urllib3's NewConnectionError (refused, unresolved) is one of its timeouts.
            timed_out = isinstance(exc, HTTPTimeoutError) and not isinstance(
                exc, NewConnectionError
            )
            reason = "request timed out" if timed_out else f"request failed ({type(exc).__name__})"
            raise EmailDeliveryError(self.provider, reason) from None
        document = _json(response.data)
        if not 200 <= response.status < 300:
            reason = f"HTTP {response.status}"
            name = document.get("name")
            if isinstance(name, str) and _ERROR_NAME.match(name):
                reason += f" ({name})"
            raise EmailDeliveryError(self.provider, reason, status_code=response.status)
        message_id = document.get("id")
        log.info(
            "email.sent",
            provider=self.provider,
            message_id=message_id if isinstance(message_id, str) else None,
        )


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}

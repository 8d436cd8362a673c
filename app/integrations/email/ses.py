"""Amazon SES through the v2 API. Credentials come only from boto3's default chain."""

from __future__ import annotations

from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.integrations.email.base import EmailDeliveryError, EmailMessage

log = structlog.get_logger("app.email.ses")

CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=7,
    retries={"mode": "standard", "max_attempts": 3},
)
CHARSET = "UTF-8"


class SesSender:
    provider = "ses"

    def __init__(self, *, from_email: str, region: str, client: Any | None = None):
        self.from_email = from_email
        self.region = region
        self._client = client or boto3.client("sesv2", region_name=region, config=CLIENT_CONFIG)

    def __repr__(self) -> str:
        return f"SesSender(region={self.region!r}, from_email={self.from_email!r})"

    def send(self, message: EmailMessage) -> None:
        request: dict[str, Any] = {
            "FromEmailAddress": self.from_email,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": CHARSET},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": CHARSET},
                        "Html": {"Data": message.html, "Charset": CHARSET},
                    },
                }
            },
        }
        if message.tags:
            request["EmailTags"] = [
                {"Name": key, "Value": value} for key, value in message.tags.items()
            ]
        try:
            response = self._client.send_email(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.get("Code") or "ClientError"
            raise EmailDeliveryError(self.provider, str(code), status_code=status) from None
        except BotoCoreError as exc:
            raise EmailDeliveryError(self.provider, type(exc).__name__) from None
        log.info("email.sent", provider=self.provider, message_id=response.get("MessageId"))

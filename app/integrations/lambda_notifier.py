"""The slack-notify Lambda as the operator-alert adapter in AWS: an asynchronous Invoke.

It imports botocore, so only a process whose settings name the function loads it
(app/bootstrap.py, ``build_notifier``). The client is botocore's, on its data pruned to Invoke
(app/integrations/aws.py).
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.integrations.notifier import NotificationError, alert_payload

log = structlog.get_logger("app.notifier")

CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)
ASYNC_ACCEPTED = 202


def _region_from_arn(function: str) -> str | None:
    parts = function.split(":")
    if function.startswith("arn:") and len(parts) > 3 and parts[3]:
        return parts[3]
    return None


class LambdaNotifier:
    """Invokes the slack-notify function asynchronously (``InvocationType=Event``); Lambda's
    own retries and on-failure destination take it from there.

    ``function`` is a name or an ARN; an ARN's region wins over ``region``. Credentials come only
    from botocore's default chain.
    """

    def __init__(self, function: str, region: str | None, client: Any | None = None):
        if not function:
            raise ValueError("LambdaNotifier needs a function name or ARN")
        self.function = function
        self.region = _region_from_arn(function) or region
        if client is None:
            from app.integrations import aws

            client = aws.client("lambda", self.region, CLIENT_CONFIG)
        self._client = client

    def __repr__(self) -> str:
        return f"LambdaNotifier(function={self.function!r}, region={self.region!r})"

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None:
        payload = json.dumps(alert_payload(kind, title, fields)).encode()
        try:
            response = self._client.invoke(
                FunctionName=self.function, InvocationType="Event", Payload=payload
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code") or "ClientError"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise NotificationError(
                f"invoking {self.function} failed: {code}", status_code=status
            ) from None
        except BotoCoreError as exc:
            raise NotificationError(
                f"invoking {self.function} failed: {type(exc).__name__}"
            ) from None
        status = response.get("StatusCode")
        if status != ASYNC_ACCEPTED:
            raise NotificationError(
                f"{self.function} answered {status} instead of {ASYNC_ACCEPTED} (queued)",
                status_code=status,
            )
        log.info("operator_alert_queued", kind=kind, function=self.function)

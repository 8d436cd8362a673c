"""Operator alerts: through the slack-notify Lambda in AWS, to the log locally.

``build_notifier(settings)`` is the only place that chooses one. The alert is
``{"kind", "title", "fields"}``, exactly the event ``app.jobs.slack_notify`` consumes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.settings import Settings

log = structlog.get_logger("app.notifier")

CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)
ASYNC_ACCEPTED = 202


class NotificationError(Exception):
    """An alert could not be handed over.

    The message names the function and a short reason (an AWS error code, an HTTP status or an
    exception class); it never carries the alert's title or fields, so it is safe to log.
    """

    def __init__(self, reason: str, *, status_code: int | None = None):
        self.reason = reason
        self.status_code = status_code
        super().__init__(reason)


@runtime_checkable
class Notifier(Protocol):
    """Delivers an operator alert or raises ``NotificationError``."""

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None: ...


def alert_payload(kind: str, title: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The event the slack-notify Lambda receives; field values become strings."""
    if not kind or not isinstance(kind, str):
        raise ValueError("an alert needs a kind")
    if not isinstance(title, str):
        raise ValueError("an alert's title must be a string")
    return {
        "kind": kind,
        "title": title,
        "fields": {str(key): str(value) for key, value in (fields or {}).items()},
    }


def _region_from_arn(function: str) -> str | None:
    parts = function.split(":")
    if function.startswith("arn:") and len(parts) > 3 and parts[3]:
        return parts[3]
    return None


class LambdaNotifier:
    """Invokes the slack-notify function asynchronously (``InvocationType=Event``); Lambda's
    own retries and on-failure destination take it from there.

    ``function`` is a name or an ARN; an ARN's region wins over ``region``. Credentials come only
    from boto3's default chain.
    """

    def __init__(self, function: str, region: str | None, client: Any | None = None):
        if not function:
            raise ValueError("LambdaNotifier needs a function name or ARN")
        self.function = function
        self.region = _region_from_arn(function) or region
        if client is None:
            import boto3

            client = boto3.client("lambda", region_name=self.region, config=CLIENT_CONFIG)
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


class LogNotifier:
    """Local development: the alert is a structured warning in the log (secret-named fields are
    redacted by the logging configuration)."""

    def __repr__(self) -> str:
        return "LogNotifier()"

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None:
        payload = alert_payload(kind, title, fields)
        log.warning("operator_alert", **payload)


def build_notifier(settings: Settings) -> Notifier:
    """LambdaNotifier when ``SLACK_LAMBDA_FUNCTION_NAME``/``_ARN`` is set, else LogNotifier."""
    if settings.slack_lambda_function:
        return LambdaNotifier(settings.slack_lambda_function, settings.aws_region)
    return LogNotifier()

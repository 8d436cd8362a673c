"""Operator alerts: through the slack-notify Lambda in AWS, to the log locally."""

from __future__ import annotations

import json
from typing import Protocol

import structlog

from app.core.settings import Settings

log = structlog.get_logger("app.notifier")


class NotificationError(Exception):
    """The alert could not be handed over. The message never carries the payload."""


class Notifier(Protocol):
    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None: ...


class LambdaNotifier:
    """Invokes the slack-notify function asynchronously (InvocationType=Event): its own
    retries and on-failure destination take it from there."""

    def __init__(self, function: str, region: str | None, client=None):
        self.function = function
        if client is None:
            import boto3

            client = boto3.client("lambda", region_name=region)
        self.client = client

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None:
        payload = json.dumps({"kind": kind, "title": title, "fields": fields}).encode()
        try:
            response = self.client.invoke(
                FunctionName=self.function, InvocationType="Event", Payload=payload
            )
        except Exception as exc:  # noqa: BLE001 - any client failure is the same to callers
            raise NotificationError(f"invoking the notifier failed: {type(exc).__name__}") from None
        if response.get("StatusCode") != 202:
            raise NotificationError(f"the notifier answered {response.get('StatusCode')}")


class LogNotifier:
    """Local development: the alert is a structured warning in the log."""

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None:
        log.warning("operator_alert", kind=kind, title=title, **fields)


def build_notifier(settings: Settings) -> Notifier:
    if settings.slack_lambda_function:
        return LambdaNotifier(settings.slack_lambda_function, settings.aws_region)
    return LogNotifier()

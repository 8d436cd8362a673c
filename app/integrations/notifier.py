"""Operator alerts: through the slack-notify Lambda in AWS (app/integrations/lambda_notifier.py),
to the log locally.

``app.bootstrap.build_notifier(settings)`` is the only place that chooses one. The alert is
``{"kind", "title", "fields"}``, exactly the event ``app.jobs.slack_notify`` consumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import structlog

log = structlog.get_logger("app.notifier")


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


class LogNotifier:
    """Local development: the alert is a structured warning in the log (secret-named fields are
    redacted by the logging configuration)."""

    def __repr__(self) -> str:
        return "LogNotifier()"

    def notify(self, kind: str, title: str, fields: dict[str, str]) -> None:
        payload = alert_payload(kind, title, fields)
        log.warning("operator_alert", **payload)

"""The slack-notify Lambda: posts an operator alert to a Slack incoming webhook.

Event (what app.integrations.notifier.LambdaNotifier sends):
``{"kind": "malware_found", "title": "...", "fields": {"attachment": "...", ...}}``.
The webhook URL comes from Secrets Manager (SLACK_WEBHOOK_URL_SECRET_ARN, resolved at cold
start). Neither the URL nor the payload is logged: only the kind and the HTTP status. A non-2xx
answer raises, so Lambda's asynchronous retries and on-failure destination take over.
"""

from __future__ import annotations

from typing import Any

import requests
import structlog

from app.core.logging import configure_logging
from app.core.settings import Settings

log = structlog.get_logger("app.jobs.slack_notify")

MAX_TEXT = 2900  # Slack's section text limit is 3000 characters
MAX_FIELDS = 10  # Slack's section fields limit


class SlackDeliveryError(Exception):
    """Slack did not accept the message (the message names only the status)."""


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (&, <, >) as entities, per Slack's formatting rules."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(event: dict[str, Any]) -> dict[str, Any]:
    kind = escape(event.get("kind", "alert"))[:100]
    title = escape(event.get("title", "Job App Tracker alert"))[:150]
    fields = event.get("fields") or {}
    lines = [f"*{escape(k)}*: {escape(v)}"[:300] for k, v in list(fields.items())[:MAX_FIELDS]]
    return {
        "text": f"[{kind}] {title}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"kind: `{kind}`"}]},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(lines)[:MAX_TEXT] or "_no details_"},
            },
        ],
    }


def run(event: dict[str, Any], settings: Settings, session: requests.Session | None = None):
    http = session or requests.Session()
    try:
        response = http.post(settings.slack_webhook_url, json=message(event), timeout=(3, 10))
    except requests.RequestException as exc:
        log.error("slack_post_failed", kind=event.get("kind"), error=type(exc).__name__)
        raise SlackDeliveryError(f"posting to Slack failed: {type(exc).__name__}") from None
    log.info("slack_posted", kind=event.get("kind"), status=response.status_code)
    if not 200 <= response.status_code < 300:
        raise SlackDeliveryError(f"Slack answered {response.status_code}")
    return {"status": response.status_code}


_settings: Settings | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _settings
    if _settings is None:
        _settings = Settings.from_env(component="slack_notify")
        configure_logging(_settings.log_level)
    return run(event, _settings)

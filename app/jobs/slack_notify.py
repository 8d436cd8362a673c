"""The slack-notify Lambda: posts an operator alert to a Slack incoming webhook.

Event (what ``app.integrations.notifier.LambdaNotifier`` sends)::

    {"kind": "malware_found", "title": "...", "fields": {"attachment": "...", ...}}

The webhook URL is a secret: in a deployed Lambda it arrives as SLACK_WEBHOOK_URL_SECRET_ARN and
settings resolve it from Secrets Manager at cold start. Neither the URL nor the alert's content
is logged, only the kind and the HTTP status, and errors name only a status or an exception
class. A non-2xx answer raises, so Lambda's asynchronous retries and on-failure destination
take over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
import structlog

from app import bootstrap
from app.core.metrics import SLACK_DELIVERIES, SLACK_FAILURES
from app.core.settings import Settings

log = structlog.get_logger("app.jobs.slack_notify")

# (connect, read) seconds, well inside the function's timeout.
TIMEOUT = (3.05, 10.0)
# Slack's Block Kit limits, and smaller ones that keep an alert readable.
HEADER_MAX = 150  # header block plain_text
SECTION_MAX = 3000  # section block text
FALLBACK_MAX = 300  # top-level "text": the notification preview
KIND_MAX = 64
KEY_MAX = 64
VALUE_MAX = 500
MAX_FIELDS = 20
DEFAULT_TITLE = "Job App Tracker alert"
# Slack answers webhook errors with a short code such as "invalid_payload" or "no_service".
_SLACK_ERROR = re.compile(r"^[a-z_]{1,64}$")


class SlackDeliveryError(Exception):
    """Slack did not accept the message. The message names only a status, a Slack error code or
    an exception class: never the webhook URL or the alert's content."""


def escape(text: str) -> str:
    """Slack's control characters as entities (``&`` first), per Slack's formatting rules, so
    alert content can never form a link, a mention or ``<!channel>``."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` escaped and at most ``limit`` characters, never cutting an entity in half."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    size = 0
    for character in str(text):
        piece = escape(character)
        if size + len(piece) > limit - 1:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces) + "…"


def parse_event(event: Any) -> tuple[str, str, dict[str, str]]:
    """(kind, title, fields) from the event; raises ValueError for a malformed one."""
    if not isinstance(event, Mapping):
        raise ValueError("the event must be an object with kind, title and fields")
    kind = event.get("kind") or "alert"
    title = event.get("title") or DEFAULT_TITLE
    fields = event.get("fields") or {}
    if not isinstance(kind, str) or not isinstance(title, str):
        raise ValueError("the event's kind and title must be strings")
    if not isinstance(fields, Mapping):
        raise ValueError("the event's fields must be an object")
    return kind, title, {str(key): str(value) for key, value in fields.items()}


def message(event: Any) -> dict[str, Any]:
    """The webhook payload: a notification ``text`` and blocks (header with the title, the
    kind, and the fields as a list), every piece escaped and within Slack's limits."""
    kind, title, fields = parse_event(event)
    kind_text = clip(kind, KIND_MAX)
    lines = [
        f"• *{clip(key, KEY_MAX)}*: {clip(value, VALUE_MAX)}"
        for key, value in list(fields.items())[:MAX_FIELDS]
    ]
    if len(fields) > MAX_FIELDS:
        lines.append(f"_…and {len(fields) - MAX_FIELDS} more_")
    details = ""
    for line in lines:
        candidate = f"{details}\n{line}" if details else line
        if len(candidate) > SECTION_MAX:
            break
        details = candidate
    return {
        "text": clip(f"[{kind}] {title}", FALLBACK_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": clip(title, HEADER_MAX), "emoji": True},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"kind: *{kind_text}*"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": details or "_no details_"}},
        ],
    }


def run(event: Any, settings: Settings, session: requests.Session | None = None) -> dict[str, Any]:
    """Post ``event`` to the webhook in ``settings``; raises SlackDeliveryError unless 2xx."""
    kind = parse_event(event)[0][:KIND_MAX]
    payload = message(event)
    url = settings.slack_webhook_url
    if not url:
        raise SlackDeliveryError(
            "SLACK_WEBHOOK_URL (or SLACK_WEBHOOK_URL_SECRET_ARN) is not configured"
        )
    http = session or requests.Session()
    try:
        response = http.post(url, json=payload, timeout=TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        log.error("slack_post_failed", kind=kind, error="Timeout")
        raise SlackDeliveryError("posting to Slack timed out") from None
    except requests.RequestException as exc:
        log.error("slack_post_failed", kind=kind, error=type(exc).__name__)
        raise SlackDeliveryError(f"posting to Slack failed ({type(exc).__name__})") from None
    finally:
        if session is None:
            http.close()
    status = response.status_code
    accepted = 200 <= status < 300
    (log.info if accepted else log.warning)("slack_posted", kind=kind, status=status)
    if not accepted:
        code = response.text.strip()[:64]
        reason = f"Slack answered HTTP {status}"
        if _SLACK_ERROR.match(code):
            reason += f" ({code})"
        raise SlackDeliveryError(reason)
    return {"status": status}


# Read once per execution environment (the webhook URL resolved from Secrets Manager then), by
# the composition root (app/bootstrap.py).
cold_start = bootstrap.ColdStart("slack_notify", bootstrap.slack_notify_job)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = cold_start()
    try:
        result = run(event, job.settings)
    except (SlackDeliveryError, ValueError):
        job.metrics.record(SLACK_FAILURES)
        raise
    job.metrics.record(SLACK_DELIVERIES)
    return result

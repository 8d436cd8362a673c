"""The slack-notify Lambda against a local HTTP server standing in for Slack's webhook: the
message, escaping and size caps, failures, and that the webhook URL never reaches the output."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import traceback

import pytest
import structlog

from app import bootstrap
from app.core.logging import configure_logging
from app.core.settings import Settings
from app.jobs import slack_notify

SECRET_PATH = "/services/T0TEST/B0TEST/hunter2-webhook-secret"
SECRET_MARKER = "hunter2-webhook-secret"


class SlackStub(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b"ok"
    posts: list[dict] = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        type(self).posts.append(
            {
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "json": json.loads(self.rfile.read(length)),
            }
        )
        self.send_response(type(self).status)
        if 300 <= type(self).status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slack():
    handler = type("Handler", (SlackStub,), {"posts": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    handler.webhook = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    yield handler
    server.shutdown()
    server.server_close()


def settings_for(url: str) -> Settings:
    return Settings.from_env({"SLACK_WEBHOOK_URL": url}, component="slack_notify")


def post(slack, event):
    result = slack_notify.run(event, settings_for(slack.webhook))
    [request] = slack.posts
    return result, request


EVENT = {
    "kind": "malware_found",
    "title": "Malware found in an upload",
    "fields": {"attachment": "3f6c", "owner": "u-1", "threats": "EICAR-Test-File"},
}


# ----- the message ------------------------------------------------------------------------------


def test_posts_a_readable_message_to_the_webhook(slack):
    result, request = post(slack, EVENT)
    assert result == {"status": 200}
    assert request["path"] == SECRET_PATH
    assert request["content_type"] == "application/json"
    assert request["json"] == {
        "text": "[malware_found] Malware found in an upload",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "Malware found in an upload", "emoji": True},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "kind: *malware_found*"}]},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "• *attachment*: 3f6c\n• *owner*: u-1\n• *threats*: EICAR-Test-File",
                },
            },
        ],
    }


def test_control_characters_are_escaped_everywhere(slack):
    event = {
        "kind": "scan<failed>",
        "title": "R&D <!channel> upload",
        "fields": {"<b>": "<https://evil.example|click me> & <@U123>"},
    }
    _, request = post(slack, event)
    payload = request["json"]
    assert payload["text"] == "[scan&lt;failed&gt;] R&amp;D &lt;!channel&gt; upload"
    assert payload["blocks"][0]["text"]["text"] == "R&amp;D &lt;!channel&gt; upload"
    assert payload["blocks"][1]["elements"][0]["text"] == "kind: *scan&lt;failed&gt;*"
    assert payload["blocks"][2]["text"]["text"] == (
        "• *&lt;b&gt;*: &lt;https://evil.example|click me&gt; &amp; &lt;@U123&gt;"
    )
    # No raw control character survives anywhere in the message.
    for text in (payload["text"], json.dumps(payload["blocks"])):
        assert "<" not in text and ">" not in text


def test_escape_converts_the_ampersand_first():
    assert slack_notify.escape("&lt; <") == "&amp;lt; &lt;"


def test_sizes_are_capped(slack):
    event = {
        "kind": "k" * 500,
        "title": "T" * 1000,
        "fields": {f"field{number:02d}": "v" * 5000 for number in range(30)},
    }
    _, request = post(slack, event)
    payload = request["json"]
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == slack_notify.HEADER_MAX and header.endswith("…")
    assert len(payload["text"]) <= slack_notify.FALLBACK_MAX
    kind = payload["blocks"][1]["elements"][0]["text"]
    assert len(kind) <= len("kind: **") + slack_notify.KIND_MAX
    details = payload["blocks"][2]["text"]["text"]
    assert len(details) <= slack_notify.SECTION_MAX
    lines = details.split("\n")
    assert lines[0].startswith("• *field00*: vvv") and lines[0].endswith("…")
    assert len(lines[0]) <= len("• *field00*: ") + slack_notify.VALUE_MAX
    assert "field29" not in details  # beyond the section's limits


def test_more_fields_than_listed_are_counted():
    fields = {f"f{number}": "x" for number in range(slack_notify.MAX_FIELDS + 3)}
    details = slack_notify.message({"kind": "k", "title": "t", "fields": fields})["blocks"][2]
    lines = details["text"]["text"].split("\n")
    assert len(lines) == slack_notify.MAX_FIELDS + 1
    assert lines[-1] == "_…and 3 more_"


def test_clipping_never_cuts_an_entity():
    clipped = slack_notify.clip("&" * 100, 10)
    assert clipped == "&amp;…"  # a second "&amp;" would not fit in the 9 characters before "…"
    assert slack_notify.clip("a<b", 10) == "a&lt;b"  # fits: unchanged apart from escaping


def test_an_event_without_fields_or_title_still_reads_well(slack):
    _, request = post(slack, {"kind": "scan_failed"})
    blocks = request["json"]["blocks"]
    assert blocks[0]["text"]["text"] == "Job App Tracker alert"
    assert blocks[2]["text"]["text"] == "_no details_"


@pytest.mark.parametrize(
    "event",
    [["not", "an", "object"], {"kind": 3, "title": "t"}, {"kind": "k", "fields": ["a"]}],
)
def test_a_malformed_event_raises_before_posting(slack, event):
    with pytest.raises(ValueError):
        slack_notify.run(event, settings_for(slack.webhook))
    assert slack.posts == []


# ----- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,body,message",
    [
        (500, b"internal error", "Slack answered HTTP 500"),
        (404, b"no_service", "Slack answered HTTP 404 (no_service)"),
        (400, b"invalid_blocks", "Slack answered HTTP 400 (invalid_blocks)"),
        (302, b"", "Slack answered HTTP 302"),  # a redirect is not followed
    ],
)
def test_a_non_2xx_answer_raises(slack, status, body, message):
    slack.status, slack.body = status, body
    with pytest.raises(slack_notify.SlackDeliveryError) as raised:
        slack_notify.run(EVENT, settings_for(slack.webhook))
    assert str(raised.value) == message
    assert len(slack.posts) == 1


def test_an_unreachable_webhook_raises():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(slack_notify.SlackDeliveryError, match=r"failed \(ConnectionError\)"):
        slack_notify.run(EVENT, settings_for(f"http://127.0.0.1:{port}{SECRET_PATH}"))


def test_a_missing_webhook_url_raises():
    with pytest.raises(slack_notify.SlackDeliveryError, match="SLACK_WEBHOOK_URL"):
        slack_notify.run(EVENT, Settings.from_env({}, component="slack_notify"))


# ----- the webhook URL and the payload stay out of the output ------------------------------------


def secret_event():
    return {
        "kind": "scan_failed",
        "title": "Scan failed",
        "fields": {"attachment": "3f6c", "detail": "token=payload-secret-4471"},
    }


def test_success_logs_only_the_kind_and_status(slack, capsys):
    configure_logging("DEBUG")
    slack_notify.run(secret_event(), settings_for(slack.webhook))
    output = capsys.readouterr()
    assert SECRET_MARKER not in output.out + output.err
    assert "payload-secret-4471" not in output.out + output.err
    [record] = [json.loads(line) for line in output.out.splitlines() if "slack_posted" in line]
    assert {key: record[key] for key in ("event", "kind", "status")} == {
        "event": "slack_posted",
        "kind": "scan_failed",
        "status": 200,
    }
    assert set(record) <= {"event", "kind", "status", "level", "timestamp"}


@pytest.mark.parametrize("failure", ["status", "unreachable"])
def test_failures_never_show_the_webhook_url(slack, capsys, failure):
    configure_logging("DEBUG")
    url = slack.webhook
    if failure == "status":
        slack.status, slack.body = 403, b"invalid_token"
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}{SECRET_PATH}"
    with pytest.raises(slack_notify.SlackDeliveryError) as raised:
        slack_notify.run(secret_event(), settings_for(url))
    shown = "".join(traceback.format_exception(raised.value))
    output = capsys.readouterr()
    for text in (shown, output.out, output.err):
        assert SECRET_MARKER not in text
        assert "payload-secret-4471" not in text
    assert '"kind": "scan_failed"' in output.out  # the failure itself is logged


def test_the_log_redaction_covers_webhook_keys(capsys):
    configure_logging("INFO")
    structlog.get_logger("test").info("probe", slack_webhook_url="https://hooks.example/x")
    assert '"slack_webhook_url": "[REDACTED]"' in capsys.readouterr().out


def test_settings_repr_hides_the_webhook_url(slack):
    assert SECRET_MARKER not in repr(settings_for(slack.webhook))


# ----- settings: from Secrets Manager, read once per cold start ----------------------------------


def test_a_webhook_from_a_secret_arn_is_used(slack):
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jat/slack-webhook-AbCdEf"
    fetched = []

    def fetch(secret_arn):
        fetched.append(secret_arn)
        return slack.webhook

    settings = Settings.from_env(
        {"SLACK_WEBHOOK_URL_SECRET_ARN": arn}, component="slack_notify", fetch_secret=fetch
    )
    assert slack_notify.run(EVENT, settings) == {"status": 200}
    assert fetched == [arn]
    assert slack.posts[0]["path"] == SECRET_PATH


def test_handler_reads_settings_once_per_cold_start(slack, monkeypatch):
    # A fresh execution environment, for this test only.
    fresh = bootstrap.ColdStart("slack_notify", bootstrap.slack_notify_job)
    monkeypatch.setattr(slack_notify, "cold_start", fresh)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook)
    monkeypatch.delenv("SLACK_WEBHOOK_URL_SECRET_ARN", raising=False)
    monkeypatch.setenv("APP_ENV", "test")
    assert slack_notify.handler(EVENT, None) == {"status": 200}
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/never-used")
    assert slack_notify.handler(EVENT, None) == {"status": 200}  # still the cold-start URL
    assert [post["path"] for post in slack.posts] == [SECRET_PATH, SECRET_PATH]

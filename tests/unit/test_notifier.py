"""The notifiers: LambdaNotifier's real Invoke request against a local HTTP server used as the
Lambda endpoint, LogNotifier's log line, and the choice between them."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
from botocore.config import Config

from app.bootstrap import build_notifier
from app.core.logging import configure_logging
from app.core.settings import Settings
from app.integrations import aws
from app.integrations.lambda_notifier import LambdaNotifier
from app.integrations.notifier import LogNotifier, NotificationError, Notifier

ALERT_FIELDS = {"attachment": "3f6c", "threats": "EICAR-Test-File", "token": "do-not-leak-9731"}


class LambdaStub(http.server.BaseHTTPRequestHandler):
    """Records each request and answers with the configured status, body and headers."""

    status = 202
    body = b""
    extra_headers: dict[str, str] = {}
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        type(self).requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "body": self.rfile.read(length),
            }
        )
        self.send_response(type(self).status)
        for key, value in {"Content-Type": "application/json", **self.extra_headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    handler = type("Handler", (LambdaStub,), {"requests": [], "extra_headers": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


def lambda_client(endpoint_url: str):
    """The application's own kind of client (botocore on its pruned data, app/integrations/aws.py).
    Test-only static credentials: the stub does not check the signature."""
    return aws.pruned_session().create_client(
        "lambda",
        region_name="eu-west-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="AKIDTESTONLY",
        aws_secret_access_key="test-only",  # noqa: S106 - a test-only placeholder
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def test_notify_invokes_the_function_asynchronously(stub):
    LambdaNotifier("jat-dev-slack-notify", "eu-west-1", lambda_client(stub.url)).notify(
        "malware_found", "Malware found in an upload", ALERT_FIELDS
    )
    [request] = stub.requests
    assert request["method"] == "POST"
    assert request["path"] == "/2015-03-31/functions/jat-dev-slack-notify/invocations"
    assert request["headers"]["x-amz-invocation-type"] == "Event"
    assert request["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert json.loads(request["body"]) == {
        "kind": "malware_found",
        "title": "Malware found in an upload",
        "fields": ALERT_FIELDS,
    }


def test_notify_by_arn_names_the_arn_in_the_path(stub):
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:jat-prod-slack-notify"
    LambdaNotifier(arn, None, lambda_client(stub.url)).notify("scan_failed", "t", {})
    assert stub.requests[0]["path"] == (
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3A"
        "jat-prod-slack-notify/invocations"
    )


def test_field_values_are_sent_as_strings(stub):
    LambdaNotifier("fn", None, lambda_client(stub.url)).notify("scan_failed", "t", {"size": 42})
    assert json.loads(stub.requests[0]["body"])["fields"] == {"size": "42"}


def test_an_arn_sets_the_client_region():
    notifier = LambdaNotifier("arn:aws:lambda:eu-west-2:123456789012:function:f", "us-east-1")
    assert notifier.region == "eu-west-2"
    assert notifier._client.meta.region_name == "eu-west-2"
    assert LambdaNotifier("f", "us-east-1")._client.meta.region_name == "us-east-1"


def test_a_lambda_error_raises_without_the_payload(stub):
    stub.status = 404
    stub.extra_headers = {"X-Amzn-ErrorType": "ResourceNotFoundException"}
    stub.body = json.dumps({"Type": "User", "Message": "Function not found: fn"}).encode()
    notifier = LambdaNotifier("fn", None, lambda_client(stub.url))
    with pytest.raises(NotificationError) as raised:
        notifier.notify("malware_found", "Malware found", ALERT_FIELDS)
    assert raised.value.status_code == 404
    assert str(raised.value) == "invoking fn failed: ResourceNotFoundException"
    assert "do-not-leak-9731" not in str(raised.value)
    assert raised.value.__suppress_context__


def test_a_server_error_raises(stub):
    stub.status = 500
    stub.body = b'{"message": "internal"}'
    with pytest.raises(NotificationError) as raised:
        LambdaNotifier("fn", None, lambda_client(stub.url)).notify("scan_failed", "t", {})
    assert raised.value.status_code == 500


def test_an_answer_other_than_queued_raises(stub):
    stub.status = 200  # a synchronous answer: the alert was not queued as asked
    with pytest.raises(NotificationError, match="answered 200 instead of 202"):
        LambdaNotifier("fn", None, lambda_client(stub.url)).notify("scan_failed", "t", {})


def test_an_unreachable_endpoint_raises():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    notifier = LambdaNotifier("fn", None, lambda_client(f"http://127.0.0.1:{port}"))
    with pytest.raises(NotificationError, match="EndpointConnectionError"):
        notifier.notify("scan_failed", "t", ALERT_FIELDS)


def test_log_notifier_logs_a_structured_warning_with_secrets_redacted(capsys):
    configure_logging("INFO")
    LogNotifier().notify("scan_failed", "Scan failed", ALERT_FIELDS)
    [line] = [line for line in capsys.readouterr().out.splitlines() if "operator_alert" in line]
    record = json.loads(line)
    assert record["level"] == "warning"
    assert (record["kind"], record["title"]) == ("scan_failed", "Scan failed")
    assert record["fields"]["attachment"] == "3f6c"
    assert record["fields"]["token"] == "[REDACTED]"
    assert "do-not-leak-9731" not in line


def test_build_notifier_chooses_by_settings():
    local = build_notifier(Settings.from_env({}))
    assert isinstance(local, LogNotifier) and isinstance(local, Notifier)
    by_name = build_notifier(
        Settings.from_env(
            {"SLACK_LAMBDA_FUNCTION_NAME": "jat-dev-slack", "AWS_REGION": "eu-west-1"}
        )
    )
    assert isinstance(by_name, LambdaNotifier) and isinstance(by_name, Notifier)
    assert (by_name.function, by_name.region) == ("jat-dev-slack", "eu-west-1")
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:jat-prod-slack"
    by_arn = build_notifier(Settings.from_env({"SLACK_LAMBDA_FUNCTION_ARN": arn}))
    assert (by_arn.function, by_arn.region) == (arn, "eu-central-1")

"""The local scanner, the Lambda notifier and the slack-notify Lambda, against real sockets."""

from __future__ import annotations

import http.server
import json
import socket
import struct
import threading
from pathlib import Path

import boto3
import pytest

from app.core.settings import Settings
from app.integrations.notifier import LambdaNotifier, LogNotifier, NotificationError, build_notifier
from app.integrations.scanner import EICAR, LocalScanner
from app.jobs import slack_notify


class Capture(http.server.BaseHTTPRequestHandler):
    status = 200
    received: list = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def capture_server():
    handler = type("Handler", (Capture,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()


# ----- the local scanner ---------------------------------------------------------------------


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return path


def test_eicar_is_infected(tmp_path):
    verdict = LocalScanner().scan(write(tmp_path, EICAR))
    assert verdict.status == "THREATS_FOUND" and verdict.threats == ["EICAR-Test-File"]


def test_eicar_with_trailing_whitespace_is_infected(tmp_path):
    assert LocalScanner().scan(write(tmp_path, EICAR + b"\r\n")).status == "THREATS_FOUND"


def test_eicar_not_at_the_start_is_not_the_test_file(tmp_path):
    # The EICAR specification requires the string to start the file.
    assert LocalScanner().scan(write(tmp_path, b"hello " + EICAR)).status == "NO_THREATS_FOUND"


def test_benign_file_is_clean(tmp_path):
    assert LocalScanner().scan(write(tmp_path, b"just a cover letter")).status == "NO_THREATS_FOUND"


def test_unreadable_file_fails(tmp_path):
    assert LocalScanner().scan(tmp_path / "missing").status == "FAILED"


class FakeClamd:
    """A unix-socket server speaking clamd's INSTREAM protocol."""

    def __init__(self, path: Path, reply: bytes):
        self.path, self.reply, self.received = path, reply, b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _read(self, conn, size):
        data = b""
        while len(data) < size:
            data += conn.recv(size - len(data))
        return data

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            assert self._read(conn, 10) == b"zINSTREAM\0"
            while True:
                (length,) = struct.unpack("!L", self._read(conn, 4))
                if length == 0:
                    break
                self.received += self._read(conn, length)
            conn.sendall(self.reply + b"\0")


@pytest.mark.parametrize(
    "reply,status,threats",
    [
        (b"stream: OK", "NO_THREATS_FOUND", []),
        (b"stream: Win.Test.EICAR_HDB-1 FOUND", "THREATS_FOUND", ["Win.Test.EICAR_HDB-1"]),
        (b"INSTREAM size limit exceeded. ERROR", "FAILED", []),
    ],
)
def test_clamd_instream(tmp_path, reply, status, threats):
    clamd = FakeClamd(tmp_path / "clamd.sock", reply)
    content = b"x" * 150_000  # more than one chunk
    verdict = LocalScanner(str(tmp_path / "clamd.sock")).scan(write(tmp_path, content))
    assert (verdict.status, verdict.threats) == (status, threats)
    assert clamd.received == content


# ----- the notifier --------------------------------------------------------------------------


def lambda_client(url: str):
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_lambda_notifier_invokes_asynchronously(capture_server):
    server, handler = capture_server
    handler.status = 202
    url = f"http://127.0.0.1:{server.server_address[1]}"
    LambdaNotifier("jat-dev-slack-notify", None, lambda_client(url)).notify(
        "malware_found", "Malware found", {"attachment": "a1"}
    )
    path, headers, body = handler.received[0]
    assert path == "/2015-03-31/functions/jat-dev-slack-notify/invocations"
    assert headers["X-Amz-Invocation-Type"] == "Event"
    assert json.loads(body) == {
        "kind": "malware_found",
        "title": "Malware found",
        "fields": {"attachment": "a1"},
    }


def test_lambda_notifier_failure_raises(capture_server):
    server, handler = capture_server
    handler.status = 500
    url = f"http://127.0.0.1:{server.server_address[1]}"
    notifier = LambdaNotifier("fn", None, lambda_client(url))
    with pytest.raises(NotificationError):
        notifier.notify("scan_failed", "x", {})


def test_build_notifier_picks_lambda_only_when_configured():
    assert isinstance(build_notifier(Settings.from_env({})), LogNotifier)
    configured = Settings.from_env({"SLACK_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "eu-west-1"})
    assert isinstance(build_notifier(configured), LambdaNotifier)


# ----- the slack-notify Lambda -----------------------------------------------------------------


def slack_settings(server) -> Settings:
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/very-secret-token"
    return Settings.from_env({"SLACK_WEBHOOK_URL": url}, component="slack_notify")


def test_slack_message_is_readable_and_escaped(capture_server):
    server, handler = capture_server
    event = {
        "kind": "malware_found",
        "title": "Malware <found> & removed",
        "fields": {"attachment": "a1", "threats": "<script>"},
    }
    assert slack_notify.run(event, slack_settings(server)) == {"status": 200}
    payload = json.loads(handler.received[0][2])
    assert payload["text"] == "[malware_found] Malware &lt;found&gt; &amp; removed"
    assert payload["blocks"][0]["type"] == "header"
    assert "*threats*: &lt;script&gt;" in payload["blocks"][2]["text"]["text"]


def test_slack_failure_raises_and_never_logs_the_webhook(capture_server, capsys):
    server, handler = capture_server
    handler.status = 500
    from app.core.logging import configure_logging

    configure_logging("INFO")
    with pytest.raises(slack_notify.SlackDeliveryError):
        slack_notify.run(
            {"kind": "scan_failed", "title": "t", "fields": {"k": "v"}}, slack_settings(server)
        )
    output = capsys.readouterr()
    assert "very-secret-token" not in output.out + output.err
    assert "slack_posted" in output.out  # the status is logged, the URL is not

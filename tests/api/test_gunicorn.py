"""The real server: gunicorn with app/gunicorn_conf.py over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.core.local_gunicorn import LocalGunicorn

REPO = Path(__file__).resolve().parents[2]


class Gunicorn(LocalGunicorn):
    """The API under the project's gunicorn (one worker), serving once /health answers."""

    def __init__(self, env: dict[str, str]):
        super().__init__({"PATH": os.environ["PATH"], **env}, "--workers", "1")
        self.wait_until_serving(lambda: self.request("GET", "/health")[0] == 200, seconds=20)

    def request(self, method, path, body=None, headers=None, timeout=10):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null"), response
        finally:
            connection.close()


@pytest.fixture
def gunicorn(db_env):
    server = Gunicorn(db_env)
    yield server
    server.stop()


def test_serves_health_and_readiness_over_http(gunicorn):
    status, body, response = gunicorn.request("GET", "/health")
    assert (status, body["success"]) == (200, True)
    assert response.getheader("X-Request-ID")
    assert "gunicorn/" not in (response.getheader("Server") or "")  # no version disclosed
    status, body, _ = gunicorn.request("GET", "/health/ready")
    assert (status, body["data"]["database"]) == (200, "ok")


def test_unknown_route_over_http_is_the_404_envelope(gunicorn):
    status, body, response = gunicorn.request("GET", "/nope")
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["meta"]["request_id"] == response.getheader("X-Request-ID")


def test_chunked_body_without_length_is_refused(gunicorn):
    def chunks():
        yield b'{"email": "a@b.c"}'

    status, body, _ = gunicorn.request(
        "POST",
        "/health",
        body=chunks(),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert status == 411
    assert body["error"]["code"] == "LENGTH_REQUIRED"


def test_sigterm_lets_the_in_flight_request_finish(db_env):
    from tests.api.test_readiness import SilentServer

    hanging = SilentServer()
    server = Gunicorn({**db_env, "DB_PORT": str(hanging.port), "READY_TIMEOUT_SECONDS": "2"})
    outcome = {}

    def slow_request():
        outcome["result"] = server.request("GET", "/health/ready", timeout=15)

    try:
        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.7)  # the request is now waiting on the hanging database
        server.process.send_signal(signal.SIGTERM)
        worker.join(20)
        status, body, _ = outcome["result"]
        assert status == 503
        assert body["error"]["code"] == "DATABASE_UNAVAILABLE"
        assert server.stop() == 0
    finally:
        hanging.close()
        if server.process.poll() is None:
            server.process.kill()


def test_production_problems_stop_the_master_in_one_message_as_the_api(tmp_path):
    """gunicorn's config validates as the API: every problem (the API's own requirements among
    them) in one message, before any worker boots."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "PATH": os.environ["PATH"],
        "APP_ENV": "production",
        "DB_HOST": "db.internal",
        "DB_SSLROOTCERT": str(ca),
        "JWT_SECRET": "s" * 40,
        "LOG_LEVEL": "DEBUG",
        "RATE_LIMIT_SCALE": "5",
        "STORAGE_BACKEND": "s3",
        "SCANNER": "guardduty",
        "UPLOADS_BUCKET": "uploads",
        "EMAIL_PROVIDER": "ses",
        "FROM_EMAIL": "noreply@example.com",
        "AWS_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "app/gunicorn_conf.py", "app.main:app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("Invalid configuration:") == 1
    for expected in (
        "DB_APP_USER is required",
        "FRONTEND_URL is required",
        "API_URL is required",
        "MFA_ENCRYPTION_KEY (or MFA_ENCRYPTION_KEY_SECRET_ARN) is required",
        "TRUSTED_PROXY_HOPS is required in production",
        "JWT_SECRET is low in variety",
        "LOG_LEVEL=DEBUG is refused",
        "RATE_LIMIT_SCALE=5 loosens every rate limit",
    ):
        assert expected in output
    assert "Booting worker" not in output and "Traceback" not in output


class ResendStandIn:
    """Resend's POST /emails on a local port: records each recipient, answers 200."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.extend(body["to"])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "12")
                self.end_headers()
                self.wfile.write(b'{"id": "e1"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, address: str, seconds: float = 20) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if address in self.received:
                return True
            time.sleep(0.1)
        return False


def _reset(server: Gunicorn, email: str) -> int:
    status, _, _ = server.request(
        "POST",
        "/v1/auth/password-reset",
        body=json.dumps({"email": email}),
        headers={"Content-Type": "application/json"},
    )
    return status


def test_each_worker_drains_the_outbox_and_a_restarted_worker_does_too(db_env):
    import psutil
    import psycopg2

    from app.core.settings import Settings
    from tests.helpers import unique_email

    provider = ResendStandIn()
    server = Gunicorn(
        {
            **db_env,
            "EMAIL_PROVIDER": "resend",
            "FROM_EMAIL": "noreply@example.com",
            "RESEND_API_KEY": "re_test_not_a_real_key",
            "RESEND_API_URL": provider.url,
        }
    )
    try:
        first, second = unique_email(), unique_email()
        with psycopg2.connect(Settings.from_env(db_env).database_url) as connection:
            for email in (first, second):
                connection.cursor().execute(
                    "INSERT INTO users (id, email, password_hash, password_changed_at, "
                    "force_password_change, is_active, created_at, updated_at) "
                    "VALUES (gen_random_uuid(), %s, 'x', now(), false, true, now(), now())",
                    (email,),
                )
        connection.close()
        assert _reset(server, first) == 202
        assert provider.wait_for(first), "the worker's drainer did not send the email"

        (worker,) = psutil.Process(server.process.pid).children()
        worker.kill()  # the master forks a new worker, which starts its own drainer
        worker.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = psutil.Process(server.process.pid).children()
            if children and children[0].pid != worker.pid:
                break
            time.sleep(0.1)
        while time.monotonic() < deadline and _reset(server, second) != 202:
            time.sleep(0.2)
        assert provider.wait_for(second), "the restarted worker did not send the email"
    finally:
        server.stop()
        provider.server.shutdown()

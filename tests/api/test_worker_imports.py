"""What an API worker imports once it has served the common requests, with the production
adapters configured (S3 storage, the Lambda notifier, Resend email against a local stub): the
libraries only rare routes need, or that one adapter could do without, stay out of every
worker's memory (docs/benchmarks.md, scripts/measure_worker_memory.py).

The worker runs in a fresh interpreter, built as under gunicorn (``app/gunicorn_conf.py`` and
``app.main`` imported first, as the master does, then the API assembled), so what other tests
imported cannot hide an import. It registers an account, asks for a password reset (the email
goes through Resend to the stub), signs in, creates an application and reads it back, lists, and
reads "me".
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Each with the reason it must not be in a worker that served the common requests.
NOT_IMPORTED = {
    # Resend's POST is sent with urllib3 (botocore's HTTP library); requests brought these.
    "requests": "Resend is called with urllib3",
    "charset_normalizer": "imported by requests, with every CJK codec",
    "simplejson": "imported by requests when installed (awslambdaric installs it)",
    # botocore's HTTP layer is imported without urllib3's pyOpenSSL shim (app/integrations/aws.py).
    "OpenSSL": "pyOpenSSL: only passkey attestation uses it, imported there on first use",
    "webauthn": "imported by the passkey service on first use",
    "smtplib": "the SMTP adapter is imported only when Gmail is configured",
    "multiprocessing": "gunicorn's configuration counts the CPUs with os.cpu_count",
}

SERVE_AND_REPORT = """
import json, os, sys

env, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
os.environ.update(env)
import app.gunicorn_conf  # gunicorn's master: the configuration, which imports app.main
import app.main
from app.core.settings import Settings

assembly = app.main.assemble(Settings.from_env(env))
from falcon.testing import TestClient

client = TestClient(assembly.wsgi)


def call(method, path, **options):
    # An address of its own: the rate limits' counters live in the session's shared database.
    return client.simulate_request(method, path, remote_addr="192.0.2.216", **options)


browser = {"Origin": env["FRONTEND_URL"], "User-Agent": "worker-imports-test"}
statuses = {}
email, password = env["TEST_EMAIL"], "correct-horse-battery-staple-42"
body = {"email": email, "password": password}
registered = call("POST", "/v1/auth/register", json=body, headers=browser)
statuses["register"] = registered.status_code
reset = call("POST", "/v1/auth/password-reset", json={"email": email}, headers=browser)
statuses["password-reset"] = reset.status_code
while assembly.outbox_drainer.drain_once():
    pass
login = call("POST", "/v1/auth/login", json=body, headers=browser)
statuses["login"] = login.status_code
bearer = {"Authorization": "Bearer " + login.json["data"]["access_token"]}
application = {"company": "Acme", "role_title": "Engineer"}
created = call("POST", "/v1/applications", json=application, headers=bearer)
statuses["create"] = created.status_code
path = "/v1/applications/" + created.json["data"]["id"]
statuses["get"] = call("GET", path, headers=bearer).status_code
statuses["list"] = call("GET", "/v1/applications", headers=bearer).status_code
statuses["me"] = call("GET", "/v1/users/me", headers=bearer).status_code
imported = sorted(name for name in watched if name in sys.modules)
print(json.dumps({"statuses": statuses, "imported": imported}))
"""


class ResendStub(ThreadingHTTPServer):
    """Answers every POST as Resend does (200 with an id) and keeps the recipients."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ResendHandler)
        self.recipients: list[str] = []


class _ResendHandler(BaseHTTPRequestHandler):
    server: ResendStub

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        document = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.server.recipients.extend(document["to"])
        payload = b'{"id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def resend_stub():
    server = ResendStub()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def serve_common_requests(db_env: dict[str, str], resend_url: str, email: str) -> dict:
    env = {
        **db_env,
        "STORAGE_BACKEND": "s3",
        "UPLOADS_BUCKET": "jat-test-uploads",
        "AWS_REGION": "eu-west-1",
        "SLACK_LAMBDA_FUNCTION_NAME": "jat-test-slack-notify",
        "EMAIL_PROVIDER": "resend",
        "RESEND_API_KEY": "re_worker_imports_test",
        "RESEND_API_URL": resend_url,
        "FROM_EMAIL": "noreply@example.com",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_SCALE": "1000",
        "TEST_EMAIL": email,
    }
    env.setdefault("FRONTEND_URL", "http://localhost:5173")
    result = subprocess.run(
        [sys.executable, "-c", SERVE_AND_REPORT, json.dumps(env), json.dumps(list(NOT_IMPORTED))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worker_that_served_the_common_requests_imported_none_of_the_libraries_it_does_without(
    db_env, resend_stub
):
    from tests.helpers import unique_email

    email = unique_email("worker-imports")
    report = serve_common_requests(
        db_env, f"http://127.0.0.1:{resend_stub.server_address[1]}", email
    )

    assert report["statuses"] == {
        "register": 201,
        "password-reset": 202,
        "login": 200,
        "create": 201,
        "get": 200,
        "list": 200,
        "me": 200,
    }
    assert email in resend_stub.recipients  # the reset email went through Resend
    assert {name: NOT_IMPORTED[name] for name in report["imported"]} == {}


def test_the_apis_database_connections_never_look_for_kerberos(settings):
    """libpq's default gssencmode (prefer) looks for Kerberos credentials on every new
    connection and initialises Kerberos in the worker; the API's connections skip it."""
    from app.core.database import make_database

    database = make_database(settings.database_url, settings, application_name="gss-check")
    try:
        with database.connection_context():
            parameters = database.connection().get_dsn_parameters()
    finally:
        database.close_all()
    assert parameters["gssencmode"] == "disable"

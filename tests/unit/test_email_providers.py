"""Each email adapter against a real counterpart: a local HTTP server for Resend, moto for SES and
a local SMTPS server (aiosmtpd, test-time certificate from trustme) for Gmail."""

from __future__ import annotations

import dataclasses
import email
import json
import socket
import ssl
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import trustme
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from structlog.testing import capture_logs

from app.bootstrap import build_email_sender
from app.core.settings import Settings
from app.integrations.email import (
    ConsoleSender,
    EmailConfigurationError,
    EmailDeliveryError,
    EmailMessage,
    EmailSender,
    ResendSender,
)
from app.integrations.email.ses import SesSender
from app.integrations.email.smtp import GmailSmtpSender
from tests.smtp_server import Authenticator, RecordingHandler, SmtpsController

API_KEY = "re_test_0123456789abcdef"
FROM = "Job App Tracker <noreply@jat.example>"
FROM_ADDRESS = "noreply@jat.example"
REGION = "eu-west-1"
GMAIL_USER = "jat.sender@gmail.example"

# SMTPS is TLS from the first byte, which aiosmtpd's AUTH-over-TLS check (built for STARTTLS)
# does not see; the fixture turns that check off and asserts TLS itself, so its warning is noise.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
APP_PASSWORD = "abcd efgh ijkl mnop"


def settings_for(**env: str) -> Settings:
    return Settings.from_env({"APP_ENV": "test", **env})


def message(**overrides) -> EmailMessage:
    fields = {
        "to": "ada@example.com",
        "subject": "Verify your email address",
        "text": "Open https://app.example/verify-email?token=abc",
        "html": '<p><a href="https://app.example/verify-email?token=abc">Verify</a></p>',
        "tags": {"category": "email_verification"},
    }
    fields.update(overrides)
    return EmailMessage(**fields)


# ----- message ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": "ada@example.com\r\nBcc: eve@example.com"},
        {"subject": "Hello\nBcc: eve@example.com"},
        {"to": "not-an-address"},
        {"html": ""},
        {"tags": {"category": "has space"}},
    ],
)
def test_message_rejects_header_injection_and_incomplete_content(overrides):
    with pytest.raises(ValueError):
        message(**overrides)


# ----- Resend -------------------------------------------------------------------------------


class CapturingServer(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), CapturingHandler)
        self.requests: list[dict] = []
        self.status = 200
        self.answer: dict = {"id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}
        self.delay = 0.0
        self.location: str | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class CapturingHandler(BaseHTTPRequestHandler):
    server: CapturingServer

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.server.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": json.loads(self.rfile.read(length)),
            }
        )
        time.sleep(self.server.delay)
        payload = json.dumps(self.server.answer).encode()
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def resend_server():
    server = CapturingServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def resend_settings(server: CapturingServer) -> Settings:
    return settings_for(
        EMAIL_PROVIDER="resend",
        RESEND_API_KEY=API_KEY,
        RESEND_API_URL=server.url,
        FROM_EMAIL=FROM,
    )


def test_resend_posts_the_message_with_the_bearer_key(resend_server):
    sender = build_email_sender(resend_settings(resend_server))

    sender.send(message())

    [request] = resend_server.requests
    assert request["method"] == "POST"
    assert request["path"] == "/emails"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Content-Type"] == "application/json"
    # Resend refuses a request without a User-Agent (403, error 1010).
    assert request["headers"]["User-Agent"] == "jobapptracker-api"
    assert request["body"] == {
        "from": FROM,
        "to": ["ada@example.com"],
        "subject": "Verify your email address",
        "text": "Open https://app.example/verify-email?token=abc",
        "html": '<p><a href="https://app.example/verify-email?token=abc">Verify</a></p>',
        "tags": [{"name": "category", "value": "email_verification"}],
    }


@pytest.mark.parametrize("status", [401, 422, 500, 503])
def test_resend_error_status_raises_without_leaking_the_key_or_body(resend_server, status):
    resend_server.status = status
    resend_server.answer = {
        "statusCode": status,
        "name": "validation_error",
        "message": f"API key {API_KEY} is invalid",
    }
    sent = message()

    with pytest.raises(EmailDeliveryError) as raised:
        build_email_sender(resend_settings(resend_server)).send(sent)

    error = raised.value
    assert error.status_code == status
    assert error.provider == "resend"
    assert str(status) in str(error)
    assert "validation_error" in str(error)
    for secret in (API_KEY, sent.text, sent.html):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_resend_does_not_follow_a_redirect_with_the_key(resend_server):
    elsewhere = CapturingServer()
    thread = threading.Thread(target=elsewhere.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        resend_server.status = 307
        resend_server.location = f"{elsewhere.url}/emails"
        with pytest.raises(EmailDeliveryError, match="HTTP 307") as raised:
            build_email_sender(resend_settings(resend_server)).send(message())
        assert raised.value.status_code == 307
        assert len(resend_server.requests) == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
        thread.join()


def test_resend_times_out_and_raises(resend_server):
    resend_server.delay = 1.0
    sender = ResendSender(
        api_key=API_KEY, from_email=FROM, api_url=resend_server.url, timeout=(1.0, 0.2)
    )

    with pytest.raises(EmailDeliveryError, match="timed out"):
        sender.send(message())


def test_resend_connection_refused_raises():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sender = ResendSender(
        api_key=API_KEY, from_email=FROM, api_url=f"http://127.0.0.1:{closed_port}"
    )

    with pytest.raises(EmailDeliveryError, match="ConnectionError") as raised:
        sender.send(message())
    assert API_KEY not in str(raised.value)


def test_resend_default_timeout_is_bounded_and_repr_hides_the_key(resend_server):
    sender = build_email_sender(resend_settings(resend_server))

    assert sum(sender.timeout) <= 10
    assert API_KEY not in repr(sender)


# ----- SES ----------------------------------------------------------------------------------


def ses_settings() -> Settings:
    return settings_for(EMAIL_PROVIDER="ses", FROM_EMAIL=FROM_ADDRESS, AWS_REGION=REGION)


@mock_aws
def test_ses_sends_through_sesv2_from_a_verified_identity():
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=FROM_ADDRESS)
    sender = build_email_sender(ses_settings())
    assert isinstance(sender, SesSender)

    sender.send(message(subject="Réinitialiser — UTF-8"))

    [sent] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert sent.source == FROM_ADDRESS
    assert sent.destinations == {"ToAddresses": ["ada@example.com"]}
    assert sent.subject == "Réinitialiser — UTF-8"
    assert sent.body == message().html
    quota = boto3.client("ses", region_name=REGION).get_send_quota()
    assert quota["SentLast24Hours"] == 1


@mock_aws
def test_ses_rejection_raises_with_the_aws_error_code():
    sender = build_email_sender(ses_settings())

    with pytest.raises(EmailDeliveryError, match="MessageRejected") as raised:
        sender.send(message())

    assert raised.value.status_code == 400
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


# ----- Gmail / SMTP over implicit TLS -------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority():
    return trustme.CA()


@pytest.fixture
def smtps_server(certificate_authority):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
    handler = RecordingHandler()
    authenticator = Authenticator(GMAIL_USER, APP_PASSWORD)
    controller = SmtpsController(
        handler,
        hostname="127.0.0.1",
        port=0,
        ssl_context=server_context,
        authenticator=authenticator,
        auth_required=True,
        # The whole connection is TLS from the first byte (SMTPS); aiosmtpd's own check only
        # recognises STARTTLS, so it would otherwise refuse AUTH on an encrypted connection.
        auth_require_tls=False,
    )
    controller.start()
    yield controller, handler, authenticator
    controller.stop()


def trusting_context(certificate_authority) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


def gmail_sender(controller, certificate_authority, password=APP_PASSWORD) -> GmailSmtpSender:
    settings = settings_for(
        EMAIL_PROVIDER="smtp",
        GMAIL_USER=GMAIL_USER,
        GMAIL_APP_PASSWORD=password,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(controller.port),
    )
    built = build_email_sender(settings)
    assert isinstance(built, GmailSmtpSender)
    assert (built.host, built.port, built.user) == ("127.0.0.1", controller.port, GMAIL_USER)
    # The production default trusts the system store; here the test CA is trusted instead.
    built.ssl_context = trusting_context(certificate_authority)
    return built


def test_gmail_logs_in_over_tls_and_sends_text_and_html(smtps_server, certificate_authority):
    controller, handler, authenticator = smtps_server
    sent = message(to="grace@example.com", subject="Reset your password")

    gmail_sender(controller, certificate_authority).send(sent)

    assert [login for _, login in authenticator.attempts] == [GMAIL_USER]
    [received] = handler.messages
    assert received["tls"] is True
    assert received["authenticated_as"] == GMAIL_USER
    assert received["mail_from"] == GMAIL_USER
    assert received["rcpt_tos"] == ["grace@example.com"]
    parsed = email.message_from_bytes(received["content"], policy=policy.default)
    assert parsed["From"] == GMAIL_USER
    assert parsed["To"] == "grace@example.com"
    assert parsed["Subject"] == "Reset your password"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content().strip() == sent.text
    assert parsed.get_body(("html",)).get_content().strip() == sent.html


def test_gmail_wrong_password_raises_and_sends_nothing(smtps_server, certificate_authority):
    controller, handler, authenticator = smtps_server
    wrong = "wrong app password"

    with pytest.raises(EmailDeliveryError, match="authentication failed") as raised:
        gmail_sender(controller, certificate_authority, password=wrong).send(message())

    assert authenticator.attempts
    assert {login for _, login in authenticator.attempts} == {GMAIL_USER}
    assert handler.messages == []
    assert wrong not in str(raised.value)
    assert APP_PASSWORD not in str(raised.value)


def test_gmail_refuses_an_untrusted_certificate_before_logging_in(smtps_server):
    controller, handler, authenticator = smtps_server
    sender = GmailSmtpSender(
        user=GMAIL_USER, app_password=APP_PASSWORD, host="127.0.0.1", port=controller.port
    )

    with pytest.raises(EmailDeliveryError, match="TLS certificate rejected"):
        sender.send(message())

    assert authenticator.attempts == []
    assert handler.messages == []


def test_gmail_refuses_a_certificate_for_another_host(certificate_authority, smtps_server):
    controller, handler, authenticator = smtps_server
    context = trusting_context(certificate_authority)
    # Same server, reached by a name its certificate does not cover.
    sender = GmailSmtpSender(
        user=GMAIL_USER,
        app_password=APP_PASSWORD,
        host="localhost",
        port=controller.port,
        ssl_context=context,
    )

    with pytest.raises(EmailDeliveryError, match="TLS certificate rejected"):
        sender.send(message())
    assert authenticator.attempts == []


def test_gmail_refuses_a_non_verifying_tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    with pytest.raises(ValueError, match="verify"):
        GmailSmtpSender(user=GMAIL_USER, app_password=APP_PASSWORD, ssl_context=context)


# ----- console and the factory --------------------------------------------------------------


def test_console_writes_the_message_through_the_logger():
    sender = build_email_sender(settings_for(EMAIL_PROVIDER="console"))
    sent = message()

    with capture_logs() as logs:
        sender.send(sent)

    [event] = logs
    assert event["event"] == "email.console"
    assert (event["to"], event["subject"], event["text"]) == (sent.to, sent.subject, sent.text)
    assert "html" not in event


def test_console_is_refused_in_production():
    production = dataclasses.replace(settings_for(EMAIL_PROVIDER="console"), app_env="production")
    assert production.is_production

    with pytest.raises(EmailConfigurationError, match="development only"):
        build_email_sender(production)
    with pytest.raises(EmailConfigurationError):
        ConsoleSender(production=True)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ResendSender),
        ({"EMAIL_PROVIDER": "resend"}, ResendSender),
        ({"EMAIL_PROVIDER": "ses"}, SesSender),
        ({"EMAIL_PROVIDER": "gmail"}, GmailSmtpSender),
        ({"EMAIL_PROVIDER": "smtp"}, GmailSmtpSender),
        ({"EMAIL_PROVIDER": "console"}, ConsoleSender),
    ],
)
def test_build_email_sender_picks_the_configured_adapter(env, expected):
    settings = settings_for(
        FROM_EMAIL=FROM_ADDRESS,
        RESEND_API_KEY=API_KEY,
        AWS_REGION=REGION,
        GMAIL_USER=GMAIL_USER,
        GMAIL_APP_PASSWORD=APP_PASSWORD,
        **env,
    )

    sender = build_email_sender(settings)

    assert type(sender) is expected
    assert isinstance(sender, EmailSender)


def test_ses_sender_uses_the_configured_region():
    sender = build_email_sender(ses_settings())

    assert sender.region == REGION
    assert sender._client.meta.region_name == REGION


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"EMAIL_PROVIDER": "resend", "FROM_EMAIL": FROM_ADDRESS}, "RESEND_API_KEY"),
        ({"EMAIL_PROVIDER": "resend", "RESEND_API_KEY": API_KEY}, "FROM_EMAIL"),
        ({"EMAIL_PROVIDER": "ses", "FROM_EMAIL": FROM_ADDRESS}, "AWS_REGION"),
        ({"EMAIL_PROVIDER": "gmail", "GMAIL_USER": GMAIL_USER}, "GMAIL_APP_PASSWORD"),
    ],
)
def test_build_email_sender_names_missing_settings(env, missing):
    with pytest.raises(EmailConfigurationError, match=missing) as raised:
        build_email_sender(settings_for(**env))
    assert API_KEY not in str(raised.value)

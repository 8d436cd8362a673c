"""Test collaborators: a clock tests can move, an outbox, and an HTTP client that behaves like a
browser on the frontend's origin (cookies, Origin, a distinct client address per test)."""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import falcon.testing

from app.core.security import PasswordHashing
from app.core.settings import Settings
from app.integrations.email import EmailMessage
from app.main import assemble
from app.models import OutboxEmail

STRONG_PASSWORD = "correct-horse-battery-staple-42"
_addresses = itertools.count(1)


class FakeClock:
    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Outbox:
    """A provider stub (an EmailSender) that keeps what it was given and which thread called
    it (provider adapters have their own tests). With a drainer attached, reading ``messages``
    first delivers what the app queued, as the drainer thread would within a second."""

    def __init__(self):
        self.sent: list[EmailMessage] = []
        self.threads: list[str] = []
        self.fail_with: Exception | None = None
        self.drainer = None

    def send(self, message: EmailMessage) -> None:
        self.threads.append(threading.current_thread().name)
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    def deliver(self) -> None:
        while self.drainer is not None and self.drainer.drain_once():
            pass

    @property
    def messages(self) -> list[EmailMessage]:
        self.deliver()
        return self.sent

    def token_for(self, to: str) -> str:
        for message in reversed(self.messages):
            if message.to == to:
                match = re.search(r"token=([A-Za-z0-9_\-%]+)", message.text)
                if match:
                    return match.group(1).replace("%2D", "-").replace("%5F", "_")
        raise AssertionError(f"no email with a token was sent to {to}")


def fast_settings(settings: Settings, **overrides) -> Settings:
    """The session settings with cheap argon2 parameters (production values are benchmarked
    in scripts/bench_argon2.py) and a live environment mapping tests may change."""
    environ = dict(settings.environ)
    environ.update({key: str(value) for key, value in overrides.pop("environ", {}).items()})
    values = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "environ": environ}
    values.update(overrides)
    return replace(settings, **values)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


class Browser:
    """A falcon.testing client with a cookie jar, the frontend's Origin and its own client IP."""

    def __init__(self, app, settings: Settings, *, ip: str | None = None):
        self.client = falcon.testing.TestClient(app)
        self.settings = settings
        self.ip = ip or f"198.51.{next(_addresses) // 250}.{next(_addresses) % 250 + 1}"
        self.cookies: dict[str, str] = {}
        self.last_set_cookie: dict[str, dict] = {}
        self.csrf: str | None = None
        self.access_token: str | None = None

    def request(
        self,
        method,
        path,
        *,
        json=None,
        headers=None,
        origin=True,
        bearer=None,
        cookies=True,
        **kwargs,
    ):
        # TRUSTED_PROXY_HOPS is 0 outside production: the client is the TCP peer.
        sent = {"User-Agent": "pytest-browser"}
        if origin:
            sent["Origin"] = self.settings.frontend_url if origin is True else origin
        token = bearer if bearer is not None else self.access_token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        kwargs.setdefault("remote_addr", self.ip)
        result = self.client.simulate_request(method, path, json=json, headers=sent, **kwargs)
        self._store_cookies(result)
        return result

    def _store_cookies(self, result) -> None:
        for name, cookie in result.cookies.items():
            self.last_set_cookie[name] = cookie
            if not cookie.value or cookie.max_age == 0:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie.value

    def register(self, email: str, password: str = STRONG_PASSWORD):
        return self.request(
            "POST", "/v1/auth/register", json={"email": email, "password": password}
        )

    def login(self, email: str, password: str = STRONG_PASSWORD):
        result = self.request("POST", "/v1/auth/login", json={"email": email, "password": password})
        if result.status_code == 200:
            self.access_token = result.json["data"]["access_token"]
            self.csrf = result.json["data"]["csrf_token"]
        return result

    def refresh(self, csrf: str | None = None, **kwargs):
        headers = {"X-CSRF-Token": csrf if csrf is not None else (self.csrf or "")}
        result = self.request("POST", "/v1/auth/refresh", headers=headers, **kwargs)
        if result.status_code == 200:
            self.access_token = result.json["data"]["access_token"]
            self.csrf = result.json["data"]["csrf_token"]
        return result


def forget_queued_emails() -> None:
    """Tests share one database: emails an earlier test queued and never delivered must not
    reach this test's provider stub."""
    OutboxEmail.delete().where(
        OutboxEmail.sent_at.is_null(), OutboxEmail.failed_at.is_null()
    ).execute()


def build(settings: Settings, *, clock=None, outbox=None):
    outbox = outbox or Outbox()
    clock = clock or FakeClock()
    assembly = assemble(
        settings, clock=clock, email_sender=outbox, hashing=PasswordHashing(settings)
    )
    outbox.drainer = assembly.outbox_drainer
    with assembly.outbox_drainer.database.connection_context():
        forget_queued_emails()
    return assembly.app, clock, outbox

"""The throttling model (docs/security.md): the owner is never locked out of their account.

Real HTTP first: gunicorn serves the app and each client is a distinct loopback address
(127.x.y.z bound as the source), so TRUSTED_PROXY_HOPS=0 makes each one its own client. Then the
windows, the reset and the per-session limits, under a controllable clock.
"""

from __future__ import annotations

import http.client
import json
import random
from http.cookies import SimpleCookie

import pytest

from app.services import rate_limit
from tests.api.test_gunicorn import Gunicorn
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email

DEVICE_COOKIE = "__Host-jat_device"
ACCOUNT_BUDGET = rate_limit.LOGIN_FAILURES_PER_ACCOUNT.limit


def fresh_addresses():
    """Loopback addresses no other test uses, so per-client counters start at zero."""
    first = random.randrange(16, 250)  # noqa: S311 - spreading test clients, not security
    return (f"127.{first}.{third}.{fourth}" for third in range(1, 250) for fourth in (2, 3, 4))


class Server(Gunicorn):
    """The project's gunicorn, asked from a chosen client address."""

    def post(self, source: str, path: str, body, *, cookie: str | None = None, method="POST"):
        """One request from ``source`` (a loopback address bound as the client's own)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(source, 0)
        )
        headers = {"Content-Type": "application/json", "Origin": "http://localhost:5173"}
        if cookie:
            headers["Cookie"] = cookie
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response
        finally:
            connection.close()


@pytest.fixture
def server(db_env):
    running = Server({**db_env, "TRUSTED_PROXY_HOPS": "0"})
    yield running
    running.stop()


def device_cookie_of(response) -> SimpleCookie:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return jar


def test_known_device_signs_in_while_unknown_clients_are_throttled_over_http(server):
    addresses = fresh_addresses()
    email = unique_email("owner")
    credentials = {"email": email, "password": STRONG_PASSWORD}
    assert server.post(next(addresses), "/v1/auth/register", credentials)[0] == 201

    status, _, response = server.post(next(addresses), "/v1/auth/login", credentials)
    assert status == 200
    jar = device_cookie_of(response)
    device = jar[DEVICE_COOKIE]
    assert device["httponly"] and device["secure"] and device["path"] == "/"
    owner_cookie = f"{DEVICE_COOKIE}={device.value}"

    # Failures from other addresses spend the account's budget for unknown clients.
    wrong = {"email": email, "password": "not-the-password-at-all"}
    for _ in range(ACCOUNT_BUDGET):
        assert server.post(next(addresses), "/v1/auth/login", wrong)[0] == 401

    # The owner, with its device cookie, from yet another address: in at once.
    status, body, _ = server.post(
        next(addresses), "/v1/auth/login", credentials, cookie=owner_cookie
    )
    assert status == 200, body

    # An unknown client, even with the right password, is refused for this account.
    status, body, response = server.post(next(addresses), "/v1/auth/login", credentials)
    assert status == 429
    assert json.loads(body)["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["Retry-After"]) <= 900

    # A device cookie issued for another account buys nothing for this one.
    other = {"email": unique_email("attacker"), "password": STRONG_PASSWORD}
    source = next(addresses)
    assert server.post(source, "/v1/auth/register", other)[0] == 201
    _, _, response = server.post(source, "/v1/auth/login", other)
    foreign = f"{DEVICE_COOKIE}={device_cookie_of(response)[DEVICE_COOKIE].value}"
    assert server.post(next(addresses), "/v1/auth/login", credentials, cookie=foreign)[0] == 429


# ----- windows, reset and per-session limits (falcon.testing, controllable clock) -----------


@pytest.fixture
def env(settings):
    config = fast_settings(settings)
    app, clock, outbox = build(config)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock, e.outbox = config, app, clock, outbox
    e.browser = lambda **kw: Browser(app, config, **kw)
    return e


def exhaust_unknown_client_budget(env, email: str) -> None:
    for _ in range(ACCOUNT_BUDGET):
        assert env.browser().login(email, "guessing-password-1").status_code == 401
    assert env.browser().login(email).status_code == 429


def registered(env) -> str:
    email = unique_email()
    assert env.browser().register(email).status_code == 201
    return email


def test_the_unknown_client_budget_decays_with_its_window(env):
    email = registered(env)
    exhaust_unknown_client_budget(env, email)
    refused = env.browser().login(email)
    assert int(refused.headers["retry-after"]) <= 900
    env.clock.advance(seconds=899)
    assert env.browser().login(email).status_code == 429
    env.clock.advance(seconds=2)
    assert env.browser().login(email).status_code == 200


def test_a_completed_reset_clears_the_accounts_counters(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    for _ in range(rate_limit.LOGIN_FAILURES_PER_DEVICE.limit):  # the owner's device, too
        assert owner.login(email, "mistyped-password-1").status_code == 401
    assert owner.login(email).status_code == 429
    exhaust_unknown_client_budget(env, email)
    env.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
    confirm = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": env.outbox.token_for(email), "new_password": "reset-to-this-one-7"},
    )
    assert confirm.status_code == 204
    assert env.browser().login(email, "reset-to-this-one-7").status_code == 200
    assert owner.login(email, "reset-to-this-one-7").status_code == 200


def test_a_known_device_spends_only_its_own_budget(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    for _ in range(rate_limit.LOGIN_FAILURES_PER_DEVICE.limit):
        assert owner.login(email, "mistyped-password-1").status_code == 401
    assert owner.login(email).status_code == 429  # this device is out of guesses
    # ... which cost the shared budget nothing: an unknown client still signs in.
    assert env.browser().login(email).status_code == 200


def test_a_known_devices_success_restores_its_budget_not_the_shared_one(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    for _ in range(rate_limit.LOGIN_FAILURES_PER_DEVICE.limit - 1):
        assert owner.login(email, "mistyped-password-1").status_code == 401
    assert owner.login(email).status_code == 200
    for _ in range(rate_limit.LOGIN_FAILURES_PER_DEVICE.limit - 1):
        assert owner.login(email, "mistyped-password-1").status_code == 401
    assert owner.login(email).status_code == 200
    # Unknown clients' failures are not forgiven by the owner's success.
    exhaust_unknown_client_budget(env, email)
    assert owner.login(email).status_code == 200
    assert env.browser().login(email).status_code == 429


def test_a_tampered_or_expired_device_cookie_counts_as_unknown(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    exhaust_unknown_client_budget(env, email)
    genuine = owner.cookies[DEVICE_COOKIE]
    device_id, issued, mac = genuine.split(".")
    tampered = env.browser()
    tampered.cookies[DEVICE_COOKIE] = f"{device_id}.{int(issued) + 1}.{mac}"
    assert tampered.login(email).status_code == 429
    copied = env.browser()
    copied.cookies[DEVICE_COOKIE] = genuine
    assert copied.login(email).status_code == 200  # a genuine cookie is the device
    env.clock.advance(days=91)
    exhaust_unknown_client_budget(env, email)
    assert copied.login(email).status_code == 429  # past its 90 days


def test_change_password_and_delete_ignore_the_login_budgets(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    exhaust_unknown_client_budget(env, email)
    changed = owner.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "rotated-password-2026"},
    )
    assert changed.status_code == 204
    deleted = owner.request("DELETE", "/v1/users/me", json={"password": "rotated-password-2026"})
    assert deleted.status_code == 204


def test_wrong_current_passwords_are_limited_per_session(env):
    email = registered(env)
    first, second = env.browser(), env.browser()
    assert first.login(email).status_code == 200
    assert second.login(email).status_code == 200
    wrong = {"current_password": "not-my-password-1", "new_password": "rotated-password-2026"}
    for _ in range(rate_limit.REAUTH_FAILURES_PER_SESSION.limit):
        assert first.request("POST", "/v1/auth/password", json=wrong).status_code == 422
    right = {"current_password": STRONG_PASSWORD, "new_password": "rotated-password-2026"}
    refused = first.request("POST", "/v1/auth/password", json=right)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "RATE_LIMITED"
    assert (
        first.request("DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD}).status_code
        == 429
    )
    # Another session of the same account has its own budget.
    assert second.request("POST", "/v1/auth/password", json=right).status_code == 204


# ----- every other limit rejects past its threshold --------------------------------------------


def test_register_is_limited_per_client(env):
    client = env.browser()
    for _ in range(rate_limit.REGISTER_PER_IP.limit):
        assert client.register(unique_email()).status_code == 201
    refused = client.register(unique_email())
    assert refused.status_code == 429 and refused.json["error"]["code"] == "RATE_LIMITED"
    assert env.browser().register(unique_email()).status_code == 201  # another client


def test_password_reset_is_limited_per_client(env):
    client = env.browser()
    for _ in range(rate_limit.RESET_PER_IP.limit):
        sent = client.request("POST", "/v1/auth/password-reset", json={"email": unique_email()})
        assert sent.status_code == 202
    refused = client.request("POST", "/v1/auth/password-reset", json={"email": unique_email()})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "RATE_LIMITED"


def test_password_reset_emails_are_limited_per_account_silently(env):
    email = registered(env)
    for _ in range(rate_limit.RESET_PER_ACCOUNT.limit + 2):
        sent = env.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
        assert sent.status_code == 202
    assert [m.to for m in env.outbox.messages].count(email) == rate_limit.RESET_PER_ACCOUNT.limit


def test_verification_resend_is_limited_per_user(env):
    email = registered(env)
    owner = env.browser()
    assert owner.login(email).status_code == 200
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    for _ in range(rate_limit.RESEND_PER_USER.limit):
        assert owner.request("POST", "/v1/auth/verify-email/resend").status_code == 202
    refused = owner.request("POST", "/v1/auth/verify-email/resend")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "RATE_LIMITED"


def test_refresh_is_limited_per_client(env):
    client = env.browser()
    for _ in range(rate_limit.REFRESH_PER_IP.limit):
        assert client.refresh().status_code == 401  # no cookie, but the attempt counts
    refused = client.refresh()
    assert refused.status_code == 429 and refused.json["error"]["code"] == "RATE_LIMITED"
    assert env.browser().refresh().status_code == 401  # another client


def test_a_forged_forwarded_for_buys_no_fresh_client_budget(env):
    """TRUSTED_PROXY_HOPS is 0 outside production: the client is the TCP peer, whatever
    X-Forwarded-For it writes."""
    assert env.settings.trusted_proxy_hops == 0
    client = env.browser()
    for n in range(rate_limit.LOGIN_PER_IP.limit):
        forged = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
        result = client.request(
            "POST",
            "/v1/auth/login",
            json={"email": unique_email(), "password": "whatever-password-1"},
            headers=forged,
        )
        assert result.status_code == 401
    refused = client.request(
        "POST",
        "/v1/auth/login",
        json={"email": unique_email(), "password": "whatever-password-1"},
        headers={"X-Forwarded-For": "203.0.113.250"},
    )
    assert refused.status_code == 429

"""The account-state gates hold on every gated operation of the OpenAPI document, whatever
spelling of the path reaches the resource: the router ignores repeated leading slashes, an
encoded slash and a trailing slash, so the gate must not rest on the raw path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.models import User
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email
from tests.passkey_authenticator import for_frontend, register_passkey


def encoded_letter(path: str) -> str:
    """``/v1/applications`` as ``/v1/%61pplications``: decoded before routing."""
    head, rest = path[:4], path[4:]
    return f"{head}%{ord(rest[0]):02X}{rest[1:]}"


# Each turns a canonical path into another spelling the router sends to the same resource.
PATH_VARIANTS = {
    "canonical": lambda path: path,
    "double slash": lambda path: "/" + path,
    "triple slash": lambda path: "//" + path,
    "encoded slash": lambda path: "/%2F" + path[1:],
    "two encoded slashes": lambda path: "/%2F%2F" + path[1:],
    "trailing slash": lambda path: path + "/",
    "double slash and trailing slash": lambda path: "/" + path + "/",
    "encoded letter": encoded_letter,
}

# The committed document, which `make policy` holds equal to the one the app generates.
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

# The operations that stay open whatever the account's state: the session endpoints, reading
# the account itself (so its user can see why they are gated), and changing its address (an
# address that cannot receive mail would otherwise keep an unverified account gated for good;
# the link needs no session at all).
OPEN_IN_ANY_STATE = {
    ("GET", "/v1/users/me"),
    ("POST", "/v1/users/me/email"),
    ("POST", "/v1/users/me/email/confirm"),
}
OPEN_PREFIX = "/v1/auth/"


def gated_operations(document: dict) -> list[tuple[str, str]]:
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not operation.get("security"):
                continue
            if path.startswith(OPEN_PREFIX) or (method.upper(), path) in OPEN_IN_ANY_STATE:
                continue
            operations.append((method.upper(), path))
    return sorted(operations)


@pytest.fixture
def env(settings, tmp_path):
    config = fast_settings(
        settings,
        storage_backend="local",
        scanner="local",
        local_storage_dir=str(tmp_path / "uploads"),
    )
    app, _, _ = build(config)
    return config, app


def owned_resources(browser: Browser) -> dict[str, str]:
    created = browser.request(
        "POST", "/v1/applications", json={"company": "Acme", "role_title": "Engineer"}
    )
    assert created.status_code == 201, created.text
    application_id = created.json["data"]["id"]
    upload = browser.request(
        "POST",
        f"/v1/applications/{application_id}/attachments",
        json={"filename": "cv.txt", "content_type": "text/plain", "size": 5},
    )
    assert upload.status_code == 201, upload.text
    attachment_id = upload.json["data"]["attachment"]["id"]
    _, passkey = register_passkey(browser)
    return {
        "application_id": application_id,
        "attachment_id": attachment_id,
        "passkey_id": passkey["id"],
    }


def fresh_bodies(browser: Browser) -> dict[tuple[str, str], dict]:
    """Bodies that need a fresh challenge: a passkey registration answering this session's
    options (a gate refuses before the challenge is spent, so every spelling may reuse it)."""
    options = browser.request("POST", "/v1/users/me/mfa/passkeys/options")
    assert options.status_code == 200, options.text
    credential = for_frontend(browser.settings.frontend_url).register(options.json["data"])
    return {("POST", "/v1/users/me/mfa/passkeys"): {"name": "Gated", "credential": credential}}


# Bodies that would succeed for an ungated owner, so only the gate can refuse them.
BODIES = {
    ("POST", "/v1/applications"): {"company": "Gated Corp", "role_title": "Engineer"},
    ("PATCH", "/v1/applications/{application_id}"): {"notes": "written past the gate"},
    ("POST", "/v1/applications/{application_id}/attachments"): {
        "filename": "cv.txt",
        "content_type": "text/plain",
        "size": 5,
    },
    ("DELETE", "/v1/users/me"): {"password": STRONG_PASSWORD},
    ("PATCH", "/v1/users/me/mfa/passkeys/{passkey_id}"): {"name": "renamed past the gate"},
}

GATES = {
    "PASSWORD_CHANGE_REQUIRED": {"force_password_change": True},
    "EMAIL_NOT_VERIFIED": {"email_verified_at": None},
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_gated_operation_refuses_every_path_spelling(env, gate):
    config, app = env
    config.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    browser = Browser(app, config)
    email = unique_email("gated")
    assert browser.register(email).status_code == 201
    User.update(email_verified_at=datetime.now(UTC)).where(User.email == email).execute()
    assert browser.login(email).status_code == 200
    ids = owned_resources(browser)
    bodies = {**BODIES, **fresh_bodies(browser)}
    User.update(**GATES[gate]).where(User.email == email).execute()

    operations = gated_operations(json.loads(DOCUMENT.read_text()))
    assert ("POST", "/v1/applications") in operations
    assert ("PATCH", "/v1/applications/{application_id}") in operations
    assert ("DELETE", "/v1/users/me") in operations

    answered = []
    for method, template in operations:
        path = template.format(**ids)
        for variant, spell in PATH_VARIANTS.items():
            result = browser.request(method, spell(path), json=bodies.get((method, template)))
            answered.append((method, template, variant, result.status_code))
            assert result.status_code == 403, (method, spell(path), result.status_code)
            assert result.json["success"] is False
            assert result.json["error"]["code"] == gate, (method, spell(path), result.text)
    assert len(answered) == len(operations) * len(PATH_VARIANTS)
    # Nothing got through: the account and everything it owns are as they were.
    assert User.get_or_none(User.email == email) is not None


def test_the_open_operations_stay_open_on_every_spelling(env):
    config, app = env
    browser = Browser(app, config)
    email = unique_email("forced")
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    User.update(force_password_change=True).where(User.email == email).execute()
    for variant, spell in PATH_VARIANTS.items():
        me = browser.request("GET", spell("/v1/users/me"))
        assert me.status_code == 200, (variant, me.text)
        assert browser.request("GET", spell("/v1/auth/sessions")).status_code == 200, variant

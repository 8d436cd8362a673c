"""Inputs that used to reach a 500: control characters in any string field, JSON nested past the
parser's recursion limit, forged list cursors and a truncated local upload. Each gets a 4xx in
the envelope, with a field error where there is a field; the document's patterns say the same."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from app.main import MAX_JSON_DEPTH
from app.schemas.text import HTTP_URL_PATTERN, MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email
from tests.passkey_authenticator import register_passkey

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
APPLICATION_TEXT = {
    "company": "Acme",
    "role_title": "Engineer",
    "job_url": "https://example.com/jobs/1",
    "location": "Remote",
    "source": "referral",
    "salary_currency": "EUR",
    "notes": "first call went well",
    "status_note": "applied online",
}
# A body each operation accepts, holding every string property its schema declares.
BODIES = {
    ("POST", "/v1/auth/register"): lambda env: {"email": unique_email(), "password": PASSWORD},
    ("POST", "/v1/auth/login"): lambda env: {"email": env.email, "password": STRONG_PASSWORD},
    ("POST", "/v1/auth/password"): lambda env: {
        "current_password": STRONG_PASSWORD,
        "new_password": PASSWORD,
    },
    ("POST", "/v1/auth/password-reset"): lambda env: {"email": env.email},
    ("POST", "/v1/auth/password-reset/confirm"): lambda env: {
        "token": "t" * 43,
        "new_password": PASSWORD,
    },
    ("POST", "/v1/auth/verify-email"): lambda env: {"token": "t" * 43},
    ("POST", "/v1/applications"): lambda env: dict(APPLICATION_TEXT),
    ("PATCH", "/v1/applications/{application_id}"): lambda env: dict(APPLICATION_TEXT),
    ("POST", "/v1/applications/{application_id}/attachments"): lambda env: {
        "filename": "cv.txt",
        "content_type": "text/plain",
        "size": 5,
    },
    ("DELETE", "/v1/users/me"): lambda env: {"password": STRONG_PASSWORD},
    ("POST", "/v1/users/me/mfa/passkeys"): lambda env: {
        "name": "Laptop",
        "credential": {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {"clientDataJSON": "AAAA", "attestationObject": "AAAA"},
        },
    },
    ("PATCH", "/v1/users/me/mfa/passkeys/{passkey_id}"): lambda env: {"name": "Laptop"},
    ("POST", "/v1/users/me/email"): lambda env: {
        "new_email": unique_email(),
        "current_password": STRONG_PASSWORD,
    },
    ("POST", "/v1/users/me/email/confirm"): lambda env: {"token": "t" * 43},
    ("POST", "/v1/auth/login/mfa/passkey-options"): lambda env: {"mfa_ticket": "t" * 43},
    ("POST", "/v1/auth/login/mfa"): lambda env: {"mfa_ticket": "t" * 43, "code": "123456"},
    ("POST", "/v1/auth/step-up"): lambda env: {"code": "123456"},
    ("POST", "/v1/users/me/mfa/totp/confirm"): lambda env: {"code": "123456"},
}
PASSWORD = "a-different-long-passphrase-31"
# NUL (PostgreSQL cannot store it), escape, DEL, a C1 control (NEL) and a line break.
REFUSED_EVERYWHERE = ["\x00", "\x1b", "\x7f", "\x85"]


def resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def string_branch(schema: dict) -> dict | None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string" and "enum" not in branch and "format" not in branch:
            return branch
    return None


def body_text_fields() -> list[tuple[str, str, str, str]]:
    """(method, path, property, pattern) for every free-text property of every JSON body."""
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = resolve(content["application/json"]["schema"])
            for name, prop in schema.get("properties", {}).items():
                branch = string_branch(prop)
                if branch is not None:
                    found.append((method.upper(), path, name, branch.get("pattern")))
    return found


def query_text_fields() -> list[tuple[str, str, str | None]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = DOCUMENT["components"]["parameters"][
                        parameter["$ref"].rsplit("/", 1)[-1]
                    ]
                if parameter["in"] != "query":
                    continue
                branch = string_branch(parameter["schema"])
                if branch is not None:
                    found.append((path, parameter["name"], branch.get("pattern")))
    return found


BODY_FIELDS = body_text_fields()
QUERY_FIELDS = query_text_fields()


@pytest.fixture
def env(settings, tmp_path):
    config = fast_settings(
        settings,
        storage_backend="local",
        scanner="local",
        local_storage_dir=str(tmp_path / "uploads"),
    )
    app, _, _ = build(config)
    browser = Browser(app, config)
    browser.email = unique_email()
    assert browser.register(browser.email).status_code == 201
    assert browser.login(browser.email).status_code == 200
    created = browser.request("POST", "/v1/applications", json={"company": "A", "role_title": "B"})
    browser.application_id = created.json["data"]["id"]
    browser.passkey_id = register_passkey(browser)[1]["id"]
    return browser


def field_errors(result) -> list[str]:
    assert result.json["success"] is False, result.text
    return [detail["field"] for detail in result.json["error"]["details"]]


def test_every_free_text_field_of_the_document_declares_the_control_character_pattern():
    assert len(BODY_FIELDS) >= 20 and QUERY_FIELDS
    for method, path, name, pattern in BODY_FIELDS:
        multi_line = name in ("notes", "status_note")
        expected = MULTI_LINE_PATTERN if multi_line else SINGLE_LINE_PATTERN
        if name == "job_url":  # a URL pattern that refuses every control character as well
            expected = HTTP_URL_PATTERN
            assert re.fullmatch(pattern, "https://example.com/jobs?id=1")
            for character in REFUSED_EVERYWHERE + ["\t", "\n", "\r"]:
                assert not re.fullmatch(pattern, f"https://example.com/{character}"), character
        assert pattern == expected, (method, path, name)
        assert (method, path) in BODIES, f"no test body for {method} {path}"
    for path, name, pattern in QUERY_FIELDS:
        assert pattern == SINGLE_LINE_PATTERN, (path, name)
    # The patterns mean what the docs say: the document's regex and the server agree.
    assert re.fullmatch(MULTI_LINE_PATTERN, "tab\tnew\nline\r")
    assert not re.fullmatch(SINGLE_LINE_PATTERN, "tab\t")


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [(method, path, name) for method, path, name, _ in BODY_FIELDS],
    ids=[f"{method} {path} {name}" for method, path, name, _ in BODY_FIELDS],
)
def test_control_characters_in_any_body_field_get_a_field_error(env, method, path, name):
    target = path.replace("{application_id}", env.application_id)
    target = target.replace("{passkey_id}", env.passkey_id)
    for character in REFUSED_EVERYWHERE:
        body = BODIES[(method, path)](env)
        body[name] = f"{'x' * 20}{character}{'y' * 20}"
        result = env.request(method, target, json=body)
        assert result.status_code == 422, (name, repr(character), result.text)
        assert field_errors(result) == [name], result.text
        assert result.json["error"]["details"][0]["message"].startswith(
            "must not contain control characters"
        )


@pytest.mark.parametrize("name", ["company", "role_title", "location", "source", "job_url"])
def test_single_line_fields_refuse_line_breaks(env, name):
    body = dict(APPLICATION_TEXT, **{name: "two\nlines"})
    assert field_errors(env.request("POST", "/v1/applications", json=body)) == [name]


def test_multi_line_fields_keep_tabs_and_line_breaks(env):
    text = "first line\r\nsecond\tindented\nthird"
    created = env.request(
        "POST", "/v1/applications", json=dict(APPLICATION_TEXT, notes=text, status_note=text)
    )
    assert created.status_code == 201, created.text
    assert created.json["data"]["notes"] == text


@pytest.mark.parametrize(("path", "name"), [(path, name) for path, name, _ in QUERY_FIELDS])
def test_control_characters_in_query_parameters_get_a_field_error(env, path, name):
    result = env.request("GET", path, params={name: "a\x00b"})
    assert result.status_code == 422 and field_errors(result) == [name], result.text


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 10_000, 100_000])
def test_json_nested_past_the_recursion_limit_is_malformed(env, depth):
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        result = env.request(
            "POST",
            "/v1/applications",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        assert result.status_code == 400, result.text
        assert result.json["error"]["code"] == "MALFORMED_JSON"


def cursor(sort: str, value, row_id="00000000-0000-4000-8000-000000000000") -> str:
    raw = json.dumps([sort, value, row_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("-updated_at", "2026-11-01T10:00:00+23:59"),
        ("-updated_at", "2026-11-01T10:00:00-23:59"),
        ("-updated_at", "2026-11-01T10:00:00+05:30"),
        ("-updated_at", "2026-11-01T10:00:00"),
        ("-updated_at", "0001-01-01T00:00:00+00:00\x00"),
        ("updated_at", 12),
        ("-company", "acme\x00"),
        ("company", "acme\x1b"),
        ("-applied_on", "2026-11-01\x00"),
    ],
)
def test_forged_cursors_get_a_field_error(env, sort, value):
    params = {"sort": sort, "cursor": cursor(sort, value)}
    result = env.request("GET", "/v1/applications", params=params)
    assert result.status_code == 422, result.text
    assert field_errors(result) == ["cursor"]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(["-updated_at", "2026-11-01T10:00:00+00:00", 12]),
        json.dumps(["-updated_at", "2026-11-01T10:00:00+00:00", None]),
        json.dumps({"a": 1, "b": 2, "c": 3}),
        json.dumps(7),
        "[" * 200 + "]" * 200,
        "\xff\xfe not json",
    ],
)
def test_cursors_that_are_not_this_service_s_shape_get_a_field_error(env, raw):
    forged = base64.urlsafe_b64encode(raw.encode("latin-1")).rstrip(b"=").decode()
    result = env.request("GET", "/v1/applications", params={"cursor": forged})
    assert result.status_code == 422, result.text
    assert field_errors(result) == ["cursor"]


def test_the_service_s_own_cursors_still_page(env):
    for index in range(3):
        env.request("POST", "/v1/applications", json={"company": f"C{index}", "role_title": "R"})
    seen, next_cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": next_cursor} if next_cursor else {})}
        page = env.request("GET", "/v1/applications", params=params)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json["data"]]
        next_cursor = page.json["meta"]["next_cursor"]
        if not next_cursor:
            break
    assert len(seen) == len(set(seen)) == 4


def test_a_truncated_local_upload_is_refused_and_can_be_sent_again(env):
    started = env.request(
        "POST",
        f"/v1/applications/{env.application_id}/attachments",
        json={"filename": "cv.txt", "content_type": "text/plain", "size": 10},
    )
    assert started.status_code == 201, started.text
    upload = started.json["data"]["upload"]
    path = upload["url"].split("://", 1)[1].split("/", 1)[1]
    headers = {**upload["headers"], "Content-Length": "10"}
    short = env.client.simulate_put("/" + path, body=b"12345", headers=headers)
    assert short.status_code == 400, short.text
    assert short.json["error"]["code"] == "UPLOAD_INCOMPLETE"
    assert short.json["error"]["details"] == [
        {"field": "size", "message": "received 5 of 10 bytes"}
    ]
    attachment_id = started.json["data"]["attachment"]["id"]
    pending = env.request("GET", f"/v1/attachments/{attachment_id}")
    assert pending.json["data"]["status"] == "pending_upload"
    whole = env.client.simulate_put("/" + path, body=b"0123456789", headers=headers)
    assert whole.status_code == 200, whole.text

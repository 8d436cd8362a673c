"""GET /openapi.json and /docs: one source of contracts, validated, complete, self-hosted."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import falcon
import pytest
from openapi_spec_validator import validate

from app.openapi import ASSETS, SWAGGER_DIST


@pytest.fixture
def document(client):
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200
    return result.json


def routes_of(app: falcon.App) -> set[tuple[str, str]]:
    """(method, path template) for every /v1 route the app serves."""
    found = set()

    def walk(nodes):
        for node in nodes:
            if node.resource is not None and node.uri_template.startswith("/v1/"):
                path = node.uri_template
                for converter in (":uuid",):
                    path = path.replace(converter, "")
                for method in node.method_map:
                    responder = node.method_map[method]
                    if (
                        getattr(responder, "__name__", "") != "method_not_allowed"
                        and method != "OPTIONS"
                    ):
                        found.add((method.lower(), path))
            walk(node.children)

    walk(app._router._roots)
    return found


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_v1_operation_is_documented(client, document):
    served = routes_of(client.app)
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert len(served) >= 20
    assert served - documented == set()


def test_bearer_scheme_and_protected_operations(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from login or refresh.",
    }
    assert document["paths"]["/v1/applications"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/v1/auth/login"]["post"]


def test_errors_use_the_envelope_with_examples(document):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]["application/json"]
                    assert content["schema"] == envelope, (path, method, status)
                    assert content["example"]["success"] is False
    assert document["components"]["schemas"]["ErrorEnvelope"]["required"] == ["error", "meta"]


def test_refresh_documents_the_race_and_the_duplicated_cookie(document):
    responses = document["paths"]["/v1/auth/refresh"]["post"]["responses"]
    race = responses["409"]
    assert race["description"].startswith("REFRESH_RACE: ")
    assert "REFRESH_GRACE_SECONDS" in race["description"]
    assert race["content"]["application/json"]["example"]["error"]["code"] == "REFRESH_RACE"
    for path, method in (
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/csrf", "get"),
    ):
        duplicated = document["paths"][path][method]["responses"]["400"]
        example = duplicated["content"]["application/json"]["example"]
        assert example["error"]["code"] == "REFRESH_COOKIE_DUPLICATED", path


def test_request_schemas_carry_examples(document):
    create = document["components"]["schemas"]["ApplicationCreate"]["properties"]
    assert create["company"]["examples"] == ["Acme Corp"]
    assert document["components"]["schemas"]["LoginBody"]["properties"]["email"]["examples"]


def test_docs_page_has_its_own_strict_csp(client):
    result = client.simulate_get("/docs")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    csp = result.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert "https://" not in result.text  # nothing from a CDN


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_docs_assets_are_served(client, name):
    result = client.simulate_get(f"/docs/assets/{name}")
    assert result.status_code == 200
    assert result.content == ASSETS[name][0].read_bytes()


def test_unknown_asset_is_404(client):
    assert client.simulate_get("/docs/assets/..%2Fsettings.py").status_code == 404
    assert client.simulate_get("/docs/assets/index.html").status_code == 404


def test_vendored_swagger_ui_matches_its_recorded_checksums():
    sums = (SWAGGER_DIST / "SHA256SUMS").read_text().split("\n")
    checked = 0
    for line in filter(None, sums):
        digest, name = line.split()
        assert hashlib.sha256(Path(SWAGGER_DIST / name).read_bytes()).hexdigest() == digest, name
        checked += 1
    assert checked == 3
    assert (SWAGGER_DIST / "VERSION").read_text().startswith("swagger-ui-dist 5.")


# ----- the document describes everything the server does ------------------------------------


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


EXPECTED_OPERATION_IDS = {
    ("get", "/v1/applications"): "listApplications",
    ("post", "/v1/applications"): "createApplication",
    ("get", "/v1/applications/stats"): "getApplicationStats",
    ("get", "/v1/applications/{application_id}"): "getApplication",
    ("patch", "/v1/applications/{application_id}"): "updateApplication",
    ("delete", "/v1/applications/{application_id}"): "deleteApplication",
    ("get", "/v1/applications/{application_id}/events"): "listApplicationEvents",
    ("get", "/v1/applications/{application_id}/attachments"): "listAttachments",
    ("post", "/v1/applications/{application_id}/attachments"): "createAttachment",
    ("get", "/v1/attachments/{attachment_id}"): "getAttachment",
    ("delete", "/v1/attachments/{attachment_id}"): "deleteAttachment",
    ("post", "/v1/attachments/{attachment_id}/complete"): "completeAttachmentUpload",
    ("get", "/v1/attachments/{attachment_id}/download"): "downloadAttachment",
    ("post", "/v1/auth/register"): "register",
    ("post", "/v1/auth/login"): "login",
    ("post", "/v1/auth/refresh"): "refreshSession",
    ("post", "/v1/auth/logout"): "logout",
    ("post", "/v1/auth/logout-all"): "logoutAll",
    ("get", "/v1/auth/csrf"): "getCsrfToken",
    ("get", "/v1/auth/sessions"): "listSessions",
    ("delete", "/v1/auth/sessions/{session_id}"): "revokeSession",
    ("post", "/v1/auth/password"): "changePassword",
    ("post", "/v1/auth/verify-email"): "verifyEmail",
    ("post", "/v1/auth/verify-email/resend"): "resendVerificationEmail",
    ("post", "/v1/auth/password-reset"): "requestPasswordReset",
    ("post", "/v1/auth/password-reset/confirm"): "confirmPasswordReset",
    ("get", "/v1/users/me"): "getCurrentUser",
    ("delete", "/v1/users/me"): "deleteAccount",
    ("post", "/v1/users/me/email"): "requestEmailChange",
    ("post", "/v1/users/me/email/confirm"): "confirmEmailChange",
    ("get", "/v1/users/me/security-events"): "listSecurityEvents",
    ("get", "/v1/users/me/export"): "exportAccount",
}


def test_operation_ids_are_explicit_camel_case_unique_and_stable(document):
    found = {(method, path): op["operationId"] for path, method, op in operations(document)}
    for key, expected in EXPECTED_OPERATION_IDS.items():
        assert found[key] == expected, key
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", name) for name in found.values()), found
    assert len(set(found.values())) == len(found)


def test_every_operation_has_a_markdown_summary_and_description(document):
    for path, method, op in operations(document):
        assert op["summary"] and op["description"], (path, method)
        assert "``" not in op["description"], (path, method)  # reStructuredText, not Markdown


def test_servers_licence_and_tag_descriptions(document):
    assert document["servers"] and document["servers"][0]["url"]
    assert document["info"]["license"]["name"]
    assert document["tags"] and all(tag.get("description") for tag in document["tags"])


def test_the_cookie_session_is_described(document):
    scheme = document["components"]["securitySchemes"]["refreshCookie"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": "jat_refresh"}
    auth = document["paths"]
    for path, method, csrf in (
        ("/v1/auth/refresh", "post", True),
        ("/v1/auth/logout", "post", True),
        ("/v1/auth/csrf", "get", False),
    ):
        op = auth[path][method]
        assert {"refreshCookie": []} in op["security"], path
        headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
        assert (
            headers["Origin"]["required"] is True
            and "ORIGIN_NOT_ALLOWED" in (headers["Origin"]["description"])
        )
        assert ("X-CSRF-Token" in headers) is csrf, path
        assert "403" in op["responses"], path
    for path in ("/v1/auth/login", "/v1/auth/refresh"):
        assert "Set-Cookie" in auth[path]["post"]["responses"]["200"]["headers"], path


def test_headers_are_declared(document):
    paths = document["paths"]
    one = paths["/v1/applications/{application_id}"]
    patch_headers = [p["name"] for p in one["patch"]["parameters"] if p["in"] == "header"]
    assert patch_headers == ["If-Match"]
    for op, status in ((one["get"], "200"), (one["patch"], "200")):
        assert "ETag" in op["responses"][status]["headers"]
    created = paths["/v1/applications"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Location"} <= set(created)
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            if status == "201":
                assert "Location" in response.get("headers", {}), (path, method)
            if status in ("429", "503"):
                assert "Retry-After" in response.get("headers", {}), (path, method, status)
    download = paths["/v1/attachments/{attachment_id}/download"]["get"]["responses"]["302"]
    assert download["description"] != "Found" and download["headers"]["Location"]["required"]


def test_errors_of_every_layer_are_documented(document):
    for path, method, op in operations(document):
        responses = op["responses"]
        if "requestBody" in op:
            assert "MALFORMED_JSON" in responses["400"]["description"], (path, method)
        if method in ("post", "put", "patch", "delete"):
            assert {"411", "413", "415"} <= set(responses), (path, method)
        if op.get("security") == [{"bearerAuth": []}]:
            assert "401" in responses, (path, method)
    patch = document["paths"]["/v1/applications/{application_id}"]["patch"]["responses"]
    assert {"400", "409", "428"} <= set(patch)
    # The account-state gates answer 403 on every gated operation.
    assert "403" in document["paths"]["/v1/users/me/security-events"]["get"]["responses"]


def test_types_meta_export_ids_and_components(document):
    schemas = document["components"]["schemas"]
    listing = document["paths"]["/v1/applications"]["get"]["responses"]["200"]
    list_schema = schemas[listing["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    meta = schemas[list_schema["properties"]["meta"]["$ref"].split("/")[-1]]
    assert {"next_cursor", "limit", "sort"} <= set(meta["required"])
    assert meta["properties"]["sort"]["enum"]
    export = schemas["ExportResponse"]["properties"]["data"]
    assert export.get("$ref") == "#/components/schemas/ExportOut"
    assert {"user", "applications", "attachments", "sessions"} <= set(
        schemas["ExportOut"]["required"]
    )
    for name in ("ApplicationOut", "AttachmentOut", "UserOut", "SessionOut", "EventOut"):
        assert schemas[name]["properties"]["id"]["format"] == "uuid", name
    text = json.dumps({k: v for k, v in document.items() if k != "components"})
    text += json.dumps(schemas)
    for name in schemas:
        assert f'"#/components/schemas/{name}"' in text, f"{name} is never used"


def test_enum_values_have_readable_member_names(document):
    sort = document["paths"]["/v1/applications"]["get"]["parameters"]
    sort = next(p for p in sort if p["name"] == "sort")["schema"]
    assert dict(zip(sort["enum"], sort["x-enum-varnames"], strict=True))["-updated_at"] == (
        "UPDATED_AT_DESC"
    )
    content_type = document["components"]["schemas"]["AttachmentCreate"]["properties"]
    names = content_type["content_type"]["x-enum-varnames"]
    assert "APPLICATION_PDF" in names


def test_schema_limits_are_the_configured_ones(client, document, settings):
    schemas = document["components"]["schemas"]
    for model, field in (
        ("RegisterBody", "password"),
        ("ChangePasswordBody", "new_password"),
        ("PasswordResetConfirmBody", "new_password"),
    ):
        assert schemas[model]["properties"][field]["minLength"] == settings.password_min_length
    size = schemas["AttachmentCreate"]["properties"]["size"]
    assert size["maximum"] == settings.upload_max_bytes
    job_url = schemas["ApplicationCreate"]["properties"]["job_url"]
    assert job_url["format"] == "uri"
    assert job_url["anyOf"][0]["pattern"].startswith("^[hH][tT][tT][pP]")


def test_explicit_null_and_booleans_match_the_server(document):
    update = document["components"]["schemas"]["ApplicationUpdate"]["properties"]
    for field in ("company", "role_title", "status", "archived"):
        assert "anyOf" not in update[field] and "default" not in update[field], field
    assert {"type": "null"} in update["job_url"]["anyOf"]  # null clears it
    assert update["archived"]["type"] == "boolean"
    patch = document["paths"]["/v1/applications/{application_id}"]["patch"]
    assert patch["requestBody"]["required"] is True
    listing = {
        p["name"]: p["schema"] for p in document["paths"]["/v1/applications"]["get"]["parameters"]
    }
    assert listing["cursor"]["anyOf"][0]["minLength"] == 1

"""GET /openapi.json and /docs: one source of contracts, validated, complete, self-hosted."""

from __future__ import annotations

import hashlib
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

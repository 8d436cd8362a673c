"""docs/design.md §4 conventions through falcon.testing against the real PostgreSQL."""

from __future__ import annotations

import json

import falcon
import falcon.testing
import pytest
from pydantic import BaseModel, Field

from app.core.database import db
from app.core.settings import Settings
from app.core.spec import api_spec
from app.main import assemble


class EchoBody(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    count: int = Field(ge=1, le=10)


class EchoResource:
    @api_spec.validate(json=EchoBody)
    def on_post(self, req, resp, json: EchoBody):
        resp.media = {"success": True, "data": json.model_dump(), "meta": {}}


class QueryThenFailResource:
    def on_get(self, req, resp):
        db.execute_sql("SELECT 1")
        raise RuntimeError("internal detail: password=hunter2 at /srv/secret.py line 7")


class QueryResource:
    def on_get(self, req, resp):
        cursor = db.execute_sql("SELECT current_user")
        resp.media = {"success": True, "data": {"user": cursor.fetchone()[0]}, "meta": {}}


def client_for(settings: Settings) -> falcon.testing.TestClient:
    """The WSGI app gunicorn serves (``GET /health`` answered before Falcon, the rest by it)."""
    assembly = assemble(settings)
    assembly.app.add_route("/v1/_echo", EchoResource())
    assembly.app.add_route("/v1/_fail", QueryThenFailResource())
    assembly.app.add_route("/v1/_whoami", QueryResource())
    return falcon.testing.TestClient(assembly.wsgi)


@pytest.fixture
def http(settings):
    return client_for(settings)


def assert_error_envelope(result, status: int, code: str) -> dict:
    assert result.status_code == status, result.text
    body = result.json
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["meta"]["request_id"] == result.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z")
    return body


def test_health_answers_without_a_database(db_env):
    # Points at a port nothing listens on: liveness must not care.
    settings = Settings.from_env({**db_env, "DB_PORT": "1"})
    result = client_for(settings).simulate_get("/health")
    assert result.status_code == 200
    assert result.json["success"] is True
    assert result.json["data"] == {"status": "ok"}


def test_health_answers_alike_before_falcon_and_through_it(http):
    """GET /health is answered ahead of Falcon's middleware; /health/ reaches Falcon's own
    liveness resource through the whole stack. Both carry the same envelope and headers."""
    fast = http.simulate_get("/health", headers={"X-Request-ID": "req-fast-0001"})
    full = http.simulate_get("/health/", headers={"X-Request-ID": "req-full-0001"})
    for result, request_id in ((fast, "req-fast-0001"), (full, "req-full-0001")):
        assert result.status_code == 200
        assert result.json["data"] == {"status": "ok"}
        assert result.json["meta"]["request_id"] == request_id
        assert result.json["meta"]["timestamp"].endswith("Z")
        assert result.headers["x-request-id"] == request_id
        assert result.headers["content-type"] == "application/json"
    assert set(fast.json) == set(full.json) and set(fast.json["meta"]) == set(full.json["meta"])
    security = (
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "cross-origin-opener-policy",
        "cache-control",
        "content-security-policy",
    )
    assert {name: fast.headers[name] for name in security} == {
        name: full.headers[name] for name in security
    }


def test_only_get_health_skips_the_stack(http, capsys):
    """Every other request to /health, and everything else, runs the whole stack (its access
    line is the witness); a liveness probe writes none."""
    capsys.readouterr()
    http.simulate_get("/health")
    assert '"event": "request"' not in capsys.readouterr().out
    assert_error_envelope(http.simulate_post("/health"), 405, "METHOD_NOT_ALLOWED")
    http.simulate_get("/health/ready")
    out = capsys.readouterr().out
    routes = [
        json.loads(line)["route"] for line in out.splitlines() if '"event": "request"' in line
    ]
    assert routes == ["/health", "/health/ready"]


def test_unknown_route_is_a_404_envelope(http):
    assert_error_envelope(http.simulate_get("/nope"), 404, "NOT_FOUND")


def test_wrong_method_is_a_405_envelope(http):
    assert_error_envelope(http.simulate_delete("/health"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_a_400_envelope(http):
    result = http.simulate_post(
        "/v1/_echo", body="{not json", headers={"Content-Type": "application/json"}
    )
    assert_error_envelope(result, 400, "MALFORMED_JSON")


def test_wrong_content_type_is_a_415_envelope(http):
    result = http.simulate_post(
        "/v1/_echo",
        body="email=a@b.c",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error_envelope(result, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_a_413_envelope(db_env):
    http = client_for(Settings.from_env({**db_env, "MAX_REQUEST_BYTES": "2048"}))
    result = http.simulate_post("/v1/_echo", json={"email": "a@b.c", "pad": "x" * 4096})
    assert_error_envelope(result, 413, "PAYLOAD_TOO_LARGE")


def test_validation_failure_is_a_422_with_one_detail_per_field(http):
    result = http.simulate_post("/v1/_echo", json={"email": "not-an-email", "count": 99})
    body = assert_error_envelope(result, 422, "VALIDATION_ERROR")
    fields = {detail["field"] for detail in body["error"]["details"]}
    assert fields == {"email", "count"}
    assert all(detail["message"] for detail in body["error"]["details"])


def test_missing_field_is_named(http):
    body = assert_error_envelope(
        http.simulate_post("/v1/_echo", json={"count": 2}), 422, "VALIDATION_ERROR"
    )
    assert body["error"]["details"][0]["field"] == "email"


def test_valid_body_passes_validation(http):
    result = http.simulate_post("/v1/_echo", json={"email": "a@b.c", "count": 2})
    assert result.status_code == 200
    assert result.json["data"] == {"email": "a@b.c", "count": 2}


def test_unexpected_exception_is_a_500_without_internals(http):
    result = http.simulate_get("/v1/_fail")
    body = assert_error_envelope(result, 500, "INTERNAL_ERROR")
    text = json.dumps(body)
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert "secret.py" not in text


def test_connection_returns_to_the_pool_even_when_the_request_fails(http):
    pool = db.obj
    for _ in range(3):
        assert http.simulate_get("/v1/_fail").status_code == 500
    assert pool._in_use == {}
    assert len(pool._connections) >= 1  # checked back in, ready for reuse


def test_api_connects_as_the_app_role(http, settings):
    result = http.simulate_get("/v1/_whoami")
    assert result.json["data"]["user"] == settings.db_app_user


def test_unreachable_database_is_a_503_envelope(db_env):
    http = client_for(Settings.from_env({**db_env, "DB_PORT": "1"}))
    result = http.simulate_get("/v1/_whoami")
    assert_error_envelope(result, 503, "DATABASE_UNAVAILABLE")
    assert result.headers["retry-after"] == "5"


def test_well_formed_request_id_is_echoed(http):
    result = http.simulate_get("/health", headers={"X-Request-ID": "req-1234abcd"})
    assert result.headers["x-request-id"] == "req-1234abcd"
    assert result.json["meta"]["request_id"] == "req-1234abcd"


@pytest.mark.parametrize("bad", ["short", "has space inside it", "x" * 200, "semi;colon;value"])
def test_malformed_request_id_is_replaced(http, bad):
    result = http.simulate_get("/health", headers={"X-Request-ID": bad})
    assert result.headers["x-request-id"] != bad
    assert len(result.headers["x-request-id"]) == 32


def test_security_headers_on_every_response(http):
    for result in (http.simulate_get("/health"), http.simulate_get("/nope")):
        assert result.headers["x-content-type-options"] == "nosniff"
        assert result.headers["x-frame-options"] == "DENY"
        assert result.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in result.headers["content-security-policy"]
        assert "strict-transport-security" not in result.headers  # not in test/development


def test_hsts_in_production_only(db_env, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = Settings.from_env(
        {
            **db_env,
            "APP_ENV": "production",
            "DB_SSLMODE": "require",
            "DB_SSLROOTCERT": str(ca),
            "FRONTEND_URL": "https://app.example.com",
            "API_URL": "https://api.example.com",
            "FROM_EMAIL": "noreply@example.com",
            "EMAIL_PROVIDER": "resend",
            "RESEND_API_KEY": "re_test",
            "STORAGE_BACKEND": "s3",
            "SCANNER": "guardduty",
            "UPLOADS_BUCKET": "b",
            "TRUSTED_PROXY_HOPS": "0",
        }
    )
    result = client_for(settings).simulate_get("/health")
    assert "max-age=" in result.headers["strict-transport-security"]


def test_one_structured_log_line_per_request_without_credentials(http, capsys):
    capsys.readouterr()
    http.simulate_post(
        "/v1/_echo",
        json={"email": "a@b.c", "count": 1, "password": "hunter2-password"},
        headers={
            "Authorization": "Bearer eyJ.secret.token",
            "Cookie": "refresh_token=cookie-secret-value",
            "X-Request-ID": "log-test-0001",
        },
        query_string="token=query-secret",
    )
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["method"] == "POST"
    assert entry["route"] == "/v1/_echo"
    assert entry["status"] == 200
    assert entry["request_id"] == "log-test-0001"
    assert isinstance(entry["duration_ms"], float)
    for secret in ("hunter2-password", "eyJ.secret.token", "cookie-secret-value", "query-secret"):
        assert secret not in out

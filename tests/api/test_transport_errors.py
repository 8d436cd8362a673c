"""gunicorn's own refusals (requests it cannot parse, over its limits) answered with the error
envelope and the app's security headers by the project's worker, and no Server banner on any
response. Raw sockets against a real gunicorn: an HTTP client library would refuse to send these."""

from __future__ import annotations

import json
import socket

import pytest

from app.core.middleware import security_headers
from tests.api.test_gunicorn import Gunicorn

HOST = b"Host: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def server(db_env):
    gunicorn = Gunicorn(db_env)
    yield gunicorn
    gunicorn.stop()


def exchange(server: Gunicorn, raw: bytes) -> bytes:
    """Send ``raw`` and read until gunicorn closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"{name} sent twice"
        headers[name.lower()] = value.strip()
    return status, headers, body


MALFORMED = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST"),
    "bad method": (b"G(ET / HTTP/1.1\r\n" + HOST + b"\r\n", 400, "BAD_REQUEST"),
    "bad HTTP version": (b"GET /health HTTP/7.3\r\n" + HOST + b"\r\n", 400, "BAD_REQUEST"),
    "space in a header name": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"Bad Header: x\r\n\r\n",
        400,
        "BAD_REQUEST",
    ),
    "NUL in a header value": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"X-Note: a\x00b\r\n\r\n",
        400,
        "BAD_REQUEST",
    ),
    "obsolete line folding": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"X-Note: a\r\n folded\r\n\r\n",
        400,
        "BAD_REQUEST",
    ),
    "URI too long": (
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        414,
        "URI_TOO_LONG",
    ),
    "too many headers": (
        b"GET /health HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-H%d: v\r\n" % index for index in range(150))
        + b"\r\n",
        431,
        "HEADERS_TOO_LARGE",
    ),
    "header too large": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"v" * 9000 + b"\r\n\r\n",
        431,
        "HEADERS_TOO_LARGE",
    ),
    "unsupported transfer coding": (
        b"POST /health HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n",
        400,
        "BAD_REQUEST",
    ),
    "content length and chunked together": (
        b"POST /health HTTP/1.1\r\n"
        + HOST
        + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "BAD_REQUEST",
    ),
    "unknown expectation": (
        b"GET /health HTTP/1.1\r\n" + HOST + b"Expect: teapot\r\n\r\n",
        417,
        "EXPECTATION_FAILED",
    ),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_requests_get_the_envelope_and_the_security_headers(server, kind):
    raw, expected_status, expected_code = MALFORMED[kind]
    response = exchange(server, raw)
    assert b"<html" not in response.lower(), response[:300]
    status, headers, body = parse(response)
    assert status == expected_status, response[:300]
    assert "server" not in headers
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    for name, value in security_headers(hsts=False).items():
        assert headers[name.lower()] == value, name
    document = json.loads(body)
    assert document["success"] is False
    assert document["error"]["code"] == expected_code
    assert document["error"]["details"] == []
    assert document["meta"]["request_id"] == headers["x-request-id"]


def test_an_invalid_chunked_body_is_answered_in_the_envelope(server):
    """The app reads a chunked body only to refuse it (411); gunicorn then finds the chunk size
    invalid while draining it. Every response on the connection is the envelope."""
    raw = (
        b"POST /v1/auth/login HTTP/1.1\r\n"
        + HOST
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"zz\r\n{}\r\n0\r\n\r\n"
    )
    response = exchange(server, raw)
    assert b"<html" not in response.lower()
    assert b"\r\nServer:" not in response
    status, headers, body = parse(response)
    assert 400 <= status < 500
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/health/ready"), ("GET", "/nope"), ("GET", "/openapi.json")],
)
def test_no_response_names_the_server(server, method, path):
    status, _, response = server.request(method, path)
    assert status in (200, 404)
    assert response.getheader("Server") is None
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_refusals_carry_hsts_when_the_app_does_and_never_echo_the_input():
    from gunicorn.http import errors as http_errors

    from app.gunicorn_worker import error_response

    raw = error_response(
        http_errors.InvalidHeaderName("<script>alert(1)</script>"), security_headers(hsts=True)
    )
    status, headers, body = parse(raw)
    assert status == 400
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert b"script" not in raw
    assert json.loads(body)["error"]["code"] == "BAD_REQUEST"

"""Request pipeline: request id, body limits, database connection lifetime, access log, headers."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import falcon
import structlog

from app.core import db_deadline
from app.core.database import release_connection
from app.core.metrics import (
    ANY_METHOD,
    LATENCY,
    METHODS,
    OTHER,
    PREFLIGHT_ROUTE,
    REQUESTS,
    UNMATCHED_ROUTE,
    Metrics,
    status_class,
)
from app.core.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = structlog.get_logger("app.access")

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestIdMiddleware:
    """Accept a well-formed caller id or make one; bind it to every log line of the request."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        supplied = req.get_header(REQUEST_ID_HEADER)
        if supplied and _WELL_FORMED_REQUEST_ID.match(supplied):
            request_id = supplied
        else:
            request_id = uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)


class AccessLogMiddleware:
    """One JSON line per request. Only the route template is logged, never the query string,
    headers, cookies or body, so no credential can reach the log."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        log.info(
            "request",
            method=req.method,
            route=req.uri_template or "<unmatched>",
            status=resp.status_code if hasattr(resp, "status_code") else resp.status,
            duration_ms=duration_ms,
        )
        structlog.contextvars.clear_contextvars()


class RequestMetricsMiddleware:
    """Requests and latency per route template, method and status class (installed only when
    metrics are on). A path no route matches, or a method its route does not serve, is recorded
    as one route under any method, and every CORS preflight as another, so neither a raw path
    nor an id ever becomes a dimension value."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "started", None)
        template = req.uri_template
        status = resp.status_code
        if req.method == "OPTIONS":
            route, method = PREFLIGHT_ROUTE, "OPTIONS"
        elif template is None or status == 405:  # no route, or none for this method
            route, method = UNMATCHED_ROUTE, ANY_METHOD
        else:
            route, method = template, req.method if req.method in METHODS else OTHER
        dimensions = {"Route": route, "Method": method, "StatusClass": status_class(status)}
        if started is None:
            self.metrics.record(REQUESTS, 1, **dimensions)
            return
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        self.metrics.record_all(((REQUESTS, 1), (LATENCY, elapsed_ms)), **dimensions)


class BodyPolicyMiddleware:
    """JSON only, of a declared length no larger than the configured limit, checked before
    the body is read. Falcon's own 411, 413 and 415 errors, so their codes and messages come from
    the one error table (app/core/errors.py)."""

    def __init__(self, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()):
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.method not in _BODY_METHODS or req.path.startswith(self.exempt_prefixes):
            return
        length = req.content_length
        if length is not None and length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                description=f"The request body is larger than {self.max_bytes} bytes."
            )
        if not length and req.get_header("Transfer-Encoding") is None:
            return  # no body at all: the resource decides whether it needs one
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        if media_type != falcon.MEDIA_JSON:
            raise falcon.HTTPUnsupportedMediaType()
        if length is None:
            # A chunked body of unknown size could be any size: ask for its length up front.
            raise falcon.HTTPLengthRequired()


class DatabaseSessionMiddleware:
    """The connection is opened lazily by the first query and always returned to the pool,
    whether the request succeeded or failed. Each request may wait on PostgreSQL for
    ``deadline_seconds`` in all (app/core/db_deadline.py)."""

    def __init__(self, deadline_seconds: float):
        self.deadline_seconds = deadline_seconds

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        db_deadline.begin(self.deadline_seconds)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        try:
            release_connection()
        finally:
            db_deadline.end()


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(*, hsts: bool) -> dict[str, str]:
    """The headers every response carries (HSTS in production): one list, used by the
    middleware below and by the gunicorn worker for the requests the app never sees."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Content-Security-Policy": API_CSP,
    }
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeadersMiddleware:
    # A resource may set its own cache policy and CSP (the docs page); the rest are fixed.
    OWN_VALUES_ALLOWED = frozenset({"Cache-Control", "Content-Security-Policy"})

    def __init__(self, settings: Settings):
        self.headers = security_headers(hsts=settings.is_production)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        for name, value in self.headers.items():
            if name in self.OWN_VALUES_ALLOWED and resp.get_header(name) is not None:
                continue
            resp.set_header(name, value)


class HealthFastPath:
    """The WSGI app gunicorn serves: ``GET /health`` answered here, everything else by Falcon.

    Load balancers call the liveness route every few seconds; it reads nothing and says only
    that the process answers. Answered before Falcon, it skips the middleware stack (the
    database session, the access log line, CORS, the body policy, authentication), none of
    which applies to it, while carrying what every response carries: the envelope with a
    request id (the caller's when well formed, as ``RequestIdMiddleware`` does), that id as
    ``X-Request-ID``, and the security headers. Any other method or path, ``/health/`` and
    ``/health/ready`` included, goes to Falcon unchanged.
    """

    PATH = "/health"

    def __init__(self, app: WSGIApplication, security_headers: dict[str, str]) -> None:
        self.app = app
        self._headers = [("Content-Type", falcon.MEDIA_JSON), *security_headers.items()]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        supplied = environ.get("HTTP_X_REQUEST_ID")
        if supplied and _WELL_FORMED_REQUEST_ID.fullmatch(supplied):
            request_id = supplied
        else:
            request_id = uuid.uuid4().hex
        timestamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = (
            '{"success":true,"data":{"status":"ok"},"meta":'
            f'{{"request_id":"{request_id}","timestamp":"{timestamp}"}}}}'
        ).encode()
        start_response(
            "200 OK",
            [
                *self._headers,
                (REQUEST_ID_HEADER, request_id),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

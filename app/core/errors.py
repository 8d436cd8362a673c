"""Errors as values with stable codes, shaped into the one error envelope here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import falcon
import peewee
import structlog
from playhouse.pool import MaxConnectionsExceeded

from app.core.database import DatabaseUnavailable
from app.core.db_deadline import DatabaseDeadlineExceeded
from app.core.metrics import DATABASE_REFUSALS, Metrics, NullMetrics

log = structlog.get_logger("app.errors")


@dataclass
class AppError(Exception):
    """A failure the client should see: HTTP status, stable UPPER_SNAKE code, safe message."""

    status: int
    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ValidationFailed(AppError):
    def __init__(self, details: list[dict[str, Any]], message: str = "The request is not valid."):
        super().__init__(422, "VALIDATION_ERROR", message, details)


class NotFound(AppError):
    def __init__(self, message: str = "The resource was not found."):
        super().__init__(404, "NOT_FOUND", message)


# Falcon's HTTP errors (those Falcon raises, and the 411, 413 and 415 the body policy raises)
# mapped to stable codes and messages that never echo internals.
_FALCON_CODES = {
    400: ("BAD_REQUEST", "The request could not be understood."),
    401: ("UNAUTHORIZED", "Authentication is required."),
    403: ("FORBIDDEN", "This action is not allowed."),
    404: ("NOT_FOUND", "The resource was not found."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed on this resource."),
    408: ("REQUEST_TIMEOUT", "The request took too long to arrive."),
    411: ("LENGTH_REQUIRED", "A Content-Length header is required."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The request body must be application/json."),
    422: ("VALIDATION_ERROR", "The request is not valid."),
    429: ("RATE_LIMITED", "Too many requests. Try again later."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}
# Statuses Falcon never raises by itself: the description is the body policy's own, naming the
# configured limit, so the client sees it.
_OWN_DESCRIPTIONS = frozenset({413})


def envelope(
    req: falcon.Request, code: str, message: str, details: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details},
        "meta": meta(req),
    }


def error_document(
    code: str, message: str, details: list[dict[str, Any]], *, request_id: str, now: datetime
) -> dict[str, Any]:
    """The envelope outside a Falcon request (gunicorn's own refusals, app/gunicorn_worker.py)."""
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details},
        "meta": {
            "request_id": request_id,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
        },
    }


def meta(req: falcon.Request, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": getattr(req.context, "request_id", None),
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **extra,
    }


def _respond(
    resp: falcon.Response,
    req: falcon.Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> None:
    resp.status = status
    resp.media = envelope(req, code, message, details or [])
    resp.complete = True


def handle_app_error(
    req: falcon.Request, resp: falcon.Response, ex: AppError, params: dict[str, Any]
) -> None:
    for name, value in ex.headers.items():
        resp.set_header(name, value)
    _respond(resp, req, ex.status, ex.code, ex.message, ex.details)


def handle_http_error(
    req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]
) -> None:
    status = ex.status_code
    code, message = _FALCON_CODES.get(status, ("HTTP_ERROR", "The request failed."))
    if isinstance(ex, falcon.MediaMalformedError):
        code, message = "MALFORMED_JSON", "The request body is not valid JSON."
    elif isinstance(ex, falcon.MediaNotFoundError):
        code, message = "BODY_REQUIRED", "The request needs a JSON body."
    elif status in _OWN_DESCRIPTIONS and ex.description:
        message = ex.description
    if ex.headers:
        for name, value in dict(ex.headers).items():
            resp.set_header(name, value)
    _respond(resp, req, status, code, message)


class DatabaseErrorHandler:
    """503 DATABASE_UNAVAILABLE with Retry-After, counted by reason: the request's database
    deadline passed (app/core/db_deadline.py), or the database could not be reached."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
    ) -> None:
        log.error("database_unavailable", error=type(ex).__name__)
        reason = "deadline" if isinstance(ex, DatabaseDeadlineExceeded) else "unavailable"
        self.metrics.record(DATABASE_REFUSALS, Reason=reason)
        resp.set_header("Retry-After", "5")
        _respond(resp, req, 503, "DATABASE_UNAVAILABLE", "The database is unavailable. Try again.")


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
) -> None:
    log.exception("unhandled_exception", error=type(ex).__name__)
    _respond(resp, req, 500, "INTERNAL_ERROR", "Something went wrong on our side.")


def register_error_handlers(app: falcon.App[Any, Any], metrics: Metrics | None = None) -> None:
    # Falcon picks the most specific handler for an exception's class, so the catch-all
    # Exception handler only sees what nothing else claims.
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(AppError, handle_app_error)
    handle_database_error = DatabaseErrorHandler(metrics or NullMetrics())
    app.add_error_handler(peewee.OperationalError, handle_database_error)
    app.add_error_handler(peewee.InterfaceError, handle_database_error)
    app.add_error_handler(DatabaseUnavailable, handle_database_error)
    app.add_error_handler(MaxConnectionsExceeded, handle_database_error)

"""The API's gunicorn worker: gthread, with the project's own answers where gunicorn would
answer by itself.

gunicorn refuses a request it cannot parse (a bad request line or header, a URI or header block
over its limits, a broken chunked body) before the application sees it, with an HTML page and
none of the application's headers; and it writes ``Server: gunicorn`` on every response. It has
no setting for either, so this worker answers those refusals with the error envelope and the
security headers the application sets, and writes no ``Server`` header at all.
"""

from __future__ import annotations

import json
import ssl
import uuid
from datetime import UTC, datetime

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

from app import main as api
from app.core.errors import error_document

# gunicorn's refusals as (exception classes, status, reason, code, message); the first match wins.
_REFUSALS: tuple[tuple[tuple[type[BaseException], ...], int, str, str, str], ...] = (
    (
        (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName),
        500,
        "Internal Server Error",
        "INTERNAL_ERROR",
        "Something went wrong on our side.",
    ),
    (
        (http_errors.LimitRequestLine,),
        414,
        "URI Too Long",
        "URI_TOO_LONG",
        "The request line is too long.",
    ),
    (
        (http_errors.LimitRequestHeaders,),
        431,
        "Request Header Fields Too Large",
        "HEADERS_TOO_LARGE",
        "The request has too many headers, or one is too large.",
    ),
    (
        (http_errors.UnsupportedTransferCoding,),
        501,
        "Not Implemented",
        "TRANSFER_CODING_NOT_SUPPORTED",
        "The request's transfer coding is not supported.",
    ),
    (
        (http_errors.ExpectationFailed,),
        417,
        "Expectation Failed",
        "EXPECTATION_FAILED",
        "The request's Expect header cannot be met.",
    ),
    (
        (http_errors.ForbiddenProxyRequest, ssl.SSLError),
        403,
        "Forbidden",
        "FORBIDDEN",
        "This request is not allowed.",
    ),
    (
        (http_errors.ConfigurationProblem,),
        500,
        "Internal Server Error",
        "INTERNAL_ERROR",
        "Something went wrong on our side.",
    ),
    (
        (http_errors.ParseException,),
        400,
        "Bad Request",
        "BAD_REQUEST",
        "The request could not be understood.",
    ),
)
_SERVER_FAULT = (
    500,
    "Internal Server Error",
    "INTERNAL_ERROR",
    "Something went wrong on our side.",
)


def refusal_for(exc: BaseException) -> tuple[int, str, str, str]:
    """The status, reason phrase, stable code and message for an error gunicorn raised."""
    for classes, status, reason, code, message in _REFUSALS:
        if isinstance(exc, classes):
            return status, reason, code, message
    return _SERVER_FAULT


def error_response(exc: BaseException, security_headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 response for ``exc``: the envelope, the security headers, no
    ``Server`` header, and ``Connection: close`` (the stream cannot be trusted past the error)."""
    status, reason, code, message = refusal_for(exc)
    request_id = uuid.uuid4().hex
    body = json.dumps(
        error_document(code, message, [], request_id=request_id, now=datetime.now(UTC))
    ).encode()
    headers = {
        "Date": util.http_date(),
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "X-Request-ID": request_id,
        **security_headers,
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + body


class BannerlessResponse(wsgi.Response):
    """gunicorn's response writer without the ``Server`` line it always adds."""

    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.startswith("Server:")]


class ApiWorker(ThreadWorker):
    """gthread, answering gunicorn's own refusals in the envelope and naming no server."""

    def init_process(self) -> None:
        # gunicorn builds every response through this module attribute, in this process only
        # (the worker is a forked child); it offers no setting to drop the banner.
        wsgi.Response = BannerlessResponse
        super().init_process()

    def handle_error(self, req, client, addr, exc) -> None:
        status = refusal_for(exc)[0]
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            peer = addr[0] if addr else ""
            self.log.warning("Invalid request from ip=%s: %s", peer, exc)
        try:
            util.write_nonblock(client, error_response(exc, api.security_headers_in_force()))
        except OSError:
            self.log.debug("Failed to send error message.")

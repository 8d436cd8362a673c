"""The API's gunicorn worker: gthread, with the project's own answers where gunicorn would
answer by itself, and connections spread over the workers.

gunicorn refuses a request it cannot parse (a bad request line or header, a URI or header block
over its limits, a broken chunked body) before the application sees it, with an HTML page and
none of the application's headers; and it writes ``Server: gunicorn`` on every response. It has
no setting for either, so this worker answers those refusals with the error envelope and the
security headers the application sets, and writes no ``Server`` header at all.

All workers wait on the one listening socket, and each takes a connection as soon as it is
woken, whatever it already holds: a burst of keep-alive connections (a load balancer opening
its pool) could all land on one worker while another sat idle, halving the instance's
throughput for as long as they stay open (docs/benchmarks.md). So each worker publishes how
many connections it holds in a small table shared by the workers of one master (mapped before
the fork), and a worker that holds at least as many connections as it has threads, while a
sibling holds fewer, stops accepting for a moment after each accept, longer the more it holds
(``ACCEPT_PAUSE_SECONDS`` per thread's worth of connections, at most
``ACCEPT_PAUSE_MAX_SECONDS``): the sibling takes the next connection, and if it does not (it is
stuck, or gone), this worker takes it once the pause is over. A lone worker never pauses.
"""

from __future__ import annotations

import json
import mmap
import os
import socket
import ssl
import struct
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi
from gunicorn.http.message import Request
from gunicorn.workers.gthread import ThreadWorker

# gunicorn's refusals as (exception classes, status, reason, code, message); the first match wins.
_REFUSALS: tuple[tuple[tuple[type[BaseException], ...], int, str, str, str], ...] = (
    (
        (
            http_errors.InvalidResponseHeader,  # type: ignore[attr-defined]  # new in gunicorn 27; types-gunicorn 26.2 predates it
            http_errors.InvalidResponseHeaderName,  # type: ignore[attr-defined]  # new in gunicorn 27, as above
        ),
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
    from app.core.errors import error_document  # loaded with the app (app/gunicorn_conf.py)

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


# (pid, connections held) per worker slot. Created when gunicorn's master loads this worker
# class, so every worker it forks maps the same pages.
_SLOT = struct.Struct("qq")
_SLOTS = 64
_held_by_worker = mmap.mmap(-1, _SLOT.size * _SLOTS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ApiWorker(ThreadWorker):
    """gthread, answering gunicorn's own refusals in the envelope, naming no server, and
    leaving a connection to a sibling that holds fewer (see the module's docstring)."""

    ACCEPT_PAUSE_SECONDS = 0.002
    ACCEPT_PAUSE_MAX_SECONDS = 0.02

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._accept_paused_until = 0.0
        self._slot: int | None = None

    def claim_slot(self) -> None:
        """Take this worker's row of the shared table (its age picks it; a worker that
        replaces one takes a fresh age, so a fresh row)."""
        self._slot = self.age % _SLOTS
        _SLOT.pack_into(_held_by_worker, self._slot * _SLOT.size, os.getpid(), 0)

    def _publish(self) -> None:
        if self._slot is not None:
            struct.pack_into("q", _held_by_worker, self._slot * _SLOT.size + 8, self.nr_conns)

    def _a_sibling_holds_fewer(self) -> bool:
        """True when another live worker of this master holds fewer connections, or when this
        worker has no row to compare with."""
        if self._slot is None:
            return True
        for slot in range(_SLOTS):
            pid, held = _SLOT.unpack_from(_held_by_worker, slot * _SLOT.size)
            if slot != self._slot and pid and held < self.nr_conns and _alive(pid):
                return True
        return False

    def accept(self, listener: Any) -> None:
        super().accept(listener)
        self._publish()
        threads = max(1, self.cfg.threads)
        if self.cfg.workers > 1 and self.nr_conns >= threads and self._a_sibling_holds_fewer():
            pause = min(self.ACCEPT_PAUSE_SECONDS * self.nr_conns / threads,
                        self.ACCEPT_PAUSE_MAX_SECONDS)  # fmt: skip
            self._accept_paused_until = time.monotonic() + pause
            self.set_accept_enabled(False)

    def set_accept_enabled(self, enabled: bool | None) -> None:
        if enabled and time.monotonic() < self._accept_paused_until:
            enabled = False
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float | None) -> None:
        if self._accept_paused_until:
            remaining = self._accept_paused_until - time.monotonic()
            if remaining > 0:
                timeout = remaining if timeout is None else min(timeout, remaining)
            else:
                self._accept_paused_until = 0.0
                if self.alive and self.nr_conns < self.worker_connections:
                    self.set_accept_enabled(True)
        super().wait_for_and_dispatch_events(timeout)
        self._publish()

    def init_process(self) -> None:
        # gunicorn builds every response through this module attribute, in this process only
        # (the worker is a forked child); it offers no setting to drop the banner.
        wsgi.Response = BannerlessResponse  # type: ignore[misc]  # replacing the class is the point
        self.claim_slot()
        super().init_process()

    def handle_error(
        self, req: Request | None, client: socket.socket, addr: Any, exc: BaseException
    ) -> None:
        from app import main as api  # loaded by app/gunicorn_conf.py: a lookup, not an import

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

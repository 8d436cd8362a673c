"""A bound on how long a request waits on PostgreSQL, enforced on the client side.

A frozen server answers nothing and processes no cancel request, and while its kernel still
acknowledges packets TCP keep-alive never fires: only the client can bound the wait. psycopg2's
wait callback (``psycopg2.extensions.set_wait_callback``) puts every connection of the process in
asynchronous mode and hands each wait (connecting, sending, waiting for an answer) to
``wait_within_budget``, which polls the socket for what is left of the calling thread's budget.
Past it the callback raises ``DatabaseDeadlineExceeded``; psycopg2 then closes the connection (it
cannot know what state the server is in), the pool discards it, and the request answers
``503 DATABASE_UNAVAILABLE`` with ``Retry-After``.

The budget counts only time spent waiting on the server, so a request is not charged for hashing
a password or reading an upload. Each request gets ``DB_REQUEST_DEADLINE_MS``
(``DatabaseSessionMiddleware``); the outbox drainer and the readiness probe set their own; any
other thread is bounded per wait by the same figure. The callback applies to the whole process;
its cost per statement is measured in ``scripts/bench_wait_callback.py``.
"""

from __future__ import annotations

import contextlib
import math
import select
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.extensions as pg

from app.core.database import DatabaseUnavailable


class DatabaseDeadlineExceeded(DatabaseUnavailable):
    """The database did not answer within the request's deadline; the connection was closed."""


_budget = threading.local()
_default_seconds = 5.0


def begin(seconds: float) -> None:
    """Give the calling thread ``seconds`` of database waiting (a request starting)."""
    _budget.remaining = seconds


def end() -> None:
    _budget.remaining = None


def remaining() -> float | None:
    return getattr(_budget, "remaining", None)


@contextlib.contextmanager
def database_deadline(seconds: float) -> Iterator[None]:
    """Run a block of database work with its own budget, then restore the caller's."""
    previous = remaining()
    _budget.remaining = seconds
    try:
        yield
    finally:
        _budget.remaining = previous


def wait_within_budget(connection: Any) -> None:
    """psycopg2's wait callback: poll until the operation completes or the budget runs out."""
    while True:
        state = connection.poll()
        if state == pg.POLL_OK:
            return
        if state == pg.POLL_READ:
            events = select.POLLIN
        elif state == pg.POLL_WRITE:
            events = select.POLLOUT
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        budget = remaining()
        limit = _default_seconds if budget is None else budget
        poller = select.poll()
        poller.register(connection.fileno(), events)
        started = time.monotonic()
        ready = poller.poll(max(0, math.ceil(limit * 1000)))
        if budget is not None:
            _budget.remaining = budget - (time.monotonic() - started)
        if not ready:
            raise DatabaseDeadlineExceeded("the database did not answer within the deadline")


def install(default_seconds: float) -> None:
    """Route every psycopg2 wait of this process through ``wait_within_budget``."""
    global _default_seconds
    _default_seconds = default_seconds
    pg.set_wait_callback(wait_within_budget)

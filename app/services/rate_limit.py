"""Rate limits whose counters live in PostgreSQL, so they hold across every instance.

The limiter writes through its own connection pool in autocommit mode: an increment is committed
the moment it happens, apart from the request's transaction, so a failed login that rolls back
still counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee
import structlog

from app.core.clock import Clock
from app.core.errors import AppError

log = structlog.get_logger("app.rate_limit")


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


# Per-window limits. RATE_LIMIT_SCALE multiplies the counts (benchmarks only).
LOGIN_PER_IP = Limit("login:ip", 30, 300)
REGISTER_PER_IP = Limit("register:ip", 10, 3600)
RESET_PER_IP = Limit("reset:ip", 10, 900)
RESET_PER_ACCOUNT = Limit("reset:account", 3, 3600)
RESEND_PER_USER = Limit("resend:user", 3, 900)
REFRESH_PER_IP = Limit("refresh:ip", 120, 60)
# Per-account login backoff: after FREE failures in a row, each further attempt must wait
# 2^(n - FREE) seconds, capped. The owner is slowed down with the attacker, never locked out.
BACKOFF_FREE_FAILURES = 5
BACKOFF_CAP_SECONDS = 900


class RateLimited(AppError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            "RATE_LIMITED",
            "Too many requests. Try again later.",
            headers={"Retry-After": str(max(1, retry_after))},
        )


class LimiterUnavailable(AppError):
    def __init__(self):
        super().__init__(
            503,
            "RATE_LIMITER_UNAVAILABLE",
            "The service is temporarily unavailable. Try again.",
            headers={"Retry-After": "5"},
        )


_UPSERT = """INSERT INTO rate_limits (key, window_start, count, last_hit_at)
VALUES (%(key)s, %(now)s, 1, %(now)s)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_limits.window_start <= %(expired_before)s
                 THEN 1 ELSE rate_limits.count + 1 END,
    window_start = CASE WHEN rate_limits.window_start <= %(expired_before)s
                        THEN EXCLUDED.window_start ELSE rate_limits.window_start END,
    last_hit_at = EXCLUDED.last_hit_at
RETURNING count, window_start"""

# Both built from constants only; every value is a bound parameter.
_HIT_THEN_BACKOFF = (
    "WITH hit AS (" + _UPSERT + ") "  # noqa: S608
    "SELECT hit.count, hit.window_start, failures.count, failures.last_hit_at "
    "FROM hit LEFT JOIN rate_limits failures ON failures.key = %(account)s"
)

_FAILURE = """
INSERT INTO rate_limits (key, window_start, count, last_hit_at)
VALUES (%(key)s, %(now)s, 1, %(now)s)
ON CONFLICT (key) DO UPDATE SET count = rate_limits.count + 1, last_hit_at = EXCLUDED.last_hit_at
RETURNING count
"""


class RateLimiter:
    def __init__(self, database: peewee.Database, clock: Clock, *, scale: float, fail_closed: bool):
        self._db = database
        self._clock = clock
        self._scale = scale
        self._fail_closed = fail_closed

    def _execute(self, query: str, params: dict):
        try:
            with self._db.connection_context():
                return self._db.execute_sql(query, params).fetchone()
        except peewee.PeeweeException as exc:
            if self._fail_closed:
                log.error("rate_limiter_unavailable", error=type(exc).__name__)
                raise LimiterUnavailable() from exc
            log.warning("rate_limiter_unavailable_allowing", error=type(exc).__name__)
            return None

    def hit(self, limit: Limit, subject: str) -> None:
        """Count one request against ``limit`` for ``subject``; 429 once it is exceeded."""
        now = self._clock()
        row = self._execute(
            _UPSERT,
            {
                "key": f"{limit.name}:{subject}",
                "now": now,
                "expired_before": now - timedelta(seconds=limit.window_seconds),
            },
        )
        if row is None:
            return
        count, window_start = row
        if count > math.ceil(limit.limit * self._scale):
            reset_at = window_start + timedelta(seconds=limit.window_seconds)
            raise RateLimited(math.ceil((reset_at - now).total_seconds()))

    def hit_then_check_backoff(self, limit: Limit, subject: str, account: str) -> int:
        """``hit(limit, subject)`` and ``check_backoff(account)`` in one round trip (the login
        path). Returns the account's failures so far, so a success only clears them if any."""
        now = self._clock()
        row = self._execute(
            _HIT_THEN_BACKOFF,
            {
                "key": f"{limit.name}:{subject}",
                "now": now,
                "expired_before": now - timedelta(seconds=limit.window_seconds),
                "account": f"login:account:{account}",
            },
        )
        if row is None:
            return 0
        count, window_start, failures, last_failure = row
        if count > math.ceil(limit.limit * self._scale):
            reset_at = window_start + timedelta(seconds=limit.window_seconds)
            raise RateLimited(math.ceil((reset_at - now).total_seconds()))
        self._refuse_during_backoff(failures or 0, last_failure, now)
        return failures or 0

    def _refuse_during_backoff(self, failures: int, last_failure, now: datetime) -> None:
        wait = backoff_seconds(failures, self._scale)
        if wait:
            remaining = (last_failure + timedelta(seconds=wait) - now).total_seconds()
            if remaining > 0:
                raise RateLimited(math.ceil(remaining))

    def check_backoff(self, subject: str) -> None:
        """Refuse a login attempt for an account still inside its backoff delay."""
        row = self._execute(
            "SELECT count, last_hit_at FROM rate_limits WHERE key = %(key)s",
            {"key": f"login:account:{subject}"},
        )
        if row is None:
            return
        failures, last_failure = row
        self._refuse_during_backoff(failures, last_failure, self._clock())

    def record_failure(self, subject: str) -> None:
        self._execute(_FAILURE, {"key": f"login:account:{subject}", "now": self._clock()})

    def reset(self, subject: str) -> None:
        self._execute(
            "DELETE FROM rate_limits WHERE key = %(key)s RETURNING key",
            {"key": f"login:account:{subject}"},
        )


def backoff_seconds(failures: int, scale: float = 1.0) -> int:
    free = math.ceil(BACKOFF_FREE_FAILURES * scale)
    if failures < free:
        return 0
    return min(2 ** (failures - free), BACKOFF_CAP_SECONDS)


def window_start(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)

"""Rate limits whose counters live in PostgreSQL, so they hold across every instance.

Every counter is a fixed window that decays: once ``window_seconds`` have passed since a window
opened, the next hit starts a new one at 1. The limiter writes through its own connection pool in
autocommit mode: an increment is committed the moment it happens, apart from the request's
transaction, so a failed login that rolls back still counts.

Login follows OWASP's device-cookie scheme (docs/security.md, "Throttling model"): a client that
presents a valid device cookie for the account spends only its own failure budget; every other
client shares the account's budget, so guessing stays bounded while the owner's known devices
keep signing in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee
import structlog

from app.core.clock import Clock
from app.core.database import execute_prepared
from app.core.errors import AppError
from app.core.metrics import RATE_LIMIT_REFUSALS, Metrics, NullMetrics

log = structlog.get_logger("app.rate_limit")


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


# Per-window limits. RATE_LIMIT_SCALE multiplies the counts (benchmarks only; refused in
# production).
LOGIN_PER_IP = Limit("login:ip", 30, 300)
# Failed logins for one account from clients without a device cookie for it: one shared budget.
LOGIN_FAILURES_PER_ACCOUNT = Limit("login:account", 10, 900)
# Failed logins from one known device (a valid device cookie for the account): its own budget.
LOGIN_FAILURES_PER_DEVICE = Limit("login:device", 10, 900)
# Wrong current passwords within one signed-in session (change password, delete account).
REAUTH_FAILURES_PER_SESSION = Limit("reauth:session", 5, 900)
# The second step of a sign-in (app/services/mfa.py): attempts per client address, and failed
# factors for one account, on the password step's model: clients without a device cookie for the
# account share one budget (tighter, since a six-digit code is what it guards), a known device
# spends its own.
MFA_PER_IP = Limit("mfa:ip", 30, 300)
MFA_FAILURES_PER_ACCOUNT = Limit("mfa:account", 5, 3600)
MFA_FAILURES_PER_DEVICE = Limit("mfa:device", 10, 900)
# Wrong factors (or passwords) within one signed-in session: step-up, and confirming a new TOTP.
STEP_UP_FAILURES_PER_SESSION = Limit("step-up:session", 5, 900)
TOTP_CONFIRM_FAILURES_PER_SESSION = Limit("totp-confirm:session", 10, 900)
REGISTER_PER_IP = Limit("register:ip", 10, 3600)
RESET_PER_IP = Limit("reset:ip", 10, 900)
RESET_PER_ACCOUNT = Limit("reset:account", 3, 3600)
RESEND_PER_USER = Limit("resend:user", 3, 900)
# Email-change requests that passed the password check: each sends two emails.
EMAIL_CHANGE_PER_USER = Limit("email_change:user", 5, 3600)
REFRESH_PER_IP = Limit("refresh:ip", 120, 60)
# Passkey options (each one stores a challenge), per account: a signed-in user's or a sign-in's.
PASSKEY_OPTIONS_PER_ACCOUNT = Limit("passkey:options", 30, 300)


class RateLimited(AppError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            "RATE_LIMITED",
            "Too many requests. Try again later.",
            headers={"Retry-After": str(max(1, retry_after))},
        )


class LimiterUnavailable(AppError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "RATE_LIMITER_UNAVAILABLE",
            "The service is temporarily unavailable. Try again.",
            headers={"Retry-After": "5"},
        )


# Each placeholder is its own parameter ($1, $2, ... once prepared): ``_params`` repeats a value
# where the text uses it twice.
_UPSERT = """INSERT INTO rate_limits (key, window_start, count, last_hit_at)
VALUES (%s, %s, 1, %s)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_limits.window_start <= %s
                 THEN 1 ELSE rate_limits.count + 1 END,
    window_start = CASE WHEN rate_limits.window_start <= %s
                        THEN EXCLUDED.window_start ELSE rate_limits.window_start END,
    last_hit_at = EXCLUDED.last_hit_at
RETURNING count, window_start"""

# Built from constants only; every value is a bound parameter.
_HIT_THEN_READ = (
    "WITH hit AS (" + _UPSERT + ") "  # noqa: S608
    "SELECT hit.count, hit.window_start, budget.count, budget.window_start "
    "FROM hit LEFT JOIN rate_limits budget ON budget.key = %s"
)
_READ = "SELECT count, window_start FROM rate_limits WHERE key = %s"
_CLEAR = (
    "WITH gone AS (DELETE FROM rate_limits WHERE key = %s "
    "OR (%s AND key LIKE %s) RETURNING 1) SELECT count(*) FROM gone"
)


def _key(limit: Limit, subject: str) -> str:
    return f"{limit.name}:{subject}"


class RateLimiter:
    def __init__(
        self,
        database: peewee.Database,
        clock: Clock,
        *,
        scale: float,
        fail_closed: bool,
        metrics: Metrics | None = None,
    ):
        self._db = database
        self._clock = clock
        self._scale = scale
        self._fail_closed = fail_closed
        self._metrics = metrics or NullMetrics()

    def _execute(self, query: str, params: tuple[Any, ...]) -> Any:
        """One statement on the limiter's own pool, prepared once per connection (the
        limiter's statements are fixed texts: ``execute_prepared``)."""
        try:
            with self._db.connection_context():
                return execute_prepared(query, params, self._db).fetchone()
        except peewee.PeeweeException as exc:
            if self._fail_closed:
                log.error("rate_limiter_unavailable", error=type(exc).__name__)
                raise LimiterUnavailable() from exc
            log.warning("rate_limiter_unavailable_allowing", error=type(exc).__name__)
            return None

    def _allowed(self, limit: Limit) -> int:
        return math.ceil(limit.limit * self._scale)

    def _refuse(self, limit: Limit, window_start: datetime, now: datetime) -> None:
        reset_at = window_start + timedelta(seconds=limit.window_seconds)
        self._metrics.record(RATE_LIMIT_REFUSALS, Limit=limit.name)
        raise RateLimited(math.ceil((reset_at - now).total_seconds()))

    def _params(self, limit: Limit, subject: str, now: datetime) -> tuple[Any, ...]:
        """``_UPSERT``'s parameters: the key, now twice, the window's start twice."""
        expired_before = now - timedelta(seconds=limit.window_seconds)
        return (_key(limit, subject), now, now, expired_before, expired_before)

    def hit(self, limit: Limit, subject: str) -> None:
        """Count one request against ``limit`` for ``subject``; 429 once it is exceeded."""
        now = self._clock()
        row = self._execute(_UPSERT, self._params(limit, subject, now))
        if row is None:
            return
        count, window_start = row
        if count > self._allowed(limit):
            self._refuse(limit, window_start, now)

    def hit_then_check(self, limit: Limit, subject: str, budget: Limit, budget_subject: str) -> int:
        """``hit(limit, subject)`` and ``check(budget, budget_subject)`` in one round trip (the
        login path). Returns the failures already spent in the budget's current window."""
        now = self._clock()
        params = (*self._params(limit, subject, now), _key(budget, budget_subject))
        row = self._execute(_HIT_THEN_READ, params)
        if row is None:
            return 0
        count, window_start, spent, budget_start = row
        if count > self._allowed(limit):
            self._refuse(limit, window_start, now)
        return self._spent_or_refuse(budget, spent, budget_start, now)

    def check(self, budget: Limit, subject: str) -> int:
        """429 when ``subject`` has spent its whole budget in the current window; otherwise the
        number already spent."""
        now = self._clock()
        row = self._execute(_READ, (_key(budget, subject),))
        if row is None:
            return 0
        return self._spent_or_refuse(budget, row[0], row[1], now)

    def _spent_or_refuse(
        self, budget: Limit, spent: int | None, window_start: datetime, now: datetime
    ) -> int:
        if spent is None or window_start + timedelta(seconds=budget.window_seconds) <= now:
            return 0  # no counter, or its window has passed: the budget is whole again
        if spent >= self._allowed(budget):
            self._refuse(budget, window_start, now)
        return spent

    def record_failure(self, budget: Limit, subject: str) -> None:
        """Spend one unit of ``budget`` for ``subject`` (a window that has passed restarts)."""
        self._execute(_UPSERT, self._params(budget, subject, self._clock()))

    def clear(self, budget: Limit, subject: str, *, with_children: bool = False) -> None:
        """Forget ``subject``'s counter; ``with_children`` also forgets every ``subject:...``
        under it (the devices of an account)."""
        key = _key(budget, subject)
        self._execute(_CLEAR, (key, with_children, key + ":%"))

"""The platform's own metrics, as CloudWatch Embedded Metric Format (EMF) records on stdout.

App Runner and Lambda ship stdout to CloudWatch Logs, which extracts a metric from every line that
is an EMF document (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
A record is written as one raw JSON line, never through ``logging``: a Lambda's JSON log format
wraps a logging record in a ``message`` field, from which CloudWatch extracts nothing.

Every metric the code emits is declared once in ``METRICS`` below, with its unit and its
dimensions; the dashboard (infra/) and docs/operations.md are held to these declarations by tests.
Dimension values come from closed sets (``DIMENSION_VALUES``) or, for ``Route``, from the API's
route templates; anything else is recorded as ``other``, so no caller can create an unbounded
number of billed metrics.

``METRICS=emf`` chooses ``EmfMetrics`` (app/bootstrap.py); otherwise ``NullMetrics`` records
nothing. One small module rather than a library: aws-embedded-metrics brings an asyncio-based
flushing machinery the API's threads do not need (docs/operations.md gives the measured cost).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

import structlog

# EMF: at most 100 metrics per directive and 30 dimensions per dimension set.
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
OTHER = "other"
UNMATCHED_ROUTE = "unmatched"
# CORS preflights (OPTIONS) to any route share one route value.
PREFLIGHT_ROUTE = "preflight"
ANY_METHOD = "ANY"

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The rate limits by name (app/services/rate_limit.py); a test holds the two lists equal.
RATE_LIMIT_NAMES = (
    "login:ip",
    "login:account",
    "login:device",
    "reauth:session",
    "mfa:ip",
    "mfa:account",
    "mfa:device",
    "step-up:session",
    "totp-confirm:session",
    "register:ip",
    "reset:ip",
    "reset:account",
    "resend:user",
    "email_change:user",
    "refresh:ip",
    "passkey:options",
)

# Closed value sets of every dimension but Route (bounded by the route templates in code).
DIMENSION_VALUES: Mapping[str, tuple[str, ...]] = {
    "Method": (*METHODS, ANY_METHOD, OTHER),
    "StatusClass": STATUS_CLASSES,
    "Outcome": ("succeeded", "failed", "throttled"),
    "Limit": (*RATE_LIMIT_NAMES, OTHER),
    "Reason": ("deadline", "unavailable"),
    "Status": (
        "NO_THREATS_FOUND",
        "THREATS_FOUND",
        "UNSUPPORTED",
        "ACCESS_DENIED",
        "FAILED",
        OTHER,
    ),
    # The maintenance service's counts (app/services/maintenance.py).
    "Kind": ("uploads_expired", "sessions_purged", "email_tokens_purged", "counters_purged", OTHER),
}


@dataclass(frozen=True)
class Metric:
    """One metric: its name, its EMF unit, who emits it and the dimension sets it is recorded
    under (each set is one billed metric per combination of its values)."""

    name: str
    unit: str
    emitter: str
    dimension_sets: tuple[tuple[str, ...], ...] = ((),)
    description: str = ""

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for group in self.dimension_sets for name in group))


REQUESTS = Metric(
    "Requests",
    "Count",
    "api",
    (("Route", "Method", "StatusClass"), ("StatusClass",)),
    "Requests answered, per route template, method and status class; and per status class.",
)
LATENCY = Metric(
    "Latency",
    "Milliseconds",
    "api",
    (("Route", "Method"), ()),
    "Time to answer a request, per route template and method; and over all requests.",
)
LOGINS = Metric("Logins", "Count", "api", (("Outcome",),), "Sign-ins by outcome.")
REFRESH_ROTATIONS = Metric("RefreshRotations", "Count", "api", ((),), "Refresh tokens rotated.")
REFRESH_REUSE = Metric(
    "RefreshTokenReuse", "Count", "api", ((),), "Used refresh tokens replayed (family revoked)."
)
RATE_LIMIT_REFUSALS = Metric(
    "RateLimitRefusals", "Count", "api", (("Limit",),), "Requests refused 429, by limit."
)
DATABASE_REFUSALS = Metric(
    "DatabaseRefusals",
    "Count",
    "api",
    (("Reason",),),
    "Requests answered 503 DATABASE_UNAVAILABLE: past the request's database deadline, or the "
    "database unreachable.",
)
OUTBOX_SENT = Metric("OutboxSent", "Count", "api", ((),), "Emails delivered from the outbox.")
OUTBOX_FAILED = Metric(
    "OutboxFailed", "Count", "api", ((),), "Email deliveries that failed (retried or abandoned)."
)
OUTBOX_OLDEST_AGE = Metric(
    "OutboxOldestPendingAge",
    "Seconds",
    "api",
    ((),),
    "Age of the oldest email not yet sent or given up (0 when none), once a minute per worker.",
)
SCAN_RESULTS = Metric(
    "ScanResults", "Count", "scan_result", (("Status",),), "GuardDuty results applied, by status."
)
INFECTED_FILES = Metric(
    "InfectedFiles", "Count", "scan_result", ((),), "Uploads GuardDuty found threats in."
)
FAILED_SCANS = Metric(
    "FailedScans",
    "Count",
    "scan_result",
    ((),),
    "Scans that ended without a verdict (unsupported, access denied, failed).",
)
MAINTENANCE_PURGES = Metric(
    "MaintenancePurges", "Count", "maintenance", (("Kind",),), "Rows purged by the daily job."
)
PASSWORD_REMINDERS = Metric(
    "PasswordReminders", "Count", "maintenance", ((),), "Password-expiry reminders sent."
)
SLACK_DELIVERIES = Metric(
    "SlackDeliveries", "Count", "slack_notify", ((),), "Notifications Slack accepted."
)
SLACK_FAILURES = Metric(
    "SlackFailures", "Count", "slack_notify", ((),), "Notifications Slack refused or missed."
)
MIGRATIONS_APPLIED = Metric(
    "MigrationsApplied", "Count", "db_admin", ((),), "Migrations applied by one db-admin run."
)

METRICS: tuple[Metric, ...] = (
    REQUESTS,
    LATENCY,
    LOGINS,
    REFRESH_ROTATIONS,
    REFRESH_REUSE,
    RATE_LIMIT_REFUSALS,
    DATABASE_REFUSALS,
    OUTBOX_SENT,
    OUTBOX_FAILED,
    OUTBOX_OLDEST_AGE,
    SCAN_RESULTS,
    INFECTED_FILES,
    FAILED_SCANS,
    MAINTENANCE_PURGES,
    PASSWORD_REMINDERS,
    SLACK_DELIVERIES,
    SLACK_FAILURES,
    MIGRATIONS_APPLIED,
)


def combinations(metric: Metric, route_methods: int) -> int:
    """The most billed metrics ``metric`` can create: one per combination of values of each of
    its dimension sets. ``route_methods`` is the number of (route template, method) pairs the API
    serves other than OPTIONS."""
    total = 0
    for group in metric.dimension_sets:
        count = 1
        rest = [name for name in group if name not in ("Route", "Method")]
        if "Route" in group:
            # The unmatched route answers under Method=ANY, every preflight under OPTIONS.
            count = route_methods + 2
        elif "Method" in group:
            count = len(DIMENSION_VALUES["Method"])
        for name in rest:
            count *= len(DIMENSION_VALUES[name])
        total += count
    return total


def bounded(name: str, value: str) -> str:
    """``value`` if it is one of ``name``'s closed set of values, else ``other``."""
    allowed = DIMENSION_VALUES.get(name)
    return value if allowed is None or value in allowed else OTHER


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "5xx"


class Metrics(Protocol):
    enabled: bool

    def record(self, metric: Metric, value: float = 1, /, **dimensions: str) -> None:
        """Record ``value`` of ``metric`` with these dimension values (one per declared name)."""

    def record_all(self, values: Sequence[tuple[Metric, float]], /, **dimensions: str) -> None:
        """Record several metrics in one record (one line)."""


class NullMetrics:
    """``METRICS`` unset: nothing is recorded."""

    enabled = False

    def record(self, metric: Metric, value: float = 1, /, **dimensions: str) -> None:
        return None

    def record_all(self, values: Sequence[tuple[Metric, float]], /, **dimensions: str) -> None:
        return None


class EmfMetrics:
    """Writes one EMF document per recorded value, as a raw line on ``stream()``; the request id
    bound to the logs (structlog's context variables) goes with it as a property."""

    enabled = True

    def __init__(
        self,
        namespace: str,
        stream: Callable[[], IO[str]] = lambda: sys.stdout,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ):
        self.namespace = namespace
        self._stream = stream
        self._clock_ms = clock_ms
        self._lock = threading.Lock()

    def document(
        self, values: Sequence[tuple[Metric, float]], dimensions: Mapping[str, str]
    ) -> dict[str, Any]:
        """One EMF document for ``values``: one directive per distinct dimension sets."""
        if len(values) > MAX_METRICS_PER_DIRECTIVE:
            raise ValueError(f"at most {MAX_METRICS_PER_DIRECTIVE} metrics per record")
        directives: dict[tuple[tuple[str, ...], ...], list[dict[str, str]]] = {}
        record: dict[str, Any] = {}
        for metric, value in values:
            directives.setdefault(metric.dimension_sets, []).append(
                {"Name": metric.name, "Unit": metric.unit}
            )
            for name in metric.dimensions:
                record[name] = bounded(name, str(dimensions.get(name, OTHER)))
            record[metric.name] = value
        record["_aws"] = {
            "Timestamp": self._clock_ms(),
            "CloudWatchMetrics": [
                {
                    "Namespace": self.namespace,
                    "Dimensions": [list(group) for group in dimension_sets],
                    "Metrics": named,
                }
                for dimension_sets, named in directives.items()
            ],
        }
        context = structlog.contextvars.get_contextvars()
        if "request_id" in context:
            record["request_id"] = context["request_id"]
        return record

    def record(self, metric: Metric, value: float = 1, /, **dimensions: str) -> None:
        self.record_all(((metric, value),), **dimensions)

    def record_all(self, values: Sequence[tuple[Metric, float]], /, **dimensions: str) -> None:
        line = json.dumps(self.document(values, dimensions), separators=(",", ":"))
        with self._lock:
            stream = self._stream()
            stream.write(line + "\n")
            stream.flush()


def combinations_cap(route_methods: int) -> int:
    """The most billed metrics the whole platform can create in one stack."""
    return sum(combinations(metric, route_methods) for metric in METRICS)

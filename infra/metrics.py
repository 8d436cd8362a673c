"""The application's own metrics (CloudWatch Embedded Metric Format, app/core/metrics.py) as the
stacks use them: turned on in one namespace per stack, a dashboard over them, and the alarms on
the signals that mean an attack or a stuck pipeline.

The dashboard and the alarms name metrics through the code's declarations (``app.core.metrics``),
never by retyping a name; tests/infra/test_app_metrics.py compares what the rendered dashboard and
alarms name with what the code declares. Widget JSON: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core import metrics as m

NAMESPACE_ROOT = "JobAppTracker"
FIVE_MINUTES = 300


def metrics_namespace(stack: str) -> str:
    return f"{NAMESPACE_ROOT}/{stack}"


def metrics_environment(stack: str) -> dict[str, str]:
    """What the API and every Lambda run with: EMF records on stdout, in the stack's namespace."""
    return {"METRICS": "emf", "METRICS_NAMESPACE": metrics_namespace(stack)}


@dataclass(frozen=True)
class AppAlarmThresholds:
    """Stack config ``alarms.*`` (infra/config.py), each per five minutes."""

    refresh_token_reuse: int = 3
    failed_logins: int = 50
    outbox_oldest_seconds: int = 900


@dataclass(frozen=True)
class AlarmSpec:
    label: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, Any]  # values may be Pulumi outputs (a function's name)
    threshold: float
    statistic: str = "Sum"
    comparison: str = "GreaterThanThreshold"


def app_alarms(namespace: str, thresholds: AppAlarmThresholds) -> list[AlarmSpec]:
    """The alarms on the application's own metrics."""
    return [
        AlarmSpec(
            "refresh-token-reuse",
            f"more than {thresholds.refresh_token_reuse} refresh tokens replayed in 5 minutes "
            "(docs/operations.md)",
            namespace,
            m.REFRESH_REUSE.name,
            {},
            thresholds.refresh_token_reuse,
        ),
        AlarmSpec(
            "failed-logins",
            f"more than {thresholds.failed_logins} failed sign-ins in 5 minutes "
            "(docs/operations.md)",
            namespace,
            m.LOGINS.name,
            {"Outcome": "failed"},
            thresholds.failed_logins,
        ),
        AlarmSpec(
            "failed-scans",
            "a malware scan ended without a verdict (docs/operations.md)",
            namespace,
            m.FAILED_SCANS.name,
            {},
            0,
        ),
        AlarmSpec(
            "outbox-oldest",
            f"an email has waited more than {thresholds.outbox_oldest_seconds} s in the outbox "
            "(docs/operations.md)",
            namespace,
            m.OUTBOX_OLDEST_AGE.name,
            {},
            thresholds.outbox_oldest_seconds,
            statistic="Maximum",
        ),
    ]


def lambda_error_alarm(label: str, function_name: Any) -> AlarmSpec:
    return AlarmSpec(
        f"{label}-errors",
        f"the {label} function failed (docs/operations.md)",
        "AWS/Lambda",
        "Errors",
        {"FunctionName": function_name},
        0,
    )


def _line(namespace: str, metric: m.Metric, **dimensions: str) -> list[str]:
    row = [namespace, metric.name]
    for name, value in dimensions.items():
        row += [name, value]
    return row


def _widget(title: str, rows: list, stat: str, region: str, x: int, y: int) -> dict:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "stat": stat,
            "period": FIVE_MINUTES,
            "view": "timeSeries",
            "metrics": rows,
        },
    }


def dashboard_body(
    namespace: str, region: str, functions: Mapping[str, str], database_identifier: str
) -> str:
    """The stack's dashboard: the API's golden signals, the auth signals, the scan pipeline, the
    email outbox, the database and the daily jobs."""
    ns = namespace
    values = m.DIMENSION_VALUES
    widgets = [
        _widget(
            "API requests by status class",
            [_line(ns, m.REQUESTS, StatusClass=c) for c in m.STATUS_CLASSES],
            "Sum",
            region,
            0,
            0,
        ),
        _widget(
            "API latency (ms): p50, p99",
            [
                [*_line(ns, m.LATENCY), {"stat": "p50", "label": "p50"}],
                [*_line(ns, m.LATENCY), {"stat": "p99", "label": "p99"}],
            ],
            "p99",
            region,
            12,
            0,
        ),
        _widget(
            "Sign-ins by outcome, refresh rotations and reuse",
            [
                *(_line(ns, m.LOGINS, Outcome=o) for o in values["Outcome"]),
                _line(ns, m.REFRESH_ROTATIONS),
                _line(ns, m.REFRESH_REUSE),
            ],
            "Sum",
            region,
            0,
            6,
        ),
        _widget(
            "Rate-limit refusals by limit",
            [_line(ns, m.RATE_LIMIT_REFUSALS, Limit=limit) for limit in values["Limit"]],
            "Sum",
            region,
            12,
            6,
        ),
        _widget(
            "Scan pipeline",
            [
                *(_line(ns, m.SCAN_RESULTS, Status=s) for s in values["Status"]),
                _line(ns, m.INFECTED_FILES),
                _line(ns, m.FAILED_SCANS),
                _line(ns, m.SLACK_DELIVERIES),
                _line(ns, m.SLACK_FAILURES),
            ],
            "Sum",
            region,
            0,
            12,
        ),
        _widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", name] for name in functions.values()],
            "Sum",
            region,
            12,
            12,
        ),
        _widget(
            "Email outbox",
            [
                _line(ns, m.OUTBOX_SENT),
                _line(ns, m.OUTBOX_FAILED),
                [*_line(ns, m.OUTBOX_OLDEST_AGE), {"stat": "Maximum", "yAxis": "right"}],
            ],
            "Sum",
            region,
            0,
            18,
        ),
        _widget(
            "Database",
            [
                *(_line(ns, m.DATABASE_REFUSALS, Reason=r) for r in values["Reason"]),
                [
                    "AWS/RDS",
                    "CPUUtilization",
                    "DBInstanceIdentifier",
                    database_identifier,
                    {"stat": "Average", "yAxis": "right"},
                ],
                [
                    "AWS/RDS",
                    "DatabaseConnections",
                    "DBInstanceIdentifier",
                    database_identifier,
                    {"stat": "Maximum", "yAxis": "right"},
                ],
            ],
            "Sum",
            region,
            12,
            18,
        ),
        _widget(
            "Daily jobs and migrations",
            [
                *(_line(ns, m.MAINTENANCE_PURGES, Kind=k) for k in values["Kind"]),
                _line(ns, m.PASSWORD_REMINDERS),
                _line(ns, m.MIGRATIONS_APPLIED),
            ],
            "Sum",
            region,
            0,
            24,
        ),
    ]
    return json.dumps({"widgets": widgets})

"""The maintenance Lambda, run daily by an EventBridge schedule. Idempotent; reports its counts.

What it does is decided by the maintenance service (app/services/maintenance.py): expire
abandoned uploads, purge expired sessions, email tokens and rate-limit counters, send
password-expiry reminders. It connects as the jobs role, whose grants allow exactly these
reads, updates and deletes.
"""

from __future__ import annotations

from typing import Any

from app import bootstrap
from app.core.metrics import MAINTENANCE_PURGES, PASSWORD_REMINDERS, Metrics

# The maintenance service's counts recorded as purges, by kind.
PURGE_COUNTS = ("uploads_expired", "sessions_purged", "email_tokens_purged", "counters_purged")

# Built once per execution environment by the composition root (app/bootstrap.py).
cold_start = bootstrap.ColdStart("maintenance", bootstrap.maintenance_job)


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    job = cold_start()
    with job.database.connection_context():
        counts = job.maintenance.run()
    record(counts, job.metrics)
    return counts


def record(counts: dict[str, Any], metrics: Metrics) -> None:
    for kind in PURGE_COUNTS:
        metrics.record(MAINTENANCE_PURGES, counts.get(kind, 0), Kind=kind)
    metrics.record(PASSWORD_REMINDERS, counts.get("password_reminders_sent", 0))

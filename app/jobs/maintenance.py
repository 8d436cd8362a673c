"""The maintenance Lambda, run daily by an EventBridge schedule. Idempotent; reports its counts.

What it does is decided by the maintenance service (app/services/maintenance.py): expire
abandoned uploads, purge expired sessions, email tokens and rate-limit counters, send
password-expiry reminders. It connects as the jobs role, whose grants allow exactly these
reads, updates and deletes.
"""

from __future__ import annotations

from typing import Any

from app import bootstrap

# Built once per execution environment by the composition root (app/bootstrap.py).
cold_start = bootstrap.ColdStart("maintenance", bootstrap.maintenance_job)


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    job = cold_start()
    with job.database.connection_context():
        return job.maintenance.run()

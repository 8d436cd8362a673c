"""The db-admin Lambda: bootstrap the roles, then apply the image's migrations.

``pulumi up`` invokes it (``aws.lambda_.Invocation``) before the service or any other
database-using Lambda moves to a new image, so nothing runs new code on an old schema. It connects
as the RDS master (from the RDS-managed secret) for the bootstrap and as the migrator for
migrations; the API never holds either credential.

Event: ``{}`` or ``{"action": "migrate"}`` (bootstrap + migrate), ``{"action": "status"}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog

from app import bootstrap
from app.core import migrations
from app.core.metrics import MIGRATIONS_APPLIED, Metrics, NullMetrics
from app.core.roles import bootstrap_configured_roles
from app.core.settings import SecretFetcher, Settings, SettingsError, read_master_credentials

log = structlog.get_logger("app.jobs.db_admin")

# Built once per execution environment by the composition root (app/bootstrap.py): the
# settings, with their secrets resolved from Secrets Manager, and the secret reader.
cold_start = bootstrap.ColdStart("db_admin", bootstrap.db_admin_job)


def admin_url(config: Settings, fetch: SecretFetcher) -> str:
    arn = config.db_master_secret_arn
    if not arn:  # production validation requires it of the db-admin component
        raise SettingsError(["DB_MASTER_SECRET_ARN is required"])
    user, password = read_master_credentials(arn, fetch)
    url = config.database_url
    # Same host, database and TLS options as every other role; only the credentials differ.
    tail = url.split("@", 1)[1]
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{tail}"


def run(
    config: Settings, action: str, fetch: SecretFetcher, metrics: Metrics | None = None
) -> dict[str, Any]:
    if action == "status":
        return {"action": action, **migrations.status(config.migrations_database_url)}
    if action != "migrate":
        raise ValueError(f"unknown action {action!r}: use migrate or status")
    actions = bootstrap_configured_roles(config, admin_url(config, fetch))
    applied = migrations.apply(config.migrations_database_url, migrations.role_names(config))
    result = {"action": action, "roles": actions, "applied": applied}
    (metrics or NullMetrics()).record(MIGRATIONS_APPLIED, len(applied))
    log.info("db_admin_done", roles=len(actions), applied=applied)
    return result


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    job = cold_start()
    action = (event or {}).get("action", "migrate")
    return run(job.settings, action, job.fetch_secret, job.metrics)

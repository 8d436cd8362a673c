"""Migrations with peewee-migrate: generated from the models, reviewed, applied as the migrator.

Each migration runs in its own transaction (PostgreSQL DDL is transactional), so a failing one
leaves nothing half-applied; the history table records what ran, so applying twice is a no-op;
an advisory lock keeps two deploys from migrating at once.

Migration files grant privileges to roles whose names come from settings. They read them from
``ROLES`` here, which ``apply`` fills before any migration runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import peewee
from peewee_migrate import Router

if TYPE_CHECKING:
    from app.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
HISTORY_TABLE = "migratehistory"
_LOCK_KEY = "jat.migrations"

log = logging.getLogger("app.migrations")


@dataclass(frozen=True)
class RoleNames:
    migrator: str = "jat_migrator"
    app: str = "jat_app"
    jobs: str = "jat_jobs"


ROLES = RoleNames()


def role_names(settings: Settings) -> RoleNames:
    """The three role names ``settings`` configure."""
    return RoleNames(
        migrator=settings.db_migrator_user, app=settings.db_app_user, jobs=settings.db_jobs_user
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def grant_jobs(table: str, privileges: str) -> str:
    """SQL giving the jobs role exactly ``privileges`` on one table."""
    allowed = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    wanted = {part.strip().upper() for part in privileges.split(",")}
    if not wanted <= allowed:
        raise ValueError(f"jobs may only get {sorted(allowed)}")
    return f"GRANT {', '.join(sorted(wanted))} ON TABLE {_quote(table)} TO {_quote(ROLES.jobs)}"


def default_privileges_sql() -> list[str]:
    """Tables and sequences the migrator creates from now on are usable (DML only) by the app."""
    app = _quote(ROLES.app)
    return [
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        f"REVOKE ALL ON TABLE {_quote(HISTORY_TABLE)} FROM PUBLIC",
    ]


def _connect(url: str) -> peewee.PostgresqlDatabase:
    database = peewee.PostgresqlDatabase(url)
    database.connect()
    return database


# Abstract bases that hold shared fields but have no table of their own.
ABSTRACT_MODELS = ["basemodel", "timestampedmodel"]


def router(database: peewee.Database, migrate_dir: Path = MIGRATIONS_DIR) -> Router:
    return Router(
        database,
        migrate_dir=str(migrate_dir),
        migrate_table=HISTORY_TABLE,
        ignore=ABSTRACT_MODELS,
        logger=log,
    )


def set_roles(roles: RoleNames) -> None:
    global ROLES
    ROLES = roles


def apply(url: str, roles: RoleNames, migrate_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration as the migrator. Returns the names applied."""
    set_roles(roles)
    database = _connect(url)
    try:
        # Session-level lock: held across the per-migration transactions.
        database.execute_sql("SELECT pg_advisory_lock(hashtext(%s))", (_LOCK_KEY,))  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
        try:
            return router(database, migrate_dir).run()
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(hashtext(%s))", (_LOCK_KEY,))  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
    finally:
        database.close()


def status(url: str, migrate_dir: Path = MIGRATIONS_DIR) -> dict[str, list[str]]:
    database = _connect(url)
    try:
        migrations = router(database, migrate_dir)
        return {"applied": migrations.done, "pending": migrations.diff}
    finally:
        database.close()


def generate(url: str, name: str, migrate_dir: Path = MIGRATIONS_DIR) -> str | None:
    """Write a new migration from the difference between the models and the applied history.
    Returns its name, or None when the models match the history."""
    database = _connect(url)
    try:
        return router(database, migrate_dir).create(name, auto="app.models")
    finally:
        database.close()

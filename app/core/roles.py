"""Idempotent bootstrap of the three database roles (docs/design.md §5).

It runs as an admin that is *not* a superuser but holds CREATEROLE and owns the database, which is
what RDS's master user is. Running it again changes nothing except the passwords, which it sets
every time (that is how a rotated secret reaches the database).

- migrator: owns the schema's objects and runs DDL; used by migrations only.
- app: the API; DML through grants and default privileges (set by the first migration), no DDL.
- jobs: the cross-user Lambdas; only the grants each migration gives it.

None gets SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS. PUBLIC loses CREATE on the
public schema and TEMP on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql

from app.core.settings import SettingsError

if TYPE_CHECKING:
    from app.core.settings import Settings

# On CREATE every dangerous attribute is denied explicitly. A non-superuser admin may not even
# mention SUPERUSER, REPLICATION or BYPASSRLS in ALTER ROLE, so an existing role is altered with
# the rest and then checked: a role that somehow holds one of them stops the bootstrap.
CREATE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
ALTER_ATTRIBUTES = "LOGIN NOCREATEDB NOCREATEROLE NOINHERIT"


class UnsafeRole(Exception):
    """An existing role holds an attribute the bootstrap must never leave in place."""


@dataclass(frozen=True)
class RoleSpec:
    name: str
    password: str
    purpose: str


def bootstrap_configured_roles(settings: Settings, admin_url: str) -> list[str]:
    """``bootstrap_roles`` for the roles, passwords and database ``settings`` name; every missing
    password listed in one error."""
    passwords = {
        "DB_MIGRATOR_PASSWORD": settings.db_migrator_password,
        "DB_APP_PASSWORD": settings.db_app_password,
        "DB_JOBS_PASSWORD": settings.db_jobs_password,
    }
    missing = [name for name, value in passwords.items() if not value]
    if missing:
        raise SettingsError([f"{name} is required to bootstrap the roles" for name in missing])
    return bootstrap_roles(
        admin_url,
        database=settings.db_name,
        migrator=RoleSpec(
            settings.db_migrator_user,
            passwords["DB_MIGRATOR_PASSWORD"] or "",
            "schema owner; DDL only",
        ),
        app=RoleSpec(settings.db_app_user, passwords["DB_APP_PASSWORD"] or "", "the API; DML only"),
        jobs=RoleSpec(
            settings.db_jobs_user, passwords["DB_JOBS_PASSWORD"] or "", "cross-user jobs"
        ),
    )


def bootstrap_roles(
    admin_url: str,
    *,
    database: str,
    migrator: RoleSpec,
    app: RoleSpec,
    jobs: RoleSpec,
    connection_limits: dict[str, int] | None = None,
) -> list[str]:
    """Create or update the roles and base grants. Returns the actions taken, for the log."""
    actions: list[str] = []
    limits = connection_limits or {}
    connection = psycopg2.connect(admin_url, connect_timeout=10)
    try:
        with connection, connection.cursor() as cursor:
            # One bootstrap at a time, even if two deploys race.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('jat.bootstrap_roles'))")
            for role in (migrator, app, jobs):
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                attributes = ALTER_ATTRIBUTES if verb == "ALTER" else CREATE_ATTRIBUTES
                cursor.execute(
                    sql.SQL("{} ROLE {} " + attributes + " CONNECTION LIMIT {} PASSWORD %s").format(
                        sql.SQL(verb),
                        sql.Identifier(role.name),
                        sql.Literal(limits.get(role.name, -1)),
                    ),
                    (role.password,),
                )
                cursor.execute(
                    sql.SQL("COMMENT ON ROLE {} IS %s").format(sql.Identifier(role.name)),
                    (role.purpose,),
                )
                actions.append(f"{verb.lower().rstrip('e')}ed role {role.name}")

            db = sql.Identifier(database)
            cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            cursor.execute(
                sql.SQL("REVOKE TEMPORARY, CREATE ON DATABASE {} FROM PUBLIC").format(db)
            )
            for role in (migrator, app, jobs):
                ident = sql.Identifier(role.name)
                cursor.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, ident))
                cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
                cursor.execute(
                    sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = public").format(
                        ident, db
                    )
                )
            cursor.execute(
                sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(migrator.name))
            )
            for role in (app, jobs):
                ident = sql.Identifier(role.name)
                cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(ident))
                cursor.execute(
                    sql.SQL("REVOKE TEMPORARY, CREATE ON DATABASE {} FROM {}").format(db, ident)
                )
            actions.append("granted connect/usage; revoked CREATE and TEMP from PUBLIC")
            cursor.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) "
                "AND (rolsuper OR rolbypassrls OR rolreplication)",
                ([migrator.name, app.name, jobs.name],),
            )
            unsafe = [row[0] for row in cursor.fetchall()]
            if unsafe:
                raise UnsafeRole(
                    f"{', '.join(unsafe)} hold SUPERUSER, BYPASSRLS or REPLICATION; a superuser "
                    "must remove it before the bootstrap can continue"
                )
    finally:
        connection.close()
    return actions

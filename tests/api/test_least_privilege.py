"""docs/design.md §5 on a real PostgreSQL: roles bootstrapped by a non-superuser admin, the app
role unable to change the schema, and migrations that are idempotent and all-or-nothing."""

from __future__ import annotations

import contextlib
import secrets
import shutil
from pathlib import Path

import peewee
import psycopg2
import pytest

from app.core import migrations
from app.core.local_postgres import ADMIN_USER
from app.core.roles import RoleSpec, bootstrap_roles

REAL_MIGRATIONS = migrations.MIGRATIONS_DIR
REAL_NAMES = sorted(path.stem for path in REAL_MIGRATIONS.glob("[0-9]*.py"))

PROBE_MIGRATION = """
import peewee as pw


def migrate(migrator, database, *, fake=False):
    @migrator.create_model
    class ProbeItem(pw.Model):
        name = pw.CharField(max_length=50)

        class Meta:
            table_name = "probe_items"


def rollback(migrator, database, *, fake=False):
    migrator.remove_model("probe_items")
"""

FAILING_MIGRATION = """
def migrate(migrator, database, *, fake=False):
    migrator.sql("CREATE TABLE half_done (id int)")
    migrator.sql("INSERT INTO half_done VALUES (1)")
    migrator.sql("SELECT * FROM table_that_does_not_exist")


def rollback(migrator, database, *, fake=False):
    pass
"""


class Cluster:
    """A fresh database on the session's server, with its own three roles."""

    def __init__(self, local_pg, name: str):
        self.local_pg = local_pg
        self.name = name
        local_pg.create_database(name)
        self.roles = {
            kind: RoleSpec(f"{name}_{kind}", secrets.token_urlsafe(16), kind)
            for kind in ("migrator", "app", "jobs")
        }

    @property
    def admin_url(self) -> str:
        return self.local_pg.url(ADMIN_USER, self.local_pg.credentials.admin_password, self.name)

    def url(self, kind: str) -> str:
        role = self.roles[kind]
        return self.local_pg.url(role.name, role.password, self.name)

    def role_names(self) -> migrations.RoleNames:
        return migrations.RoleNames(*(self.roles[k].name for k in ("migrator", "app", "jobs")))

    def bootstrap(self) -> list[str]:
        return bootstrap_roles(self.admin_url, database=self.name, **self.roles)

    def connect(self, kind: str):
        connection = psycopg2.connect(self.url(kind) if kind != "admin" else self.admin_url)
        connection.autocommit = True
        return contextlib.closing(connection)


def migrations_dir(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(REAL_MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in extra:
        (target / name).write_text(source)
    return target


@pytest.fixture
def cluster(local_pg, request):
    name = "t" + secrets.token_hex(4)
    return Cluster(local_pg, name)


@pytest.fixture
def migrated(cluster, tmp_path):
    cluster.bootstrap()
    directory = migrations_dir(tmp_path, ("900_probe.py", PROBE_MIGRATION))
    applied = migrations.apply(cluster.url("migrator"), cluster.role_names(), directory)
    assert applied[-1] == "900_probe"
    return cluster


def fails_with_permission_denied(connection, statement: str) -> bool:
    with connection.cursor() as cursor:
        try:
            cursor.execute(statement)
        except psycopg2.errors.InsufficientPrivilege:
            return True
        except psycopg2.Error as exc:  # any other failure proves nothing
            pytest.fail(f"{statement!r} failed for another reason: {exc}")
    return False


def test_the_admin_is_not_a_superuser_but_holds_createrole(cluster):
    with cluster.connect("admin") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, True)


def test_bootstrap_with_a_non_superuser_admin_creates_three_login_roles(cluster):
    cluster.bootstrap()
    with cluster.connect("admin") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, "
            "rolreplication FROM pg_roles WHERE rolname LIKE %s ORDER BY rolname",
            (cluster.name + "_%",),
        )
        rows = cursor.fetchall()
    assert [row[0] for row in rows] == sorted(role.name for role in cluster.roles.values())
    for row in rows:
        assert row[1:] == (True, False, False, False, False, False), row


def test_bootstrap_is_idempotent_and_rotates_passwords(cluster):
    first = cluster.bootstrap()
    assert first[0].startswith("created role")
    old_password = cluster.roles["app"].password
    cluster.roles["app"] = RoleSpec(cluster.roles["app"].name, "rotated-" + old_password, "app")
    second = cluster.bootstrap()
    assert second[0].startswith("altered role")
    with cluster.connect("app"):  # the new password works
        pass
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            cluster.local_pg.url(cluster.roles["app"].name, old_password, cluster.name)
        )


def test_public_loses_create_and_temp(cluster):
    cluster.bootstrap()
    with cluster.connect("admin") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_schema_privilege('public', 'public', 'CREATE'), "
            "has_database_privilege('public', current_database(), 'TEMP'), "
            "has_database_privilege('public', current_database(), 'CREATE')"
        )
        assert cursor.fetchone() == (False, False, False)


def test_app_role_cannot_create_a_table_in_any_schema_it_can_see(migrated):
    with migrated.connect("app") as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE') "
                "AND nspname NOT LIKE 'pg_temp%%' AND nspname NOT LIKE 'pg_toast_temp%%'"
            )
            schemas = [row[0] for row in cursor.fetchall()]
        assert {"public", "pg_catalog", "information_schema"} <= set(schemas)
        for schema in schemas:
            assert fails_with_permission_denied(
                connection, f'CREATE TABLE "{schema}".sneaky (id int)'
            ), schema


def test_app_role_cannot_create_a_temp_table(migrated):
    with migrated.connect("app") as connection:
        assert fails_with_permission_denied(connection, "CREATE TEMP TABLE sneaky (id int)")


def test_app_role_cannot_alter_or_drop_a_migrated_table(migrated):
    with migrated.connect("app") as connection:
        assert fails_with_permission_denied(connection, "ALTER TABLE probe_items ADD COLUMN x int")
        assert fails_with_permission_denied(connection, "DROP TABLE probe_items")
        assert fails_with_permission_denied(connection, "TRUNCATE probe_items")
        assert fails_with_permission_denied(connection, "CREATE INDEX sneaky ON probe_items (name)")


def test_app_role_has_dml_on_migrated_tables_through_default_privileges(migrated):
    with migrated.connect("app") as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO probe_items (name) VALUES ('a') RETURNING id")
        row_id = cursor.fetchone()[0]
        cursor.execute("UPDATE probe_items SET name = 'b' WHERE id = %s", (row_id,))
        cursor.execute("SELECT name FROM probe_items WHERE id = %s", (row_id,))
        assert cursor.fetchone() == ("b",)
        cursor.execute("DELETE FROM probe_items WHERE id = %s", (row_id,))
        assert cursor.rowcount == 1


def test_app_role_cannot_touch_the_migration_history(migrated):
    with migrated.connect("app") as connection:
        assert fails_with_permission_denied(connection, "SELECT * FROM migratehistory")
        assert fails_with_permission_denied(connection, "DELETE FROM migratehistory")


def test_jobs_role_gets_nothing_it_was_not_granted(migrated):
    with migrated.connect("jobs") as connection:
        assert fails_with_permission_denied(connection, "SELECT * FROM probe_items")
        assert fails_with_permission_denied(connection, "CREATE TABLE public.sneaky (id int)")
        assert fails_with_permission_denied(connection, "CREATE TEMP TABLE sneaky (id int)")


def test_applying_migrations_twice_is_a_no_op(migrated, tmp_path):
    directory = tmp_path / "migrations"
    assert migrations.apply(migrated.url("migrator"), migrated.role_names(), directory) == []
    state = migrations.status(migrated.url("migrator"), directory)
    assert state["pending"] == []
    assert state["applied"] == sorted(p.stem for p in directory.glob("[0-9]*.py"))


def test_a_failing_migration_leaves_nothing_half_applied(cluster, tmp_path):
    cluster.bootstrap()
    directory = migrations_dir(tmp_path, ("900_broken.py", FAILING_MIGRATION))
    with pytest.raises(peewee.ProgrammingError, match="table_that_does_not_exist"):
        migrations.apply(cluster.url("migrator"), cluster.role_names(), directory)
    with cluster.connect("migrator") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.half_done')")
        assert cursor.fetchone() == (None,)
        cursor.execute("SELECT name FROM migratehistory ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == REAL_NAMES


def test_only_the_app_role_reaches_the_email_outbox(migrated):
    """Queued emails carry sealed reset and verification links: the jobs role gets nothing."""
    with migrated.connect("jobs") as connection:
        for statement in (
            "SELECT id FROM email_outbox",
            "INSERT INTO email_outbox (id, created_at, available_at, attempts) "
            "VALUES (gen_random_uuid(), now(), now(), 0)",
            "UPDATE email_outbox SET attempts = 0",
            "DELETE FROM email_outbox",
        ):
            assert fails_with_permission_denied(connection, statement), statement
    with migrated.connect("app") as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO email_outbox (id, payload, created_at, available_at, attempts) "
            "VALUES (gen_random_uuid(), 'x', now(), now(), 0) RETURNING id"
        )
        row_id = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE email_outbox SET sent_at = now(), payload = NULL WHERE id = %s", (row_id,)
        )
        cursor.execute("DELETE FROM email_outbox WHERE id = %s", (row_id,))
        assert cursor.rowcount == 1


def test_the_jobs_role_purges_email_tokens_without_reading_pending_addresses(migrated):
    """A pending email change names its new address: the maintenance purge needs only the
    columns its WHERE reads."""
    with migrated.connect("app") as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (id, created_at, updated_at, email, password_hash, "
            "password_changed_at, force_password_change, is_active) VALUES (gen_random_uuid(), "
            "now(), now(), 'a@example.com', 'x', now(), false, true) RETURNING id"
        )
        user_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO email_tokens (id, user_id, purpose, token_hash, created_at, "
            "expires_at, new_email) VALUES (gen_random_uuid(), %s, 'email_change', 'h', "
            "now() - interval '2 hours', now() - interval '1 hour', 'b@example.com')",
            (user_id,),
        )
    with migrated.connect("jobs") as connection:
        for statement in (
            "SELECT new_email FROM email_tokens",
            "SELECT * FROM email_tokens",
            "SELECT token_hash FROM email_tokens",
        ):
            assert fails_with_permission_denied(connection, statement), statement
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM email_tokens WHERE expires_at <= now() "
                "OR used_at <= now() - interval '1 day'"
            )
            assert cursor.rowcount == 1


def test_idempotency_keys_are_the_app_roles_and_each_users_own(migrated):
    """The jobs role gets nothing; with no user set the app role sees no live key."""
    with migrated.connect("jobs") as connection:
        assert fails_with_permission_denied(connection, "SELECT id FROM idempotency_keys")
        assert fails_with_permission_denied(connection, "DELETE FROM idempotency_keys")
    with migrated.connect("app") as connection, connection.cursor() as cursor:
        user_id = "00000000-0000-4000-8000-000000000001"
        cursor.execute("SELECT set_config('app.user_id', %s, false)", (user_id,))
        cursor.execute(
            "INSERT INTO users (id, email, password_hash, password_changed_at, "
            "force_password_change, is_active, created_at, updated_at) "
            "VALUES (%s, 'owner@example.com', 'x', now(), false, true, now(), now())",
            (user_id,),
        )
        cursor.execute(
            "INSERT INTO idempotency_keys (id, owner_id, key, fingerprint, created_at, "
            "expires_at) VALUES (gen_random_uuid(), %s, 'k', 'f', now(), now() + interval "
            "'1 day')",
            (user_id,),
        )
        cursor.execute("SELECT count(*) FROM idempotency_keys")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT set_config('app.user_id', '', false)")
        cursor.execute("SELECT count(*) FROM idempotency_keys")
        assert cursor.fetchone() == (0,)
        cursor.execute("DELETE FROM idempotency_keys")
        assert cursor.rowcount == 0  # a live key is not anyone's to purge

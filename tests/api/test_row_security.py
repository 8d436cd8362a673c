"""Row-level security by catalogue: PostgreSQL's own catalogue says which tables hold per-user
rows (those with an ``owner_id`` column), and each of them must have row-level security enabled
AND forced AND an owner policy. Every other table is classified below, with the reason it is not
scoped per user, so a new table cannot ship without a decision either way.

The cross-user test then takes the owner tables from the same catalogue: as the API's database
role, under another user's ``app.user_id``, each of them shows, updates and deletes nothing."""

from __future__ import annotations

import contextlib
import re
import uuid

import psycopg2
import pytest

from tests.api.test_attachments import make_env, new_application, signed_in, start_upload
from tests.passkey_authenticator import register_passkey

SCHEMA = "public"

# Tables without an ``owner_id`` column. Auth tables are read before anyone is identified, so
# they cannot be scoped per user; they are reachable only through the auth services.
NOT_OWNER_TABLES = {
    "users": "auth: accounts, looked up by email before anyone is identified (auth services)",
    "sessions": "auth: refresh-token families, looked up by token hash (auth services)",
    "email_tokens": (
        "auth: verification, reset and email-change tokens (with a pending change's new "
        "address), looked up by hash (auth services)"
    ),
    "security_events": "auth: the audit trail the auth services write",
    "rate_limits": "auth: login and reset throttling counters, keyed by ip/email (auth services)",
    "email_outbox": "auth: the auth services' queued emails, sent by the outbox drainer",
    "passkey_challenges": (
        "auth: WebAuthn challenges, consumed by their digest during a sign-in (passkey service)"
    ),
    "totp_factors": "auth: TOTP factors, read at the second step of a sign-in before anyone is "
    "identified (app/services/mfa.py)",
    "recovery_codes": "auth: recovery-code hashes, checked at the second step of a sign-in "
    "(app/services/mfa.py)",
    "mfa_tickets": "auth: MFA login tickets, looked up by hash before anyone is identified "
    "(app/services/mfa.py)",
    "session_step_ups": "auth: when a session family last proved a factor, keyed by the family "
    "(app/services/mfa.py)",
    "migratehistory": "system: the migrations' history, read and written by the migrator only",
}

# Policies beside the owner policy that also admit the API's role. Permissive policies are OR-ed,
# so each one widens what a user's transaction can reach and must be listed here with its reason.
EXTRA_POLICIES = {
    ("idempotency_keys", "idempotency_keys_expired_read"): (
        "the API's housekeeping finds expired keys, only with no user set (SELECT only)"
    ),
    ("idempotency_keys", "idempotency_keys_expired_purge"): (
        "the API's housekeeping deletes expired keys, only with no user set (DELETE only)"
    ),
}

# The NULL-safe owner policy of migrations/003_applications.py, as PostgreSQL prints it back.
OWNER_EXPRESSION = re.compile(
    r"^\(owner_id = \(NULLIF\(current_setting\('app\.user_id'::text, true\), ''::text\)\)::uuid\)$"
)


def tables(cursor) -> dict[str, dict]:
    """Every base table of the schema, with its row-security flags and whether it has owner_id."""
    cursor.execute(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               EXISTS (SELECT 1 FROM information_schema.columns col
                       WHERE col.table_schema = n.nspname AND col.table_name = c.relname
                         AND col.column_name = 'owner_id')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
        """,
        (SCHEMA,),
    )
    return {
        name: {"enabled": enabled, "forced": forced, "owner_id": owner_id}
        for name, enabled, forced, owner_id in cursor.fetchall()
    }


def policies(cursor, table: str) -> list[dict]:
    cursor.execute(
        "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
        "WHERE schemaname = %s AND tablename = %s",
        (SCHEMA, table),
    )
    columns = ("name", "permissive", "roles", "cmd", "qual", "with_check")
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _roles(value) -> set[str]:
    if isinstance(value, list):
        return set(value)
    return set(value.strip("{}").split(","))  # name[] may come back as its text form


def row_security_problems(cursor, app_role: str) -> list[str]:
    """Everything wrong with the schema's row-level security, one sentence per problem."""
    problems = []
    for name, table in tables(cursor).items():
        if not table["owner_id"]:
            if name not in NOT_OWNER_TABLES:
                problems.append(
                    f"table {name!r} is not classified: give it an owner_id column with row-level "
                    f"security enabled and forced and an owner policy (see "
                    f"migrations/003_applications.py), or add it to NOT_OWNER_TABLES in "
                    f"tests/api/test_row_security.py with the reason it is not per user"
                )
            continue
        if name in NOT_OWNER_TABLES:
            problems.append(f"table {name!r} has owner_id but is listed in NOT_OWNER_TABLES")
        if not table["enabled"]:
            problems.append(f"table {name!r}: ENABLE ROW LEVEL SECURITY is missing")
        if not table["forced"]:
            problems.append(f"table {name!r}: FORCE ROW LEVEL SECURITY is missing")
        applying = [
            policy
            for policy in policies(cursor, name)
            if _roles(policy["roles"]) & {"public", app_role}
        ]
        owner = [
            policy
            for policy in applying
            if policy["cmd"] == "ALL"
            and OWNER_EXPRESSION.match(policy["qual"] or "")
            and OWNER_EXPRESSION.match(policy["with_check"] or "")
        ]
        if not owner:
            problems.append(
                f"table {name!r}: no owner policy for the API's role "
                f"(USING and WITH CHECK owner_id = the NULL-safe app.user_id, for ALL commands)"
            )
        for policy in applying:
            if (
                policy not in owner
                and policy["permissive"] == "PERMISSIVE"
                and (name, policy["name"]) not in EXTRA_POLICIES
            ):
                problems.append(
                    f"table {name!r}: policy {policy['name']!r} also admits the API's role "
                    f"(permissive policies are OR-ed with the owner policy): remove it, or list "
                    f"it in EXTRA_POLICIES with the reason"
                )
    return problems


@contextlib.contextmanager
def connection(url: str):
    connection = psycopg2.connect(url)
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


def test_every_table_is_classified_and_every_owner_table_is_forced_and_owned(settings):
    with connection(settings.migrations_database_url) as conn, conn.cursor() as cursor:
        found = tables(cursor)
        assert row_security_problems(cursor, settings.db_app_user) == []
    owner_tables = {name for name, table in found.items() if table["owner_id"]}
    # The catalogue query is reading the real schema: the domain tables are there.
    assert {"applications", "application_events", "attachments"} <= owner_tables
    assert set(NOT_OWNER_TABLES) <= set(found), set(NOT_OWNER_TABLES) - set(found)


@pytest.mark.parametrize(
    "change,expected",
    [
        ("ALTER TABLE attachments NO FORCE ROW LEVEL SECURITY", "FORCE ROW LEVEL SECURITY"),
        ("ALTER TABLE applications DISABLE ROW LEVEL SECURITY", "ENABLE ROW LEVEL SECURITY"),
        ("DROP POLICY application_events_owner ON application_events", "no owner policy"),
        (
            "CREATE POLICY everyone ON attachments USING (true) WITH CHECK (true)",
            "policy 'everyone' also admits",
        ),
        ("CREATE TABLE scratch_unclassified (id int)", "'scratch_unclassified' is not classified"),
        (
            "CREATE TABLE scratch_owned (owner_id uuid); "
            "ALTER TABLE scratch_owned ENABLE ROW LEVEL SECURITY",
            "'scratch_owned': FORCE ROW LEVEL SECURITY is missing",
        ),
    ],
)
def test_the_catalogue_check_sees_each_way_to_get_it_wrong(settings, change, expected):
    """Each change runs as the schema's owner inside a transaction that is rolled back."""
    with connection(settings.migrations_database_url) as conn, conn.cursor() as cursor:
        cursor.execute(change)
        problems = row_security_problems(cursor, settings.db_app_user)
    assert any(expected in problem for problem in problems), problems


# ----- raw SQL as the API's role, for every owner table in the catalogue ----------------------


@pytest.fixture
def owners_data(settings, tmp_path):
    """Alice owns a row in every owner table: an application, its status events, an upload,
    an idempotency key, a passkey."""
    env = make_env(
        settings,
        storage_backend="local",
        scanner="local",
        local_storage_dir=str(tmp_path / "uploads"),
    )
    alice, bob = signed_in(env), signed_in(env)
    application_id = new_application(alice)
    moved = alice.request(
        "PATCH", f"/v1/applications/{application_id}", json={"status": "offer", "version": 1}
    )
    assert moved.status_code == 200, moved.text
    start_upload(alice, application_id, b"cv text\n")
    keyed = alice.request(
        "POST",
        "/v1/applications",
        json={"company": "Keyed", "role_title": "Eng"},
        headers={"Idempotency-Key": f"row-security-{uuid.uuid4()}"},
    )
    assert keyed.status_code == 201, keyed.text
    register_passkey(alice)
    new_application(bob)
    return alice, bob


def owner_tables(settings) -> list[str]:
    with connection(settings.migrations_database_url) as conn, conn.cursor() as cursor:
        return sorted(name for name, table in tables(cursor).items() if table["owner_id"])


def test_raw_sql_as_the_app_role_under_another_user_touches_no_row_of_any_owner_table(
    settings, owners_data
):
    alice, bob = owners_data
    found = owner_tables(settings)
    assert "attachments" in found
    with connection(settings.database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (settings.db_app_user,)
        for table in found:
            mine = f'SELECT count(*) FROM "{table}" WHERE owner_id = %s'
            cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(alice.user_id),))
            cursor.execute(mine, (str(alice.user_id),))
            (own,) = cursor.fetchone()
            assert own > 0, (
                f"no row of {table!r} for alice: create one in the owners_data fixture, so the "
                f"cross-user check below has something to hide"
            )
            cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(bob.user_id),))
            cursor.execute(mine, (str(alice.user_id),))
            assert cursor.fetchone() == (0,), f"{table}: bob sees alice's rows"
            cursor.execute(
                f'UPDATE "{table}" SET owner_id = owner_id WHERE owner_id = %s', (alice.user_id,)
            )
            assert cursor.rowcount == 0, f"{table}: bob updates alice's rows"
            cursor.execute(f'DELETE FROM "{table}" WHERE owner_id = %s', (str(alice.user_id),))
            assert cursor.rowcount == 0, f"{table}: bob deletes alice's rows"
            cursor.execute("SELECT set_config('app.user_id', '', true)")
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            assert cursor.fetchone() == (0,), f"{table}: rows visible with no user in context"


def test_expired_idempotency_keys_are_reachable_by_the_housekeeping_only(settings, owners_data):
    """The housekeeping policies are OR-ed with the owner policy: they must admit a transaction
    with no user set (the purge) and never a signed-in user's, or every user could read and
    delete the stored answers of everybody else's expired keys."""
    alice, bob = owners_data
    with connection(settings.database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(alice.user_id),))
        cursor.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 hour' "
            "WHERE owner_id = %s",
            (str(alice.user_id),),
        )
        expired = cursor.rowcount
        assert expired > 0
        mine = "SELECT count(*) FROM idempotency_keys WHERE owner_id = %s"
        cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(bob.user_id),))
        cursor.execute(mine, (str(alice.user_id),))
        assert cursor.fetchone() == (0,), "bob reads alice's expired keys"
        cursor.execute("DELETE FROM idempotency_keys WHERE owner_id = %s", (str(alice.user_id),))
        assert cursor.rowcount == 0, "bob deletes alice's expired keys"
        cursor.execute("SELECT set_config('app.user_id', '', true)")
        cursor.execute(mine, (str(alice.user_id),))
        assert cursor.fetchone() == (expired,), "the housekeeping cannot see expired keys"
        cursor.execute("DELETE FROM idempotency_keys WHERE expires_at <= now()")
        assert cursor.rowcount >= expired, "the housekeeping cannot purge expired keys"

"""Accounts: users, refresh-token families (sessions), email tokens, security events, rate limits.

Generated from app/models/accounts.py with `db generate accounts`, then reviewed: the CHECK
constraints and the grants below were added by hand.

Row-level security: these auth tables are deliberately NOT scoped per user. Login, refresh,
verification and password reset read them before anyone is identified, so no app.user_id exists
yet. They are reachable only through app/services/auth*.py; every user-owned domain table
(applications and later) is under RLS instead.

The jobs role (maintenance Lambda) may purge expired sessions, email tokens and old counters, and
read users to send password-expiry reminders; nothing else.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

from app.core import migrations

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

REVIEWED_SQL = [
    "ALTER TABLE users ADD CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email)))",
    "ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose "
    "CHECK (purpose IN ('verify_email', 'password_reset'))",
    "ALTER TABLE rate_limits ADD CONSTRAINT rate_limits_count_non_negative CHECK (count >= 0)",
    "CREATE INDEX sessions_user_active ON sessions (user_id) WHERE revoked_at IS NULL",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):

    @migrator.create_model
    class User(pw.Model):
        id = pw.UUIDField(primary_key=True)
        created_at = pw_pext.DateTimeTZField()
        updated_at = pw_pext.DateTimeTZField()
        email = pw.CharField(max_length=320, unique=True)
        password_hash = pw.TextField()
        password_changed_at = pw_pext.DateTimeTZField()
        force_password_change = pw.BooleanField(default=False)
        email_verified_at = pw_pext.DateTimeTZField(null=True)
        is_active = pw.BooleanField(default=True)

        class Meta:
            table_name = "users"

    @migrator.create_model
    class EmailToken(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["users"], on_delete="CASCADE"
        )
        purpose = pw.CharField(max_length=32)
        token_hash = pw.CharField(max_length=64, unique=True)
        created_at = pw_pext.DateTimeTZField()
        expires_at = pw_pext.DateTimeTZField()
        used_at = pw_pext.DateTimeTZField(null=True)

        class Meta:
            table_name = "email_tokens"

    @migrator.create_model
    class RateLimitCounter(pw.Model):
        key = pw.CharField(max_length=200, primary_key=True)
        window_start = pw_pext.DateTimeTZField()
        count = pw.IntegerField(default=0)
        last_hit_at = pw_pext.DateTimeTZField()

        class Meta:
            table_name = "rate_limits"

    @migrator.create_model
    class RefreshToken(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["users"], on_delete="CASCADE"
        )
        family_id = pw.UUIDField(index=True)
        parent = pw.ForeignKeyField(
            column_name="parent_id", field="id", model="self", null=True, on_delete="CASCADE"
        )
        token_hash = pw.CharField(max_length=64, unique=True)
        created_at = pw_pext.DateTimeTZField()
        expires_at = pw_pext.DateTimeTZField()
        used_at = pw_pext.DateTimeTZField(null=True)
        revoked_at = pw_pext.DateTimeTZField(null=True)
        user_agent = pw.CharField(max_length=512, null=True)
        ip = pw.CharField(max_length=64, null=True)

        class Meta:
            table_name = "sessions"

    @migrator.create_model
    class SecurityEvent(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id",
            field="id",
            model=migrator.orm["users"],
            null=True,
            on_delete="CASCADE",
        )
        event_type = pw.CharField(max_length=64)
        created_at = pw_pext.DateTimeTZField(index=True)
        ip = pw.CharField(max_length=64, null=True)
        user_agent = pw.CharField(max_length=512, null=True)
        details = pw_pext.BinaryJSONField(index=False)

        class Meta:
            table_name = "security_events"
            indexes = [(("user", "created_at"), False)]

    for statement in REVIEWED_SQL:
        migrator.sql(statement)
    # Only what the password-expiry reminders need: never the password hash.
    jobs = migrations.ROLES.jobs.replace('"', '""')
    migrator.sql(
        f'GRANT SELECT (id, email, password_changed_at, is_active) ON TABLE users TO "{jobs}"'
    )
    for table in ("sessions", "email_tokens", "rate_limits"):
        migrator.sql(migrations.grant_jobs(table, "SELECT, DELETE"))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):

    migrator.remove_model("security_events")

    migrator.remove_model("sessions")

    migrator.remove_model("rate_limits")

    migrator.remove_model("email_tokens")

    migrator.remove_model("users")

"""Second factors: TOTP factors, recovery codes, MFA login tickets and step-up state.

Written from app/models/mfa.py as `db generate` would, then reviewed: the CHECK constraints and
the partial index below were added by hand.

Row-level security: auth tables, like those of migrations/002_accounts.py. The second step of a
sign-in reads the ticket and the account's factors before anyone is identified, so there is no
app.user_id to scope them by; they are reachable only through app/services/mfa.py and
app/services/auth.py.

Least privilege: the app role gets DML through the default privileges (migrations/001); the
jobs role gets nothing here. The API's own housekeeping purges tickets and step-up rows that can
no longer be used; nothing else needs these rows, and the sealed TOTP secrets and recovery-code
hashes stay with the API.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

REVIEWED_SQL = [
    "ALTER TABLE totp_factors ADD CONSTRAINT totp_factors_step_after_confirmation "
    "CHECK (last_used_step IS NULL OR confirmed_at IS NOT NULL)",
    "ALTER TABLE totp_factors ADD CONSTRAINT totp_factors_key_id_set CHECK (key_id <> '')",
    "ALTER TABLE mfa_tickets ADD CONSTRAINT mfa_tickets_failed_attempts_non_negative "
    "CHECK (failed_attempts >= 0)",
    "ALTER TABLE mfa_tickets ADD CONSTRAINT mfa_tickets_expire_after_creation "
    "CHECK (expires_at > created_at)",
    "CREATE INDEX recovery_codes_unused ON recovery_codes (user_id) WHERE used_at IS NULL",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class TotpFactor(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            unique=True,
        )
        secret_sealed = pw.BlobField()
        key_id = pw.CharField(max_length=16)
        created_at = pw_pext.DateTimeTZField()
        confirmed_at = pw_pext.DateTimeTZField(null=True)
        last_used_step = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "totp_factors"

    @migrator.create_model
    class RecoveryCode(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["users"], on_delete="CASCADE"
        )
        code_hash = pw.TextField()
        created_at = pw_pext.DateTimeTZField()
        used_at = pw_pext.DateTimeTZField(null=True)

        class Meta:
            table_name = "recovery_codes"

    @migrator.create_model
    class MfaTicket(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["users"], on_delete="CASCADE"
        )
        ticket_hash = pw.CharField(max_length=64, unique=True)
        binding_hash = pw.CharField(max_length=64)
        password_hash_digest = pw.CharField(max_length=64)
        device = pw.CharField(max_length=64, null=True)
        created_at = pw_pext.DateTimeTZField()
        expires_at = pw_pext.DateTimeTZField(index=True)
        used_at = pw_pext.DateTimeTZField(null=True)
        failed_attempts = pw.IntegerField(default=0)

        class Meta:
            table_name = "mfa_tickets"

    @migrator.create_model
    class SessionStepUp(pw.Model):
        family_id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id", field="id", model=migrator.orm["users"], on_delete="CASCADE"
        )
        stepped_up_at = pw_pext.DateTimeTZField(index=True)

        class Meta:
            table_name = "session_step_ups"

    for statement in REVIEWED_SQL:
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("session_step_ups")

    migrator.remove_model("mfa_tickets")

    migrator.remove_model("recovery_codes")

    migrator.remove_model("totp_factors")

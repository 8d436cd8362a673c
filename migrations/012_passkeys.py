"""Passkeys held as a second factor, and the single-use WebAuthn challenges issued for them.

Generated from app/models/passkeys.py with `db generate passkeys`, then reviewed: the CHECK
constraints, the indexes and the row-level-security statements were added by hand.

- ``passkeys`` is an owner table with the NULL-safe owner policy of
  migrations/003_applications.py: the passkey service reads and writes it as the account, during
  a sign-in's second step too (the MFA ticket names the account). ``credential_id`` is unique
  across accounts: one authenticator credential belongs to one account.
- ``passkey_challenges`` is an auth table (docs/design.md §5): a challenge is consumed by the
  digest the client returns, bound to an account, a purpose and a session or an MFA ticket.
  A challenge lives five minutes at most, and the table refuses a longer one.
- The jobs role gets no grant: no Lambda touches either table.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"

REVIEWED_SQL = [
    "ALTER TABLE passkeys ADD CONSTRAINT passkeys_sign_count CHECK (sign_count >= 0)",
    "ALTER TABLE passkeys ADD CONSTRAINT passkeys_name CHECK (char_length(name) BETWEEN 1 AND 64)",
    "CREATE INDEX passkeys_owner ON passkeys (owner_id, created_at)",
    "ALTER TABLE passkeys ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE passkeys FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY passkeys_owner ON passkeys USING (owner_id = {CURRENT_USER}) "
    f"WITH CHECK (owner_id = {CURRENT_USER})",
    "ALTER TABLE passkey_challenges ADD CONSTRAINT passkey_challenges_purpose "
    "CHECK (purpose IN ('registration', 'assertion'))",
    "ALTER TABLE passkey_challenges ADD CONSTRAINT passkey_challenges_lifetime "
    "CHECK (expires_at > created_at AND expires_at <= created_at + interval '5 minutes')",
    "CREATE INDEX passkey_challenges_user ON passkey_challenges (user_id)",
    "CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires_at)",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Passkey(pw.Model):
        id = pw.UUIDField(primary_key=True)
        owner = pw.ForeignKeyField(
            column_name="owner_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        credential_id = pw.BlobField(unique=True)
        public_key = pw.BlobField()
        sign_count = pw.BigIntegerField(default=0)
        transports = pw_pext.BinaryJSONField(index=False)
        name = pw.CharField(max_length=64)
        created_at = pw_pext.DateTimeTZField()
        last_used_at = pw_pext.DateTimeTZField(null=True)

        class Meta:
            table_name = "passkeys"

    @migrator.create_model
    class PasskeyChallenge(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(
            column_name="user_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        purpose = pw.CharField(max_length=16)
        binding = pw.CharField(max_length=80)
        challenge_hash = pw.CharField(max_length=64, unique=True)
        created_at = pw_pext.DateTimeTZField()
        expires_at = pw_pext.DateTimeTZField()
        used_at = pw_pext.DateTimeTZField(null=True)

        class Meta:
            table_name = "passkey_challenges"

    for statement in REVIEWED_SQL:
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP POLICY IF EXISTS passkeys_owner ON passkeys")
    migrator.remove_model("passkey_challenges")
    migrator.remove_model("passkeys")

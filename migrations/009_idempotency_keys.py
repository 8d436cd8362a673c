"""Idempotency keys: the first answer of each create sent with an ``Idempotency-Key``.

Generated from app/models/idempotency.py with `db generate idempotency_keys`, then reviewed: the
unique index, the row-level-security policies and the comments below were added by hand.

- One key per user: ``(owner_id, key)`` is unique; concurrent requests with one key serialise on
  it (the second's INSERT ... ON CONFLICT DO NOTHING waits for the first's transaction).
- Row-level security as on applications: a user's keys are visible to that user only. The API's
  housekeeping runs with no user set, so it may see and delete expired keys, and nothing else.
- The jobs role gets no grant: nothing outside the API reads these answers.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"

REVIEWED_SQL = [
    "CREATE UNIQUE INDEX idempotency_keys_owner_key ON idempotency_keys (owner_id, key)",
    "CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)",
    "ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY idempotency_keys_owner ON idempotency_keys "
    f"USING (owner_id = {CURRENT_USER}) WITH CHECK (owner_id = {CURRENT_USER})",
    "CREATE POLICY idempotency_keys_expired_read ON idempotency_keys FOR SELECT "
    "USING (expires_at <= now())",
    "CREATE POLICY idempotency_keys_expired_purge ON idempotency_keys FOR DELETE "
    "USING (expires_at <= now())",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class IdempotencyKey(pw.Model):
        id = pw.UUIDField(primary_key=True)
        owner = pw.ForeignKeyField(
            column_name="owner_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        key = pw.CharField(max_length=255)
        fingerprint = pw.CharField(max_length=64)
        response = pw.BlobField(null=True)
        created_at = pw_pext.DateTimeTZField()
        expires_at = pw_pext.DateTimeTZField()

        class Meta:
            table_name = "idempotency_keys"

    for statement in REVIEWED_SQL:
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP POLICY IF EXISTS idempotency_keys_expired_purge ON idempotency_keys")
    migrator.sql("DROP POLICY IF EXISTS idempotency_keys_expired_read ON idempotency_keys")
    migrator.sql("DROP POLICY IF EXISTS idempotency_keys_owner ON idempotency_keys")
    migrator.remove_model("idempotency_keys")

"""The email outbox: account emails queued by requests and sent by the API's drainer.

Generated from app/models/outbox.py with `db generate email_outbox`, then reviewed: the CHECK
constraints and the partial index below were added by hand.

- Least privilege: the app role gets DML through the default privileges (migrations/001), and
  the jobs role gets no grant at all on this table. Queued payloads carry sealed reset and
  verification tokens; nothing but the API needs to read them.
- A row that is sent or given up keeps no payload (``email_outbox_no_payload_when_done``).
- The partial index covers exactly the drainer's claim query (rows still to send, by time).
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

REVIEWED_SQL = [
    "ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_no_payload_when_done "
    "CHECK ((sent_at IS NULL AND failed_at IS NULL) OR payload IS NULL)",
    "ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_attempts_non_negative "
    "CHECK (attempts >= 0)",
    "CREATE INDEX email_outbox_due ON email_outbox (available_at) "
    "WHERE sent_at IS NULL AND failed_at IS NULL",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class OutboxEmail(pw.Model):
        id = pw.UUIDField(primary_key=True)
        payload = pw.BlobField(null=True)
        created_at = pw_pext.DateTimeTZField()
        available_at = pw_pext.DateTimeTZField()
        locked_until = pw_pext.DateTimeTZField(null=True)
        attempts = pw.IntegerField(default=0)
        sent_at = pw_pext.DateTimeTZField(null=True)
        failed_at = pw_pext.DateTimeTZField(null=True)
        last_error = pw.CharField(max_length=200, null=True)

        class Meta:
            table_name = "email_outbox"

    for statement in REVIEWED_SQL:
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("email_outbox")

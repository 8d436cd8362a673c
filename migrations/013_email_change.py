"""Email change: a pending change is an email token that also names the new address.

Written by hand after app/models/accounts.py (`EmailToken.new_email`) and reviewed:

- ``email_tokens.new_email`` holds the address a pending change moves the account to. It is
  nullable: verification and reset tokens have none. The table stays an auth table (not scoped per
  user, reached only through the auth services, docs/design.md §5), and the column is the same kind
  of data as ``users.email``.
- ``purpose`` admits ``email_change``, and only an email-change token carries a new address.
- Least privilege: the jobs role kept table-wide SELECT on ``email_tokens`` from migration 002,
  which would now let the maintenance Lambda read pending addresses. Its purge needs only the
  columns its WHERE reads, so SELECT narrows to those.

Widening a CHECK and adding a nullable column are expand-only: the previous release never writes
the new purpose and never reads the new column.
"""

import peewee as pw
from peewee_migrate import Migrator

from app.core import migrations

REVIEWED_SQL = [
    "ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose",
    "ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose "
    "CHECK (purpose IN ('verify_email', 'password_reset', 'email_change'))",
    "ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_new_email_only_for_a_change "
    "CHECK ((purpose = 'email_change') = (new_email IS NOT NULL))",
    "ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_new_email_normalised "
    "CHECK (new_email = lower(btrim(new_email)))",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("email_tokens", new_email=pw.CharField(max_length=320, null=True))
    for statement in REVIEWED_SQL:
        migrator.sql(statement)
    jobs = migrations.ROLES.jobs.replace('"', '""')
    migrator.sql(f'REVOKE SELECT ON TABLE email_tokens FROM "{jobs}"')
    migrator.sql(f'GRANT SELECT (id, expires_at, used_at) ON TABLE email_tokens TO "{jobs}"')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    jobs = migrations.ROLES.jobs.replace('"', '""')
    migrator.sql(f'REVOKE SELECT (id, expires_at, used_at) ON TABLE email_tokens FROM "{jobs}"')
    migrator.sql(f'GRANT SELECT ON TABLE email_tokens TO "{jobs}"')
    for constraint in (
        "email_tokens_new_email_normalised",
        "email_tokens_new_email_only_for_a_change",
        "email_tokens_purpose",
    ):
        migrator.sql(f"ALTER TABLE email_tokens DROP CONSTRAINT {constraint}")
    migrator.sql(
        "ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose "
        "CHECK (purpose IN ('verify_email', 'password_reset'))"
    )
    migrator.remove_fields("email_tokens", "new_email")

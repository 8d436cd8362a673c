"""Password-expiry reminders: when the last one was sent, so the maintenance job is idempotent.

Generated from app/models/accounts.py with `db generate password_reminders`, then reviewed: the
jobs role may update this one column and nothing else of ``users`` (a column-level grant).
Adding a nullable column is backward compatible with the previous release (expand only).
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

from app.core import migrations

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("users", password_reminder_sent_at=pw_pext.DateTimeTZField(null=True))
    jobs = migrations.ROLES.jobs.replace('"', '""')
    migrator.sql(
        f"GRANT SELECT (password_reminder_sent_at), UPDATE (password_reminder_sent_at) "
        f'ON TABLE users TO "{jobs}"'
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("users", "password_reminder_sent_at")

"""Attachments: uploaded files, under row-level security like applications.

Generated from app/models/attachments.py with `db generate attachments`, then reviewed: the
CHECK constraints, indexes, RLS policies and the jobs role's grants were added by hand.

- The owner policy is the same NULL-safe one as applications (migrations/003_applications.py).
- The jobs role (scan-result and maintenance Lambdas) acts across users, so it gets a policy of
  its own on this table only, with SELECT and UPDATE: it records scan results and expires
  abandoned uploads. It cannot insert or delete attachments, and sees no applications.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

from app.core import migrations

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"
STATUSES = "('pending_upload', 'scanning', 'clean', 'infected', 'scan_failed', 'expired')"
CONTENT_TYPES = (
    "('application/pdf', "
    "'application/vnd.openxmlformats-officedocument.wordprocessingml.document', "
    "'text/plain', 'image/png', 'image/jpeg')"
)


def reviewed_sql() -> list[str]:
    jobs = migrations.ROLES.jobs.replace('"', '""')
    return [
        f"ALTER TABLE attachments ADD CONSTRAINT attachments_status CHECK (status IN {STATUSES})",
        f"ALTER TABLE attachments ADD CONSTRAINT attachments_content_type "
        f"CHECK (content_type IN {CONTENT_TYPES})",
        "ALTER TABLE attachments ADD CONSTRAINT attachments_size CHECK (size > 0)",
        "CREATE INDEX attachments_owner_application ON attachments "
        "(owner_id, application_id, created_at)",
        "CREATE INDEX attachments_application ON attachments (application_id)",
        "CREATE INDEX attachments_pending ON attachments (upload_expires_at) "
        "WHERE status = 'pending_upload'",
        "ALTER TABLE attachments ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE attachments FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY attachments_owner ON attachments USING (owner_id = {CURRENT_USER}) "
        f"WITH CHECK (owner_id = {CURRENT_USER})",
        f'CREATE POLICY attachments_jobs ON attachments TO "{jobs}" USING (true) WITH CHECK (true)',
        migrations.grant_jobs("attachments", "SELECT, UPDATE"),
    ]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Attachment(pw.Model):
        id = pw.UUIDField(primary_key=True)
        owner = pw.ForeignKeyField(
            column_name="owner_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        application = pw.ForeignKeyField(
            column_name="application_id",
            field="id",
            model=migrator.orm["applications"],
            on_delete="CASCADE",
            index=False,
        )
        filename = pw.CharField(max_length=255)
        content_type = pw.CharField(max_length=100)
        size = pw.BigIntegerField()
        status = pw.CharField(default="pending_upload", max_length=20)
        storage_key = pw.CharField(max_length=300, unique=True)
        version_id = pw.CharField(max_length=1024, null=True)
        etag = pw.CharField(max_length=200, null=True)
        upload_expires_at = pw_pext.DateTimeTZField()
        scanned_at = pw_pext.DateTimeTZField(null=True)
        threats = pw_pext.BinaryJSONField(index=False)
        scan_detail = pw.TextField(null=True)
        early_results = pw_pext.BinaryJSONField(index=False)
        created_at = pw_pext.DateTimeTZField()
        updated_at = pw_pext.DateTimeTZField()

        class Meta:
            table_name = "attachments"

    for statement in reviewed_sql():
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP POLICY IF EXISTS attachments_jobs ON attachments")
    migrator.sql("DROP POLICY IF EXISTS attachments_owner ON attachments")
    migrator.remove_model("attachments")

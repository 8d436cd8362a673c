"""Applications and their status timeline, under row-level security.

Generated from app/models/applications.py with `db generate applications`, then reviewed: the
CHECK constraints, the search column, the indexes and the RLS policies below were added by hand.

Row-level security: every row belongs to ``owner_id``. Each request's transaction sets
``app.user_id`` with ``set_config(..., true)`` (transaction-local), and the policies read it
NULL-safely: a pooled connection after its transaction holds '' (NULLIF makes that NULL, and
``owner_id = NULL`` matches nothing). FORCE makes the policies bind the table owner too, so
only a role with BYPASSRLS could skip them, and none has it. Auth tables (users, sessions,
email tokens, rate limits) are not under RLS: see migrations/002_accounts.py.

Indexes follow the list's filter and sort paths: (owner, sort key, id) for keyset pagination,
a GIN index on the search vector for ``q``.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

CURRENT_USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"
STATUSES = (
    "('wishlist', 'applied', 'screening', 'interviewing', 'offer', 'accepted', "
    "'rejected', 'withdrawn')"
)

REVIEWED_SQL = [
    f"ALTER TABLE applications ADD CONSTRAINT applications_status CHECK (status IN {STATUSES})",
    "ALTER TABLE applications ADD CONSTRAINT applications_salary_range "
    "CHECK (salary_min IS NULL OR salary_max IS NULL OR salary_min <= salary_max)",
    "ALTER TABLE applications ADD CONSTRAINT applications_salary_non_negative "
    "CHECK (coalesce(salary_min, 0) >= 0 AND coalesce(salary_max, 0) >= 0)",
    "ALTER TABLE applications ADD CONSTRAINT applications_currency "
    "CHECK (salary_currency IS NULL OR salary_currency ~ '^[A-Z]{3}$')",
    "ALTER TABLE applications ADD CONSTRAINT applications_job_url "
    "CHECK (job_url IS NULL OR job_url ~* '^https?://')",
    "ALTER TABLE applications ADD CONSTRAINT applications_notes_length "
    "CHECK (char_length(notes) <= 10000)",
    "ALTER TABLE applications ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "to_tsvector('simple', coalesce(company, '') || ' ' || coalesce(role_title, '') || ' ' "
    "|| coalesce(notes, ''))) STORED",
    "CREATE INDEX applications_search ON applications USING gin (search)",
    "CREATE INDEX applications_owner_updated ON applications (owner_id, updated_at, id)",
    "CREATE INDEX applications_owner_applied ON applications "
    "(owner_id, (coalesce(applied_on, DATE '0001-01-01')), id)",
    "CREATE INDEX applications_owner_company ON applications (owner_id, lower(company), id)",
    "CREATE INDEX applications_owner_status ON applications (owner_id, status)",
    "ALTER TABLE application_events ADD CONSTRAINT application_events_to_status "
    f"CHECK (to_status IN {STATUSES})",
    "CREATE INDEX application_events_application ON application_events "
    "(application_id, created_at)",
    "CREATE INDEX application_events_owner ON application_events (owner_id)",
    "ALTER TABLE applications ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE applications FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY applications_owner ON applications USING (owner_id = {CURRENT_USER}) "
    f"WITH CHECK (owner_id = {CURRENT_USER})",
    "ALTER TABLE application_events ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE application_events FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY application_events_owner ON application_events "
    f"USING (owner_id = {CURRENT_USER}) WITH CHECK (owner_id = {CURRENT_USER})",
]

ROLLBACK_SQL = [
    "DROP POLICY IF EXISTS application_events_owner ON application_events",
    "DROP POLICY IF EXISTS applications_owner ON applications",
]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Application(pw.Model):
        id = pw.UUIDField(primary_key=True)
        owner = pw.ForeignKeyField(
            column_name="owner_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        company = pw.CharField(max_length=200)
        role_title = pw.CharField(max_length=200)
        status = pw.CharField(default="applied", max_length=20)
        applied_on = pw.DateField(null=True)
        job_url = pw.TextField(null=True)
        location = pw.CharField(max_length=200, null=True)
        source = pw.CharField(max_length=100, null=True)
        salary_min = pw.BigIntegerField(null=True)
        salary_max = pw.BigIntegerField(null=True)
        salary_currency = pw.CharField(max_length=3, null=True)
        notes = pw.TextField(null=True)
        next_action_at = pw_pext.DateTimeTZField(null=True)
        archived = pw.BooleanField(default=False)
        created_at = pw_pext.DateTimeTZField()
        updated_at = pw_pext.DateTimeTZField()
        version = pw.IntegerField(default=1)

        class Meta:
            table_name = "applications"

    @migrator.create_model
    class ApplicationEvent(pw.Model):
        id = pw.UUIDField(primary_key=True)
        application = pw.ForeignKeyField(
            column_name="application_id",
            field="id",
            model=migrator.orm["applications"],
            on_delete="CASCADE",
            index=False,
        )
        owner = pw.ForeignKeyField(
            column_name="owner_id",
            field="id",
            model=migrator.orm["users"],
            on_delete="CASCADE",
            index=False,
        )
        from_status = pw.CharField(max_length=20, null=True)
        to_status = pw.CharField(max_length=20)
        note = pw.TextField(null=True)
        created_at = pw_pext.DateTimeTZField()

        class Meta:
            table_name = "application_events"

    for statement in REVIEWED_SQL:
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for statement in ROLLBACK_SQL:
        migrator.sql(statement)
    migrator.remove_model("application_events")

    migrator.remove_model("applications")

"""Baseline: the privileges every later migration relies on.

Tables the migrator creates from here on are readable and writable (DML only) by the API's role
through default privileges; the migration history belongs to the migrator alone.
"""

from peewee_migrate import Migrator

from app.core import migrations


def migrate(migrator: Migrator, database, *, fake=False):
    for statement in migrations.default_privileges_sql():
        migrator.sql(statement)


def rollback(migrator: Migrator, database, *, fake=False):
    app = migrations.ROLES.app
    migrator.sql(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM "{app}"')
    migrator.sql(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM "{app}"')

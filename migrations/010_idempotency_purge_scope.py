"""Idempotency keys: the housekeeping policies admit a transaction only when no user is set.

Migration 009 let the API's housekeeping (which runs with no ``app.user_id``) find and delete
expired keys through two permissive policies. Permissive policies are OR-ed with the owner
policy, so as written they also let any signed-in user's transaction read and delete every other
user's expired keys, whose rows hold the first answer of a create. Each now also requires that no
user is set, which is exactly the housekeeping's context.
"""

import peewee as pw
from peewee_migrate import Migrator

NO_USER = "NULLIF(current_setting('app.user_id', true), '') IS NULL"

POLICIES = ("idempotency_keys_expired_read", "idempotency_keys_expired_purge")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    for policy in POLICIES:
        migrator.sql(
            f"ALTER POLICY {policy} ON idempotency_keys USING (expires_at <= now() AND {NO_USER})"
        )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for policy in POLICIES:
        migrator.sql(f"ALTER POLICY {policy} ON idempotency_keys USING (expires_at <= now())")

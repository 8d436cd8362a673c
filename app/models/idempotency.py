"""Idempotency keys: the sealed first answer of a create, per user and key (24 hours)."""

from __future__ import annotations

import uuid

import peewee
from playhouse.postgres_ext import DateTimeTZField

from app.models.accounts import User
from app.models.base import BaseModel, utcnow


class IdempotencyKey(BaseModel):
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    owner_id: uuid.UUID  # the column behind owner, set by peewee
    key = peewee.CharField(max_length=255)
    # SHA-256 of the method, path and canonical JSON body the key was first used with.
    fingerprint = peewee.CharField(max_length=64)
    response = peewee.BlobField(null=True)
    created_at = DateTimeTZField(default=utcnow)
    expires_at = DateTimeTZField()

    class Meta:
        table_name = "idempotency_keys"


__all__ = ["IdempotencyKey"]

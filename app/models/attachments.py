"""Uploaded files attached to applications: hostile until a malware scan says otherwise."""

from __future__ import annotations

import uuid

import peewee
from playhouse.postgres_ext import BinaryJSONField, DateTimeTZField

from app.models.accounts import User
from app.models.applications import Application
from app.models.base import BaseModel, utcnow

ATTACHMENT_STATUSES = ("pending_upload", "scanning", "clean", "infected", "scan_failed", "expired")


class Attachment(BaseModel):
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    owner_id: uuid.UUID  # the column behind owner, set by peewee
    application = peewee.ForeignKeyField(
        Application, backref="attachments", on_delete="CASCADE", index=False
    )
    application_id: uuid.UUID  # the column behind application, set by peewee
    # The original name, sanitised, for display only; the storage key is random.
    filename = peewee.CharField(max_length=255)
    content_type = peewee.CharField(max_length=100)
    size = peewee.BigIntegerField()
    status = peewee.CharField(max_length=20, default="pending_upload")
    storage_key = peewee.CharField(max_length=300, unique=True)
    version_id = peewee.CharField(max_length=1024, null=True)
    etag = peewee.CharField(max_length=200, null=True)
    upload_expires_at = DateTimeTZField()
    scanned_at = DateTimeTZField(null=True)
    threats = BinaryJSONField(default=list, index=False)
    scan_detail = peewee.TextField(null=True)
    # Results that arrived before `complete` recorded the version, keyed by version id.
    early_results = BinaryJSONField(default=dict, index=False)
    created_at = DateTimeTZField(default=utcnow)
    updated_at = DateTimeTZField(default=utcnow)

    class Meta:
        table_name = "attachments"


__all__ = ["ATTACHMENT_STATUSES", "Attachment"]

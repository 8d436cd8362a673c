"""Job applications and their status timeline: user-owned, under row-level security."""

from __future__ import annotations

import uuid

import peewee
from playhouse.postgres_ext import DateTimeTZField

from app.models.accounts import User
from app.models.base import BaseModel, utcnow

STATUSES = (
    "wishlist",
    "applied",
    "screening",
    "interviewing",
    "offer",
    "accepted",
    "rejected",
    "withdrawn",
)


class Application(BaseModel):
    owner = peewee.ForeignKeyField(User, backref="applications", on_delete="CASCADE", index=False)
    owner_id: uuid.UUID  # the column behind owner, set by peewee
    company = peewee.CharField(max_length=200)
    role_title = peewee.CharField(max_length=200)
    status = peewee.CharField(max_length=20, default="applied")
    applied_on = peewee.DateField(null=True)
    job_url = peewee.TextField(null=True)
    location = peewee.CharField(max_length=200, null=True)
    source = peewee.CharField(max_length=100, null=True)
    salary_min = peewee.BigIntegerField(null=True)
    salary_max = peewee.BigIntegerField(null=True)
    salary_currency = peewee.CharField(max_length=3, null=True)
    notes = peewee.TextField(null=True)
    next_action_at = DateTimeTZField(null=True)
    archived = peewee.BooleanField(default=False)
    created_at = DateTimeTZField(default=utcnow)
    updated_at = DateTimeTZField(default=utcnow)
    version = peewee.IntegerField(default=1)

    class Meta:
        table_name = "applications"


class ApplicationEvent(BaseModel):
    application = peewee.ForeignKeyField(
        Application, backref="events", on_delete="CASCADE", index=False
    )
    application_id: uuid.UUID  # the column behind application, set by peewee
    # Denormalised owner: the row-level-security policy checks it without a join.
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    owner_id: uuid.UUID  # the column behind owner, set by peewee
    from_status = peewee.CharField(max_length=20, null=True)
    to_status = peewee.CharField(max_length=20)
    note = peewee.TextField(null=True)
    created_at = DateTimeTZField(default=utcnow)

    class Meta:
        table_name = "application_events"


__all__ = ["STATUSES", "Application", "ApplicationEvent"]

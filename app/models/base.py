"""Base model: UUID keys, timezone-aware timestamps, bound to the process's database proxy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import peewee
from playhouse.postgres_ext import DateTimeTZField

from app.core.database import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class BaseModel(peewee.Model):
    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)

    class Meta:
        database = db


class TimestampedModel(BaseModel):
    created_at = DateTimeTZField(default=utcnow)
    updated_at = DateTimeTZField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> Any:
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


__all__ = ["BaseModel", "DateTimeTZField", "TimestampedModel", "utcnow"]

"""Auth tables: users, refresh-token families, email tokens, security events, rate limits.

These are read before anyone is identified (login, refresh, reset), so they are not scoped per
user by row-level security; only the auth services touch them (docs/design.md §5, and the note in
migrations/002_accounts.py beside the grants).
"""

from __future__ import annotations

import uuid

import peewee
from playhouse.postgres_ext import BinaryJSONField

from app.models.base import BaseModel, DateTimeTZField, TimestampedModel, utcnow


class User(TimestampedModel):
    # Normalised (NFKC, trimmed, lower-cased) before storage, so uniqueness ignores case.
    email = peewee.CharField(max_length=320, unique=True)
    password_hash = peewee.TextField()
    password_changed_at = DateTimeTZField(default=utcnow)
    force_password_change = peewee.BooleanField(default=False)
    email_verified_at = DateTimeTZField(null=True)
    is_active = peewee.BooleanField(default=True)
    # Set by the maintenance job; one password-expiry reminder per password.
    password_reminder_sent_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "users"


class RefreshToken(BaseModel):
    """One issued refresh token. Tokens of one login share a family; each refresh marks the
    presented token used and issues its child. Only the SHA-256 of a token is stored."""

    user = peewee.ForeignKeyField(User, backref="refresh_tokens", on_delete="CASCADE")
    user_id: uuid.UUID  # the column behind user, set by peewee
    family_id = peewee.UUIDField(index=True)
    parent = peewee.ForeignKeyField("self", null=True, on_delete="CASCADE", backref="children")
    parent_id: uuid.UUID | None  # the column behind parent, set by peewee
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = DateTimeTZField(default=utcnow)
    expires_at = DateTimeTZField()
    used_at = DateTimeTZField(null=True)
    revoked_at = DateTimeTZField(null=True)
    user_agent = peewee.CharField(max_length=512, null=True)
    ip = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "sessions"


class EmailToken(BaseModel):
    user = peewee.ForeignKeyField(User, backref="email_tokens", on_delete="CASCADE")
    user_id: uuid.UUID  # the column behind user, set by peewee
    purpose = peewee.CharField(max_length=32)
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = DateTimeTZField(default=utcnow)
    expires_at = DateTimeTZField()
    used_at = DateTimeTZField(null=True)
    # An email change only: the address the account moves to once the link is used (normalised).
    new_email = peewee.CharField(max_length=320, null=True)

    class Meta:
        table_name = "email_tokens"


class SecurityEvent(BaseModel):
    user = peewee.ForeignKeyField(User, null=True, backref="security_events", on_delete="CASCADE")
    user_id: uuid.UUID | None  # the column behind user, set by peewee
    event_type = peewee.CharField(max_length=64)
    created_at = DateTimeTZField(default=utcnow, index=True)
    ip = peewee.CharField(max_length=64, null=True)
    user_agent = peewee.CharField(max_length=512, null=True)
    details = BinaryJSONField(default=dict, index=False)

    class Meta:
        table_name = "security_events"
        indexes = ((("user", "created_at"), False),)


class RateLimitCounter(peewee.Model):
    """Fixed-window counters, shared by every instance through PostgreSQL."""

    key = peewee.CharField(max_length=200, primary_key=True)
    window_start = DateTimeTZField()
    count = peewee.IntegerField(default=0)
    last_hit_at = DateTimeTZField(default=utcnow)

    class Meta:
        database = BaseModel._meta.database
        table_name = "rate_limits"


__all__ = ["EmailToken", "RateLimitCounter", "RefreshToken", "SecurityEvent", "User"]

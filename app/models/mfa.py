"""Second-factor tables: TOTP factors, recovery codes, MFA login tickets, step-up state.

Auth tables like those of app/models/accounts.py: the login ticket and the factors are read
before anyone is identified (the second step of a sign-in), so they are not scoped per user by
row-level security; only app/services/mfa.py and app/services/auth.py touch them
(docs/design.md §5).
"""

from __future__ import annotations

import uuid

import peewee

from app.models.accounts import User
from app.models.base import BaseModel, DateTimeTZField, utcnow


class TotpFactor(BaseModel):
    """One authenticator app per account. Pending until a current code confirms it; only a
    confirmed factor counts for sign-in and step-up."""

    user = peewee.ForeignKeyField(User, unique=True, on_delete="CASCADE", backref="totp_factor")
    user_id: uuid.UUID  # the column behind user, set by peewee
    # AES-256-GCM (nonce + ciphertext) of the base32 secret, bound to this row's id
    # (app/core/factor_sealing.py); key_id names the key that sealed it.
    secret_sealed = peewee.BlobField()
    key_id = peewee.CharField(max_length=16)
    created_at = DateTimeTZField(default=utcnow)
    confirmed_at = DateTimeTZField(null=True)
    # The 30-second step of the last accepted code: a step is accepted once, and never one at
    # or before it (RFC 6238 §5.2).
    last_used_step = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "totp_factors"


class RecoveryCode(BaseModel):
    """Single-use codes, ten per set, stored as argon2id hashes (PasswordHashing)."""

    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="recovery_codes")
    user_id: uuid.UUID  # the column behind user, set by peewee
    code_hash = peewee.TextField()
    created_at = DateTimeTZField(default=utcnow)
    used_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "recovery_codes"


class MfaTicket(BaseModel):
    """What the password step of a sign-in hands out instead of a session: single-use, short,
    bound to the account, to the verified password hash and to the client that sent the
    password (``binding_hash``, see app/services/mfa.py)."""

    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="mfa_tickets")
    user_id: uuid.UUID  # the column behind user, set by peewee
    ticket_hash = peewee.CharField(max_length=64, unique=True)
    binding_hash = peewee.CharField(max_length=64)
    # SHA-256 of the password hash verified at the password step: a change or reset in between
    # ends the ticket.
    password_hash_digest = peewee.CharField(max_length=64)
    # The known device of the password step (its device cookie), so the second step spends the
    # same budget and keeps the same device id.
    device = peewee.CharField(max_length=64, null=True)
    created_at = DateTimeTZField(default=utcnow)
    expires_at = DateTimeTZField(index=True)
    used_at = DateTimeTZField(null=True)
    failed_attempts = peewee.IntegerField(default=0)

    class Meta:
        table_name = "mfa_tickets"


class SessionStepUp(peewee.Model):
    """When a session family last proved a second factor (or, for an account without one, its
    password) again: one row per family, read by primary key."""

    family_id = peewee.UUIDField(primary_key=True)
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", backref="step_ups")
    user_id: uuid.UUID  # the column behind user, set by peewee
    stepped_up_at = DateTimeTZField(index=True)

    class Meta:
        database = BaseModel._meta.database
        table_name = "session_step_ups"


__all__ = ["MfaTicket", "RecoveryCode", "SessionStepUp", "TotpFactor"]

"""Passkeys (WebAuthn credentials) held as a second factor, and the challenges issued for them.

``passkeys`` is an owner table under row-level security, like applications: every read and
write runs as the account (``user_transaction``), during a sign-in too, where the MFA ticket
names the account before a session exists. ``passkey_challenges`` is an auth table: it is
written and consumed only by the passkey service, by the digest of a challenge the client
returns (docs/design.md §5, and the note in migrations/012_passkeys.py).
"""

from __future__ import annotations

import uuid

import peewee
from playhouse.postgres_ext import BinaryJSONField, DateTimeTZField

from app.models.accounts import User
from app.models.base import BaseModel, utcnow

CHALLENGE_PURPOSES = ("registration", "assertion")


class Passkey(BaseModel):
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    owner_id: uuid.UUID  # the column behind owner, set by peewee
    # The authenticator's credential id (rawId), unique across every account.
    credential_id = peewee.BlobField(unique=True)
    # The COSE-encoded public key from the attestation; public by nature, never returned.
    public_key = peewee.BlobField()
    sign_count = peewee.BigIntegerField(default=0)
    transports = BinaryJSONField(default=list, index=False)
    name = peewee.CharField(max_length=64)
    created_at = DateTimeTZField(default=utcnow)
    last_used_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "passkeys"


class PasskeyChallenge(BaseModel):
    user = peewee.ForeignKeyField(User, on_delete="CASCADE", index=False)
    user_id: uuid.UUID  # the column behind user, set by peewee
    purpose = peewee.CharField(max_length=16)
    # What the challenge is bound to: "session:<family id>" for a signed-in session,
    # "ticket:<ticket id>" for the second step of a sign-in.
    binding = peewee.CharField(max_length=80)
    # SHA-256 of the challenge: the client returns the challenge inside clientDataJSON.
    challenge_hash = peewee.CharField(max_length=64, unique=True)
    created_at = DateTimeTZField(default=utcnow)
    expires_at = DateTimeTZField()
    used_at = DateTimeTZField(null=True)

    class Meta:
        table_name = "passkey_challenges"


__all__ = ["CHALLENGE_PURPOSES", "Passkey", "PasskeyChallenge"]

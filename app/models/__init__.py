"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User
from app.models.applications import STATUSES, Application, ApplicationEvent
from app.models.attachments import ATTACHMENT_STATUSES, Attachment
from app.models.idempotency import IdempotencyKey
from app.models.outbox import OutboxEmail
from app.models.passkeys import CHALLENGE_PURPOSES, Passkey, PasskeyChallenge

__all__ = [
    "ATTACHMENT_STATUSES",
    "CHALLENGE_PURPOSES",
    "STATUSES",
    "Attachment",
    "Application",
    "ApplicationEvent",
    "EmailToken",
    "IdempotencyKey",
    "OutboxEmail",
    "Passkey",
    "PasskeyChallenge",
    "RateLimitCounter",
    "RefreshToken",
    "SecurityEvent",
    "User",
]

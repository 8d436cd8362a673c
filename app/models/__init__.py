"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User
from app.models.applications import STATUSES, Application, ApplicationEvent
from app.models.attachments import ATTACHMENT_STATUSES, Attachment
from app.models.idempotency import IdempotencyKey
from app.models.mfa import MfaTicket, RecoveryCode, SessionStepUp, TotpFactor
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
    "MfaTicket",
    "OutboxEmail",
    "Passkey",
    "PasskeyChallenge",
    "RecoveryCode",
    "RateLimitCounter",
    "RefreshToken",
    "SecurityEvent",
    "SessionStepUp",
    "TotpFactor",
    "User",
]

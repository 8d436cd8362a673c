"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User
from app.models.applications import STATUSES, Application, ApplicationEvent
from app.models.attachments import ATTACHMENT_STATUSES, Attachment
from app.models.idempotency import IdempotencyKey
from app.models.outbox import OutboxEmail

__all__ = [
    "ATTACHMENT_STATUSES",
    "STATUSES",
    "Attachment",
    "Application",
    "ApplicationEvent",
    "EmailToken",
    "IdempotencyKey",
    "OutboxEmail",
    "RateLimitCounter",
    "RefreshToken",
    "SecurityEvent",
    "User",
]

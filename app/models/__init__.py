"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User
from app.models.applications import STATUSES, Application, ApplicationEvent
from app.models.attachments import ATTACHMENT_STATUSES, Attachment

__all__ = [
    "ATTACHMENT_STATUSES",
    "STATUSES",
    "Attachment",
    "Application",
    "ApplicationEvent",
    "EmailToken",
    "RateLimitCounter",
    "RefreshToken",
    "SecurityEvent",
    "User",
]

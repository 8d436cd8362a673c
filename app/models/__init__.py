"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User
from app.models.applications import STATUSES, Application, ApplicationEvent

__all__ = [
    "STATUSES",
    "Application",
    "ApplicationEvent",
    "EmailToken",
    "RateLimitCounter",
    "RefreshToken",
    "SecurityEvent",
    "User",
]

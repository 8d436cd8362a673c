"""Peewee models, one module per domain. Migrations are generated from these."""

from app.models.accounts import EmailToken, RateLimitCounter, RefreshToken, SecurityEvent, User

__all__ = ["EmailToken", "RateLimitCounter", "RefreshToken", "SecurityEvent", "User"]

"""The maintenance Lambda, run daily by an EventBridge schedule. Idempotent; reports its counts.

- expires uploads left pending past their time-to-live and deletes what was uploaded;
- purges expired sessions, expired or used email tokens, and stale rate-limit counters;
- emails a password-expiry reminder PASSWORD_REMINDER_DAYS ahead, once per password, and none
  at all when PASSWORD_MAX_AGE_DAYS=0.

It connects as the jobs role, whose grants allow exactly these reads, updates and deletes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from app.core.clock import Clock, system_clock
from app.core.database import db, init_database
from app.core.logging import configure_logging
from app.core.settings import Settings
from app.integrations.email import EmailDeliveryError, EmailSender, build_email_sender
from app.integrations.email import templates as email_templates
from app.integrations.notifier import build_notifier
from app.integrations.storage import S3Storage
from app.models import EmailToken, RateLimitCounter, RefreshToken, User
from app.services.attachments import AttachmentService

log = structlog.get_logger("app.jobs.maintenance")

USED_TOKEN_RETENTION = timedelta(days=1)
COUNTER_RETENTION = timedelta(days=2)


def purge(now) -> dict[str, int]:
    with db.atomic():
        sessions = RefreshToken.delete().where(RefreshToken.expires_at <= now).execute()
        tokens = (
            EmailToken.delete()
            .where(
                (EmailToken.expires_at <= now) | (EmailToken.used_at <= now - USED_TOKEN_RETENTION)
            )
            .execute()
        )
        counters = (
            RateLimitCounter.delete()
            .where(RateLimitCounter.last_hit_at <= now - COUNTER_RETENTION)
            .execute()
        )
    return {"sessions_purged": sessions, "email_tokens_purged": tokens, "counters_purged": counters}


def send_reminders(settings: Settings, email: EmailSender, now) -> int:
    max_age = settings.password_max_age_days
    if max_age == 0:
        return 0
    ahead = settings.password_reminder_days
    # Expiring within the reminder window and not yet reminded for this password.
    window_start = now - timedelta(days=max_age)
    window_end = now - timedelta(days=max_age - ahead)
    due = list(
        User.select(User.id, User.email, User.password_changed_at)
        .where(
            User.is_active,
            User.password_changed_at > window_start,
            User.password_changed_at <= window_end,
            User.password_reminder_sent_at.is_null()
            | (User.password_reminder_sent_at < User.password_changed_at),
        )
        .order_by(User.password_changed_at)
    )
    sent = 0
    for user in due:
        expires_at = user.password_changed_at + timedelta(days=max_age)
        days_left = max(1, (expires_at - now).days)
        try:
            email.send(email_templates.password_expiry_reminder(user.email, days_left, settings))
        except EmailDeliveryError as exc:
            log.error("reminder_failed", error=str(exc))  # retried on the next run
            continue
        User.update(password_reminder_sent_at=now).where(User.id == user.id).execute()
        sent += 1
    return sent


def run(settings: Settings, attachments: AttachmentService, email: EmailSender, clock: Clock):
    now = clock()
    counts: dict[str, Any] = {"uploads_expired": attachments.expire_pending()}
    counts.update(purge(now))
    counts["password_reminders_sent"] = send_reminders(settings, email, now)
    log.info("maintenance_done", **counts)
    return counts


_state: tuple[Settings, AttachmentService, EmailSender] | None = None


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    global _state
    if _state is None:
        import boto3

        settings = Settings.from_env(component="maintenance")
        configure_logging(settings.log_level)
        init_database(settings.jobs_database_url, settings, application_name="jat-maintenance")
        storage = S3Storage(
            settings.uploads_bucket, boto3.client("s3", region_name=settings.aws_region)
        )
        service = AttachmentService(settings, storage, system_clock, build_notifier(settings))
        _state = (settings, service, build_email_sender(settings))
    settings, service, email = _state
    with db.connection_context():
        return run(settings, service, email, system_clock)


__all__ = ["handler", "purge", "run", "send_reminders"]

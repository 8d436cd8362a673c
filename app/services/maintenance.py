"""The daily housekeeping the maintenance Lambda runs: every decision of it, as the jobs role.

- expires uploads left pending past their time-to-live and deletes what was uploaded;
- purges expired sessions, expired or used email tokens, and stale rate-limit counters;
- emails a password-expiry reminder PASSWORD_REMINDER_DAYS ahead, once per password, and none
  at all when PASSWORD_MAX_AGE_DAYS=0.

Idempotent: a second run the same day finds nothing left to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from app.core.clock import Clock
from app.core.database import db
from app.core.settings import Settings
from app.integrations.email import EmailDeliveryError, EmailSender
from app.integrations.email import templates as email_templates
from app.models import EmailToken, RateLimitCounter, RefreshToken, User
from app.services.attachments import AttachmentService

log = structlog.get_logger("app.maintenance")

USED_TOKEN_RETENTION = timedelta(days=1)
COUNTER_RETENTION = timedelta(days=2)


class MaintenanceService:
    def __init__(
        self,
        settings: Settings,
        attachments: AttachmentService,
        email: EmailSender,
        clock: Clock,
    ):
        self.settings = settings
        self.attachments = attachments
        self.email = email
        self.clock = clock

    def run(self) -> dict[str, Any]:
        """One maintenance pass; returns what it did, by count."""
        now = self.clock()
        counts: dict[str, Any] = {"uploads_expired": self.attachments.expire_pending()}
        counts.update(self.purge(now))
        counts["password_reminders_sent"] = self.send_reminders(now)
        log.info("maintenance_done", **counts)
        return counts

    def purge(self, now: datetime) -> dict[str, int]:
        with db.atomic():
            sessions = RefreshToken.delete().where(RefreshToken.expires_at <= now).execute()
            tokens = (
                EmailToken.delete()
                .where(
                    (EmailToken.expires_at <= now)
                    | (EmailToken.used_at <= now - USED_TOKEN_RETENTION)
                )
                .execute()
            )
            counters = (
                RateLimitCounter.delete()
                .where(RateLimitCounter.last_hit_at <= now - COUNTER_RETENTION)
                .execute()
            )
        return {
            "sessions_purged": sessions,
            "email_tokens_purged": tokens,
            "counters_purged": counters,
        }

    def send_reminders(self, now: datetime) -> int:
        max_age = self.settings.password_max_age_days
        if max_age == 0:
            return 0
        ahead = self.settings.password_reminder_days
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
                self.email.send(
                    email_templates.password_expiry_reminder(user.email, days_left, self.settings)
                )
            except EmailDeliveryError as exc:
                log.error("reminder_failed", error=str(exc))  # retried on the next run
                continue
            User.update(password_reminder_sent_at=now).where(User.id == user.id).execute()
            sent += 1
        return sent

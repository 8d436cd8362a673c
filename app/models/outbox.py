"""Account emails waiting to be sent: the durable outbox the API's drainer works through.

A request only inserts a row, in the transaction of its other writes; the drainer sends it
later, off the request path. ``payload`` is sealed (app/core/sealing.py) because it holds the
link's token, and it is set to NULL once the row is sent or given up, so a token never stays
in the table longer than its delivery.
"""

from __future__ import annotations

import peewee

from app.models.base import BaseModel, DateTimeTZField, utcnow


class OutboxEmail(BaseModel):
    payload = peewee.BlobField(null=True)
    created_at = DateTimeTZField(default=utcnow)
    # When the next attempt may start (now, or after a backoff).
    available_at = DateTimeTZField(default=utcnow)
    # A drainer holds the row until then; past it, another drainer may claim it again.
    locked_until = DateTimeTZField(null=True)
    attempts = peewee.IntegerField(default=0)
    sent_at = DateTimeTZField(null=True)
    failed_at = DateTimeTZField(null=True)
    last_error = peewee.CharField(max_length=200, null=True)

    class Meta:
        table_name = "email_outbox"


__all__ = ["OutboxEmail"]

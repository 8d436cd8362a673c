"""Idempotency keys for the operations that create: a retry returns the first answer.

A request that met the database deadline after its COMMIT was sent may have written its row and
still answered 503. A client that sends ``Idempotency-Key`` with a create can retry safely: the
key is recorded in the same transaction as what the operation creates, so either both persisted
or neither did. A retry with the same key (same user, same method, path and JSON body) gets the
original status, body and headers again, with ``Idempotent-Replayed: true``, and creates nothing.
The same key with a different request is refused with ``422 IDEMPOTENCY_KEY_REUSED``. Two
requests racing with one key serialise on the key's unique index: the second waits for the
first's transaction and then replays its answer. A request that fails (4xx) rolls its key back
with everything else, so it can be retried with the same key.

Keys are scoped to the user (row-level security, like applications) and kept for
``IDEMPOTENCY_KEY_TTL``; the stored answer is sealed (app/core/sealing.py) because it can carry a
presigned upload. Expired keys are deleted by the API's housekeeping (app/services/outbox.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import peewee

from app.core.clock import Clock
from app.core.database import user_transaction
from app.core.errors import AppError, ValidationFailed
from app.core.sealing import PayloadSealer
from app.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,255}$")
# (method, path template) of every operation that honours the header; the OpenAPI document
# declares the header on exactly these (app/openapi.py).
IDEMPOTENT_OPERATIONS = frozenset(
    {
        ("post", "/v1/applications"),
        ("post", "/v1/applications/{application_id}/attachments"),
    }
)
_PURGE = "DELETE FROM idempotency_keys WHERE expires_at <= %(now)s"


class IdempotencyKeyReused(AppError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was already used for a different request. Use a new key.",
        )


@dataclass(frozen=True)
class CreateRequest:
    """What identifies a create for its idempotency key: the key, if sent, and the request it
    came with (the route reads these from the HTTP request)."""

    key: str | None
    method: str
    path: str
    body: object = None


@dataclass(frozen=True)
class Created:
    """What a create answers: its data and the headers that go with it (Location, ETag)."""

    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 201


class IdempotentCreates:
    def __init__(self, sealer: PayloadSealer, clock: Clock, encode: Callable[[object], object]):
        self.sealer = sealer
        self.clock = clock
        self.encode = encode  # the API's JSON encoding of dates, UUIDs and decimals

    def run(
        self, request: CreateRequest, user_id: uuid.UUID, create: Callable[[], Created]
    ) -> tuple[Created, bool]:
        """``create()`` once per key; returns the answer and whether it was replayed."""
        key = request.key
        if key is None:
            return create(), False
        if not _KEY_SHAPE.match(key):
            raise ValidationFailed(
                [{"field": HEADER, "message": "must be 1 to 255 visible ASCII characters"}]
            )
        fingerprint = _fingerprint(request)
        now = self.clock()
        with user_transaction(user_id):
            IdempotencyKey.delete().where(
                IdempotencyKey.owner == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.expires_at <= now,
            ).execute()
            row_id = uuid.uuid4()
            claimed = list(
                IdempotencyKey.insert(
                    id=row_id,
                    owner=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + IDEMPOTENCY_KEY_TTL,
                )
                .on_conflict_ignore()
                .returning(IdempotencyKey.id)
                .execute()
            )
            if not claimed:
                return self._replay(user_id, key, fingerprint), True
            result = create()
            answer = json.loads(
                json.dumps(
                    {"status": result.status, "data": result.data, "headers": result.headers},
                    default=self.encode,
                )
            )
            IdempotencyKey.update(response=self.sealer.seal(answer, row_id.bytes)).where(
                IdempotencyKey.id == row_id
            ).execute()
        return result, False

    def _replay(self, user_id: uuid.UUID, key: str, fingerprint: str) -> Created:
        row = IdempotencyKey.get(IdempotencyKey.owner == user_id, IdempotencyKey.key == key)
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if row.response is None:  # written in the transaction that claimed the key
            raise RuntimeError("a claimed idempotency key has no stored answer")
        answer = self.sealer.open(bytes(row.response), row.id.bytes)
        return Created(answer["data"], answer["headers"], answer["status"])


def _fingerprint(request: CreateRequest) -> str:
    canonical = json.dumps(request.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{canonical}".encode()).hexdigest()


def purge_expired(database: peewee.Database, now: datetime) -> int:
    cursor = database.execute_sql(_PURGE, {"now": now})  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
    purged: int = cursor.rowcount
    return purged

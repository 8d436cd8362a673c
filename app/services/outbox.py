"""The email outbox: requests enqueue account emails, a drainer thread in each API worker sends
them, off the request path.

Request side (``OutboxWriter``): one INSERT in the request's own transaction, so the email
exists exactly when the request's other writes do. The payload names the email token row the
link belongs to and carries the token itself, sealed (app/core/sealing.py).

Drainer side (``OutboxDrainer``): a daemon thread per worker, on a one-connection pool of its
own (a request thread never waits for it). Each round claims due rows with
``FOR UPDATE SKIP LOCKED`` and leases them (``locked_until``): drainers of other workers skip
what is claimed, and rows claimed by a worker that died are claimed again once the lease runs
out, so a restart loses nothing (delivery is at least once). The attempt is counted when the
row is claimed, so even a message that kills its worker stops after ``OUTBOX_MAX_ATTEMPTS``.

Two kinds of rows. A *link* names its email token row and carries the token; it is sent only if
the token is still live when the drainer gets to it, otherwise (an address with no account, a
link already used or replaced) the delivery is a no-op. That is what lets a password reset run
the same statements for known and unknown addresses. An email-change link goes to the token's new
address; if that address belongs to another account by then, its holder gets a notice that
someone tried to use it instead of the link, and the token dies, so the request that queued it
never had to ask whether the address was taken. A *notice* names its recipient and its account
and carries what the message says; it is sent while the account exists. A failed
delivery is retried with exponential backoff; after the last attempt the row is given up and a
``email_delivery_failed`` security event is recorded. Sent or given-up rows lose their payload
at once and are deleted after ``DONE_RETENTION`` by the drainer's housekeeping.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee
import structlog
from psycopg2.extras import Json

from app.core.clock import Clock
from app.core.db_deadline import database_deadline
from app.core.metrics import (
    OUTBOX_FAILED,
    OUTBOX_OLDEST_AGE,
    OUTBOX_SENT,
    Metrics,
    NullMetrics,
)
from app.core.sealing import PayloadSealer, SealError
from app.core.settings import Settings
from app.integrations.email import EmailDeliveryError, EmailMessage, EmailSender
from app.integrations.email import templates as email_templates
from app.models import OutboxEmail

log = structlog.get_logger("app.outbox")

BATCH_SIZE = 10
DONE_RETENTION = timedelta(days=1)
HOUSEKEEPING_EVERY_SECONDS = 60.0
# Each worker records the oldest pending email's age at most this often (one metric line).
AGE_REPORT_EVERY_SECONDS = 60.0
# While rounds keep failing (the database is down) the pause doubles up to this.
FAILING_PAUSE_CAP_SECONDS = 60.0
BACKOFF_CAP = timedelta(minutes=30)

# Links: the email carrying the token of an email_tokens row with this purpose.
TEMPLATES = {
    "verify_email": email_templates.verification_email,
    "password_reset": email_templates.password_reset_email,
    "email_change": email_templates.email_change_link,
}
# Notices: told to an address, with the account's context and no token.
NOTICES = {
    "email_change_requested": email_templates.email_change_requested_notice,
    "email_changed": email_templates.email_changed_notice,
    "new_device_sign_in": email_templates.new_device_sign_in_notice,
    "mfa_factor_added": email_templates.factor_added_notice,
    "mfa_factor_removed": email_templates.factor_removed_notice,
    "mfa_recovery_code_used": email_templates.recovery_code_used_notice,
    "mfa_factors_reset": email_templates.factors_reset_notice,
}

_CLAIM = """
UPDATE email_outbox SET locked_until = %(lease_until)s, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM email_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND available_at <= %(now)s
      AND (locked_until IS NULL OR locked_until <= %(now)s)
    ORDER BY available_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, payload, attempts
"""

# The link's token row, still usable, and its account, still active: the address the link goes
# to (an email change's new address, else the account's), and the account holding that new
# address when it is not the requester's.
_RECIPIENT = """
SELECT u.id, COALESCE(t.new_email, u.email),
    (SELECT holder.id FROM users holder WHERE holder.email = t.new_email AND holder.id <> u.id)
FROM email_tokens t JOIN users u ON u.id = t.user_id
WHERE t.id = %(token_id)s AND t.purpose = %(purpose)s AND t.used_at IS NULL
  AND t.expires_at > %(now)s AND u.is_active
"""

# A link that must not be sent (its address was taken): the token dies with the notice's delivery.
_END_LINK = """
UPDATE email_tokens SET used_at = %(now)s WHERE id = %(token_id)s AND used_at IS NULL
"""

_ACCOUNT_EXISTS = """
SELECT id FROM users WHERE id = %(user_id)s
"""

_SENT = """
UPDATE email_outbox SET sent_at = %(now)s, payload = NULL, locked_until = NULL, last_error = NULL
WHERE id = %(id)s
"""

_RETRY = """
UPDATE email_outbox SET available_at = %(next_at)s, locked_until = NULL, last_error = %(error)s
WHERE id = %(id)s
"""

_GIVE_UP = """
UPDATE email_outbox SET failed_at = %(now)s, payload = NULL, locked_until = NULL,
    last_error = %(error)s
WHERE id = %(id)s
"""

_SECURITY_EVENT = """
INSERT INTO security_events (id, user_id, event_type, created_at, details)
SELECT %(event_id)s::uuid, (SELECT id FROM users WHERE id = %(user_id)s::uuid),
    'email_delivery_failed', %(now)s, %(details)s::jsonb
"""

_OLDEST_PENDING = """
SELECT extract(epoch FROM %(now)s - min(created_at)) FROM email_outbox
WHERE sent_at IS NULL AND failed_at IS NULL
"""

_PURGE = """
DELETE FROM email_outbox WHERE sent_at <= %(before)s OR failed_at <= %(before)s
"""


class OutboxWriter:
    """The request side: queue an email in the caller's transaction."""

    def __init__(self, sealer: PayloadSealer, clock: Clock):
        self.sealer = sealer
        self.clock = clock

    def enqueue_token_email(self, purpose: str, token_id: uuid.UUID, token: str) -> uuid.UUID:
        """Queue the email carrying ``token`` (row ``token_id`` of email_tokens). The row may
        not exist (an unknown address): the statement is the same, and the drainer then sends
        nothing."""
        if purpose not in TEMPLATES:
            raise ValueError(f"no email template for {purpose!r}")
        return self._insert({"template": purpose, "token_id": str(token_id), "token": token})

    def enqueue_notice(
        self, template: str, to: str, user_id: uuid.UUID, context: dict[str, str]
    ) -> uuid.UUID:
        """Queue a notice to ``to`` about account ``user_id``; ``context`` is what the message
        says (addresses, a time, a client), sealed with the rest of the payload."""
        if template not in NOTICES:
            raise ValueError(f"no notice template for {template!r}")
        return self._insert(
            {"template": template, "to": to, "user_id": str(user_id), "context": context}
        )

    def _insert(self, document: dict[str, Any]) -> uuid.UUID:
        row_id = uuid.uuid4()
        now = self.clock()
        OutboxEmail.insert(
            id=row_id,
            payload=self.sealer.seal(document, row_id.bytes),
            created_at=now,
            available_at=now,
            attempts=0,
        ).execute()
        return row_id


# Whose email it is (for a give-up's security event), the message, and a token to kill once sent.
Prepared = tuple[uuid.UUID, EmailMessage, str | None]


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    payload: bytes | None
    attempts: int


class OutboxDrainer:
    """The sending side; ``drain_once`` is one round, ``start`` runs rounds in a thread."""

    def __init__(
        self,
        settings: Settings,
        database: peewee.Database,
        sender: EmailSender,
        sealer: PayloadSealer,
        clock: Clock,
        metrics: Metrics | None = None,
        housekeeping: Sequence[Callable[[peewee.Database, datetime], int]] = (),
    ):
        self.settings = settings
        self._housekeeping = list(housekeeping)
        self.database = database
        self.sender = sender
        self.sealer = sealer
        self.clock = clock
        self.metrics = metrics or NullMetrics()
        self._next_age_report = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_housekeeping = 0.0

    # ----- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="email-outbox-drainer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the delivery in hand and stop; rows not reached stay queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            handled = 0
            try:
                handled = self.drain_once()
                if self.metrics.enabled and time.monotonic() >= self._next_age_report:
                    self.report_oldest_pending()
                    self._next_age_report = time.monotonic() + AGE_REPORT_EVERY_SECONDS
                if time.monotonic() >= self._next_housekeeping:
                    self.housekeeping()
                    self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY_SECONDS
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
                failures += 1
                log.error("outbox_round_failed", error=type(exc).__name__, failures=failures)
                self._discard_connection()
            if handled < BATCH_SIZE:
                self._stop.wait(self.pause(failures))

    def pause(self, failures: int) -> float:
        """The wait before the next round: the poll interval, doubled for each round in a row
        that failed, so an unreachable database costs a log line a minute, not a second."""
        return min(self.settings.outbox_poll_seconds * 2.0**failures, FAILING_PAUSE_CAP_SECONDS)

    def _discard_connection(self) -> None:
        try:
            self.database.close()
        except Exception:  # noqa: BLE001, S110 - the connection is gone either way
            pass

    # ----- one round ------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Claim due rows and deliver each. Returns how many rows were handled."""
        claimed = self._claim()
        for row in claimed:
            if self._stop.is_set() and self._thread is threading.current_thread():
                break  # stopping: the rest stay leased and are claimed again after the lease
            self._deliver(row)
        return len(claimed)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction on the drainer's connection, its waits bounded like a request's."""
        seconds = self.settings.db_request_deadline_ms / 1000
        with database_deadline(seconds), self.database.connection_context():
            with self.database.atomic():
                yield

    def _claim(self) -> list[Claimed]:
        now = self.clock()
        with self._transaction():
            cursor = self.database.execute_sql(  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
                _CLAIM,
                {
                    "now": now,
                    "lease_until": now + timedelta(seconds=self.settings.outbox_lease_seconds),
                    "batch": BATCH_SIZE,
                },
            )
            rows = cursor.fetchall()
        return [Claimed(uuid.UUID(str(row[0])), row[1], row[2]) for row in rows]

    def _execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._transaction():
            cursor = self.database.execute_sql(sql, params)  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
            rows: list[tuple[Any, ...]] = cursor.fetchall() if cursor.description else []
            return rows

    def _deliver(self, row: Claimed) -> None:
        try:
            document = self.sealer.open(row.payload or b"", row.id.bytes)
        except SealError:
            self._give_up(row, None, "the payload does not open")
            return
        try:
            prepared = (
                self._notice(document)
                if document.get("template") in NOTICES
                else self._link(document)
            )
        except (KeyError, TypeError, ValueError) as exc:
            # A payload no template can render would fail the same way on every attempt.
            user_id = document.get("user_id")
            self._give_up(row, user_id, f"the payload does not render ({type(exc).__name__})")
            return
        if prepared is None:
            # No account for the address, the link was used or replaced since, or the account
            # is gone: nothing to send.
            self._execute(_SENT, {"id": str(row.id), "now": self.clock()})
            log.info("outbox.skipped", outbox_id=str(row.id))
            return
        user_id, message, dead_token = prepared
        try:
            self.sender.send(message)
        except EmailDeliveryError as exc:  # its text names the provider and a reason, no secrets
            self._failed(row, user_id, str(exc)[:200])
            return
        except Exception as exc:  # noqa: BLE001 - any other failure is retried too, never lost
            self._failed(row, user_id, type(exc).__name__)
            return
        if dead_token is not None:
            self._execute(_END_LINK, {"token_id": dead_token, "now": self.clock()})
        self._execute(_SENT, {"id": str(row.id), "now": self.clock()})
        self.metrics.record(OUTBOX_SENT)
        log.info("outbox.sent", outbox_id=str(row.id), attempts=row.attempts)

    def _link(self, document: dict[str, Any]) -> Prepared | None:
        """The link's message, or for an email change whose new address another account holds
        by now, the notice to that holder and the token to kill once it is sent."""
        purpose = str(document.get("template"))
        found = self._execute(
            _RECIPIENT,
            {"token_id": document.get("token_id"), "purpose": purpose, "now": self.clock()},
        )
        if not found or purpose not in TEMPLATES:
            return None
        user_id, address, holder = found[0]
        if holder is not None:
            message = email_templates.email_change_address_taken_notice(address, self.settings)
            return holder, message, str(document["token_id"])
        return user_id, TEMPLATES[purpose](address, document["token"], self.settings), None

    def _notice(self, document: dict[str, Any]) -> Prepared | None:
        found = self._execute(_ACCOUNT_EXISTS, {"user_id": document.get("user_id")})
        if not found:
            return None
        context = {str(key): str(value) for key, value in dict(document["context"]).items()}
        message = NOTICES[str(document["template"])](str(document["to"]), context, self.settings)
        return found[0][0], message, None

    def report_oldest_pending(self) -> float:
        """Record the age in seconds of the oldest row not yet sent or given up (0 when none)."""
        found = self._execute(_OLDEST_PENDING, {"now": self.clock()})
        age = float(found[0][0]) if found and found[0][0] is not None else 0.0
        self.metrics.record(OUTBOX_OLDEST_AGE, age)
        return age

    def backoff(self, attempts: int) -> timedelta:
        """The wait before attempt ``attempts + 1``: base x 2^(attempts - 1), capped."""
        delay = timedelta(seconds=self.settings.outbox_retry_base_seconds * 2 ** (attempts - 1))
        return min(delay, BACKOFF_CAP)

    def _failed(self, row: Claimed, user_id: uuid.UUID | None, error: str) -> None:
        self.metrics.record(OUTBOX_FAILED)
        if row.attempts >= self.settings.outbox_max_attempts:
            self._give_up(row, user_id, error)
            return
        next_at = self.clock() + self.backoff(row.attempts)
        self._execute(_RETRY, {"id": str(row.id), "next_at": next_at, "error": error})
        log.error(
            "email_delivery_failed",
            outbox_id=str(row.id),
            attempts=row.attempts,
            retry_at=next_at.isoformat(),
            provider=self.settings.email_provider,
            error=error,
        )

    def _give_up(self, row: Claimed, user_id: uuid.UUID | None, error: str) -> None:
        now = self.clock()
        with self._transaction():
            self.database.execute_sql(_GIVE_UP, {"id": str(row.id), "now": now, "error": error})  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
            self.database.execute_sql(  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
                _SECURITY_EVENT,
                {
                    "event_id": str(uuid.uuid4()),
                    "user_id": None if user_id is None else str(user_id),
                    "now": now,
                    "details": Json(
                        {"outbox_id": str(row.id), "attempts": row.attempts, "error": error}
                    ),
                },
            )
        log.error(
            "email_delivery_abandoned",
            outbox_id=str(row.id),
            attempts=row.attempts,
            provider=self.settings.email_provider,
            error=error,
        )

    def housekeeping(self) -> int:
        """Delete rows sent or given up more than ``DONE_RETENTION`` ago, then run the other
        purges handed in (expired idempotency keys). Returns the outbox rows deleted."""
        now = self.clock()
        with self._transaction():
            cursor = self.database.execute_sql(_PURGE, {"before": now - DONE_RETENTION})  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
            purged: int = cursor.rowcount
        for purge in self._housekeeping:
            with self._transaction():
                purge(self.database, now)
        return purged

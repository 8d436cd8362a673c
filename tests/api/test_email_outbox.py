"""The email outbox on the real PostgreSQL: requests only enqueue, the drainer thread sends,
retries with backoff, gives up with a security event, and picks up what a dead worker claimed."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from app.core.database import make_database
from app.core.sealing import PayloadSealer, SealError
from app.integrations.email import EmailDeliveryError
from app.models import OutboxEmail, SecurityEvent, User
from app.services.outbox import DONE_RETENTION, OutboxDrainer
from tests.helpers import Browser, Outbox, build, fast_settings, unique_email


class Env:
    def __init__(self, settings, **overrides):
        self.settings = fast_settings(settings, **overrides)
        self.app, self.clock, self.provider = build(self.settings)
        self.drainer: OutboxDrainer = self.provider.drainer
        OutboxEmail.delete().execute()  # this module's tests count rows: start from none

    def browser(self) -> Browser:
        return Browser(self.app, self.settings)

    def account(self) -> str:
        email = unique_email()
        assert self.browser().register(email).status_code == 201
        return email

    def reset(self, email: str):
        result = self.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
        assert result.status_code == 202
        return result

    def rows(self) -> list[OutboxEmail]:
        return list(OutboxEmail.select().order_by(OutboxEmail.created_at))


@pytest.fixture
def env(settings):
    environment = Env(settings)
    yield environment
    environment.drainer.stop()


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_request_only_enqueues_and_the_drainer_thread_sends(env):
    email = env.account()
    env.drainer.start()
    env.reset(email)
    assert wait_for(lambda: env.provider.sent), "the drainer did not send within seconds"
    assert [message.to for message in env.provider.sent] == [email]
    # Every provider call came from the drainer, none from the request's thread.
    assert env.provider.threads == ["email-outbox-drainer"]
    assert threading.current_thread().name not in env.provider.threads


def test_no_provider_call_happens_during_the_request(env):
    email = env.account()
    env.reset(email)
    env.browser().request("POST", "/v1/auth/password-reset", json={"email": unique_email()})
    assert env.provider.threads == []  # no drainer ran, so nothing was sent
    assert len(env.rows()) == 2
    assert [message.to for message in env.provider.messages] == [email]


def test_known_and_unknown_addresses_run_the_same_statements(env):
    email = env.account()
    statements: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record):
            sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
            statements.append(sql)

    recorder = Recorder(level=logging.DEBUG)
    peewee_log = logging.getLogger("peewee")
    previous = peewee_log.level
    peewee_log.addHandler(recorder)
    peewee_log.setLevel(logging.DEBUG)
    try:
        env.reset(email)
        known = list(statements)
        statements.clear()
        env.reset(unique_email())
        unknown = list(statements)
    finally:
        peewee_log.removeHandler(recorder)
        peewee_log.setLevel(previous)
    assert known, "no statement was recorded"
    assert known == unknown
    assert not any("email_outbox" in sql and "SELECT" in sql.split()[0] for sql in known)


def test_an_unknown_address_is_a_no_op_delivery(env):
    env.reset(unique_email())
    assert env.provider.messages == []
    (row,) = env.rows()
    assert row.sent_at is not None and row.payload is None
    assert env.provider.threads == []  # the provider was never called


def test_links_are_sealed_at_rest_and_the_payload_is_deleted_once_sent(env):
    email = env.account()
    env.reset(email)
    (row,) = env.rows()
    sealed = bytes(row.payload)
    document = PayloadSealer(env.settings).open(sealed, row.id.bytes)
    assert set(document) == {"template", "token_id", "token"}
    assert document["token"].encode() not in sealed
    assert email.encode() not in sealed
    with pytest.raises(SealError):  # bound to its row: another row's id does not open it
        PayloadSealer(env.settings).open(sealed, uuid.uuid4().bytes)
    token = env.provider.token_for(email)
    assert token == document["token"]
    row = OutboxEmail.get_by_id(row.id)
    assert row.sent_at is not None and row.payload is None


def test_a_failed_delivery_is_retried_with_backoff(env):
    email = env.account()
    env.provider.fail_with = EmailDeliveryError("resend", "HTTP 503")
    env.reset(email)
    base = env.settings.outbox_retry_base_seconds
    assert env.drainer.drain_once() == 1
    (row,) = env.rows()
    assert row.attempts == 1 and row.sent_at is None and row.last_error.endswith("HTTP 503")
    assert row.available_at == env.clock() + env.drainer.backoff(1)
    assert env.drainer.drain_once() == 0  # not due yet
    env.clock.advance(seconds=base)
    assert env.drainer.drain_once() == 1
    row = OutboxEmail.get_by_id(row.id)
    assert row.attempts == 2
    assert row.available_at == env.clock() + env.drainer.backoff(2)
    assert env.drainer.backoff(2).total_seconds() == 2 * base
    env.clock.advance(seconds=base)
    assert env.drainer.drain_once() == 0  # the second wait is twice as long
    env.provider.fail_with = None
    env.clock.advance(seconds=base)
    assert [message.to for message in env.provider.messages] == [email]
    assert OutboxEmail.get_by_id(row.id).payload is None


def test_delivery_gives_up_after_the_bound_with_a_security_event(settings):
    env = Env(settings, outbox_max_attempts=3)
    email = env.account()
    env.provider.fail_with = EmailDeliveryError("resend", "HTTP 500")
    env.reset(email)
    for _ in range(3):
        assert env.drainer.drain_once() == 1
        env.clock.advance(minutes=1)  # past each backoff, well within the link's hour
    (row,) = env.rows()
    assert row.failed_at is not None and row.payload is None and row.attempts == 3
    env.clock.advance(minutes=5)
    assert env.drainer.drain_once() == 0  # never tried again
    user = User.get(User.email == email)
    events = list(
        SecurityEvent.select().where(
            SecurityEvent.user == user, SecurityEvent.event_type == "email_delivery_failed"
        )
    )
    assert len(events) == 1
    assert events[0].details["outbox_id"] == str(row.id)
    assert events[0].details["attempts"] == 3


def another_worker(env, provider) -> OutboxDrainer:
    """The drainer of another worker: its own connection, the same table."""
    database = make_database(
        env.settings.database_url, env.settings, application_name="test-outbox", pool_size=1
    )
    return OutboxDrainer(env.settings, database, provider, PayloadSealer(env.settings), env.clock)


def test_rows_claimed_by_a_dead_worker_are_claimed_again_after_the_lease(env):
    email = env.account()
    env.reset(email)
    # Another worker claimed the row, then died before sending it.
    dead_worker = another_worker(env, Outbox())
    assert len(dead_worker._claim()) == 1
    assert env.drainer.drain_once() == 0  # leased to the dead worker
    env.clock.advance(seconds=env.settings.outbox_lease_seconds - 1)
    assert env.drainer.drain_once() == 0
    env.clock.advance(seconds=1)
    assert env.drainer.drain_once() == 1
    assert [message.to for message in env.provider.sent] == [email]
    (row,) = env.rows()
    assert row.attempts == 2 and row.sent_at is not None


def test_several_drainers_send_each_email_exactly_once(env):
    emails = [env.account() for _ in range(25)]
    for email in emails:
        env.reset(email)
    drainers = [another_worker(env, env.provider) for _ in range(2)] + [env.drainer]
    barrier = threading.Barrier(len(drainers))

    def work(drainer):
        barrier.wait()
        while drainer.drain_once():
            pass

    threads = [threading.Thread(target=work, args=(d,)) for d in drainers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(message.to for message in env.provider.sent) == sorted(emails)


def test_housekeeping_deletes_finished_rows_after_the_retention(env):
    env.reset(unique_email())
    env.drainer.drain_once()
    assert env.drainer.housekeeping() == 0
    env.clock.advance(seconds=DONE_RETENTION.total_seconds())
    assert env.drainer.housekeeping() == 1
    assert env.rows() == []


def test_a_token_used_before_delivery_is_not_sent(env):
    email = env.account()
    env.reset(email)
    env.reset(email)
    first, second = env.rows()
    # The first link is used (as if a leaked copy were) before the drainer reaches it.
    document = PayloadSealer(env.settings).open(bytes(first.payload), first.id.bytes)
    confirm = env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": document["token"], "new_password": "a-brand-new-password-9"},
    )
    assert confirm.status_code == 204
    # Both links died with the reset; neither is sent, the provider is never called.
    assert env.provider.messages == []
    assert env.provider.threads == []
    assert all(row.sent_at is not None and row.payload is None for row in env.rows())


def test_an_unreachable_database_slows_the_drainer_down(env):
    poll = env.settings.outbox_poll_seconds
    assert env.drainer.pause(0) == poll
    assert [env.drainer.pause(n) for n in (1, 2, 3)] == [2 * poll, 4 * poll, 8 * poll]
    assert env.drainer.pause(30) == 60.0


def test_a_notice_that_cannot_render_is_given_up_at_once(env):
    """A payload no template can render would fail alike on every attempt: it is given up on
    the first, with the security event, and the emails queued beside it still go."""
    from app.core.database import db
    from app.services.outbox import OutboxWriter

    email = env.account()
    user = User.get(User.email == email)
    writer = OutboxWriter(PayloadSealer(env.settings), env.clock)
    with db.atomic():
        broken = writer.enqueue_notice("email_changed", email, user.id, {})  # no new_email
        writer.enqueue_notice(
            "new_device_sign_in",
            email,
            user.id,
            {"signed_in_at": "2026-11-29 10:00 UTC", "ip": "203.0.113.5", "user_agent": "x"},
        )
    assert env.drainer.drain_once() == 2
    row = OutboxEmail.get_by_id(broken)
    assert row.failed_at is not None and row.payload is None and row.attempts == 1
    assert "does not render" in row.last_error
    assert [m.subject for m in env.provider.sent] == ["New sign-in to your account"]
    (event,) = SecurityEvent.select().where(
        SecurityEvent.user == user, SecurityEvent.event_type == "email_delivery_failed"
    )
    assert event.details["outbox_id"] == str(broken)

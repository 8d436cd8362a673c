"""Data guarantees proven by breaking them: faults are injected at the database level (test-only
triggers the schema's owner adds and drops again), never by patching the application's code."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime

import psycopg2
import pytest

from tests.helpers import Browser, FakeClock, build, fast_settings, unique_email

INJECTED = "injected failure after the event insert"
RACE_LOCK_KEY = 72_120_901  # the advisory lock a racing update waits on


@contextlib.contextmanager
def owner_connection(settings):
    """The migrator owns the tables, so it alone may add and drop their triggers."""
    connection = psycopg2.connect(settings.migrations_database_url)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def env(settings):
    # The tests below hold transactions open on purpose: no request deadline cuts them short.
    config = fast_settings(settings, db_request_deadline_ms=120_000)
    app, clock, _ = build(config, clock=FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC)))
    email = unique_email()
    first = Browser(app, config)
    assert first.register(email).status_code == 201
    assert first.login(email).status_code == 200

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.email, e.browser = config, app, email, first
    return e


def second_browser(env) -> Browser:
    browser = Browser(env.app, env.settings)
    assert browser.login(env.email).status_code == 200
    return browser


def create(browser, **fields) -> dict:
    result = browser.request(
        "POST", "/v1/applications", json={"company": "Acme", "role_title": "Eng", **fields}
    )
    assert result.status_code == 201, result.text
    return result.json["data"]


# ----- the status-timeline event is written in the application's own transaction -------------


@pytest.fixture
def fail_at_commit_after_event(settings):
    """A deferred constraint trigger on application_events: the event insert itself succeeds,
    and the transaction that made it fails when it commits, after every other statement."""
    with owner_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION test_fail_after_event() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.note = 'fail-after-event' THEN
                    RAISE EXCEPTION '{INJECTED}';
                END IF;
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER test_fail_after_event AFTER INSERT ON application_events
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                EXECUTE FUNCTION test_fail_after_event();
            """
        )
        try:
            yield
        finally:
            cursor.execute(
                "DROP TRIGGER test_fail_after_event ON application_events;"
                "DROP FUNCTION test_fail_after_event()"
            )


def test_a_failure_after_the_event_insert_leaves_neither_event_nor_change(
    env, fail_at_commit_after_event
):
    browser = env.browser
    data = create(browser, status="applied")
    path = f"/v1/applications/{data['id']}"
    failed = browser.request(
        "PATCH",
        path,
        json={"status": "offer", "status_note": "fail-after-event", "notes": "n", "version": 1},
    )
    assert failed.status_code >= 500, failed.text
    current = browser.request("GET", path).json["data"]
    assert (current["status"], current["version"], current["notes"]) == ("applied", 1, None)
    events = browser.request("GET", f"{path}/events").json["data"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [(None, "applied")]
    # The same change without the fault goes through: the failure above was the injected one.
    moved = browser.request("PATCH", path, json={"status": "offer", "version": 1})
    assert moved.status_code == 200 and moved.json["data"]["version"] == 2


# ----- the application update's row lock -----------------------------------------------------


@pytest.fixture
def updates_wait_on_a_lock(settings):
    """Updates whose notes start with 'race-' wait after their UPDATE, inside their transaction
    and holding the row, for an advisory lock the test holds: the first update's transaction
    stays open as long as the test wants."""
    with owner_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION test_wait_for_release() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.notes LIKE 'race-%' THEN
                    PERFORM pg_advisory_xact_lock_shared({RACE_LOCK_KEY});
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_wait_for_release AFTER UPDATE ON applications
                FOR EACH ROW EXECUTE FUNCTION test_wait_for_release();
            """
        )
        try:
            yield
        finally:
            cursor.execute(
                "DROP TRIGGER test_wait_for_release ON applications;"
                "DROP FUNCTION test_wait_for_release()"
            )


def wait_for(cursor, sql: str, params, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cursor.execute(sql, params)
        if cursor.fetchone()[0] >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {count} of: {sql}")


WAITING_ON_RACE_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory' AND objid = %s"
)
WAITING_ON_A_ROW = (
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('transactionid', 'tuple') "
    "AND pid <> %s"
)


def test_two_updates_of_the_same_version_cannot_both_win(env, settings, updates_wait_on_a_lock):
    """Both updates send version 1, with real threads on the real server. The first holds its
    transaction open after reading; the second reads while the first is still open. With the
    row lock the second reads only after the first commits, sees version 2 and gets 409;
    without it both read version 1 and both succeed, the second silently overwriting the first."""
    first, second = env.browser, second_browser(env)
    data = create(first)
    path = f"/v1/applications/{data['id']}"
    results: dict[str, object] = {}

    def patch(name, browser):
        try:
            results[name] = browser.request(
                "PATCH", path, json={"notes": f"race-{name}", "version": 1}
            )
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            results[name] = error

    with owner_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (RACE_LOCK_KEY,))
        threads = {
            name: threading.Thread(target=patch, args=(name, browser), daemon=True)
            for name, browser in (("a", first), ("b", second))
        }
        try:
            threads["a"].start()
            wait_for(cursor, WAITING_ON_RACE_LOCK, (RACE_LOCK_KEY,), 1)
            threads["b"].start()
            # b now waits on a's row: at its locking read, or without one at its UPDATE.
            wait_for(cursor, WAITING_ON_A_ROW, (connection.get_backend_pid(),), 1)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (RACE_LOCK_KEY,))
        for thread in threads.values():
            thread.join(timeout=120)
            assert not thread.is_alive()
    a, b = results["a"], results["b"]
    assert not isinstance(a, Exception) and not isinstance(b, Exception), results
    assert a.status_code == 200, a.text
    assert b.status_code == 409, b.text
    assert b.json["error"]["code"] == "VERSION_CONFLICT"
    current = first.request("GET", path).json["data"]
    assert (current["notes"], current["version"]) == ("race-a", 2)

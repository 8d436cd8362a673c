"""Server-side prepared statements (app/core/database.py ``prepared``): the reads of every
request (authentication, get one, me, list) are parsed and planned once per connection, and
row-level security holds for every execution, generic plans included."""

from __future__ import annotations

import uuid

import pytest

from app.core import database
from app.core.database import db, execute_as_user, tuples_as_user
from tests.api.test_applications import count_statements, create, env, signed_in

__all__ = ["env"]  # the fixture, shared with the applications tests


def ready(env):
    browser = signed_in(env)
    browser.application = create(browser, company=f"Company of {browser.email}")
    return browser


def statements_of_this_connection() -> dict[str, tuple[int, int]]:
    """name -> (generic plans, custom plans) of the statements the current session prepared."""
    rows = db.execute_sql(
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
    ).fetchall()
    return {name: (generic, custom) for name, generic, custom in rows}


def test_a_read_is_prepared_once_per_connection_and_then_executed(env):
    browser = ready(env)
    path = f"/v1/applications/{browser.application['id']}"
    with count_statements() as first:
        assert browser.request("GET", path).status_code == 200
    with count_statements() as later:
        for _ in range(5):
            assert browser.request("GET", path).status_code == 200
    assert [text for text in first if text.startswith("PREPARE")], first
    assert not [text for text in later if text.startswith("PREPARE")], later
    assert len(later) == 5 and all("EXECUTE jat_" in text for text in later), later
    names = db.connection().prepared
    assert set(statements_of_this_connection()) >= {
        name for name in names.values() if name is not None
    }


@pytest.mark.parametrize("plans", ["force_generic_plan", "force_custom_plan"])
def test_row_level_security_holds_for_every_plan_of_a_prepared_read(env, plans):
    """Two accounts take turns on one connection: each sees its own application and never the
    other's, whether PostgreSQL reuses one generic plan or plans each execution."""
    alice, bob = ready(env), ready(env)
    db.execute_sql(f"SET plan_cache_mode = {plans}")
    try:
        for _ in range(8):
            for me, other in ((alice, bob), (bob, alice)):
                mine = me.request("GET", f"/v1/applications/{me.application['id']}")
                assert mine.status_code == 200 and mine.json["data"] == me.application
                theirs = me.request("GET", f"/v1/applications/{other.application['id']}")
                assert theirs.status_code == 404
                listed = me.request("GET", "/v1/applications").json["data"]
                assert [item["id"] for item in listed] == [me.application["id"]]
        used = statements_of_this_connection()
        generic = sum(count for count, _ in used.values())
        assert generic > 0 if plans == "force_generic_plan" else generic == 0, used
    finally:
        db.execute_sql("RESET plan_cache_mode")


def test_a_statement_postgres_cannot_prepare_is_sent_as_it_is(env):
    user_id = ready(env).user_id
    # "$1 + $2" has no type to prepare with; "1 + 2" runs.
    sql = "SELECT %s + %s"
    assert tuples_as_user(user_id, sql, (1, 2)) == [(3,)]
    assert db.connection().prepared[sql] is None
    with count_statements() as statements:
        assert tuples_as_user(user_id, sql, (2, 3)) == [(5,)]
    assert statements == ["SELECT set_config(%s, %s, true); " + sql]


def test_past_the_limit_a_connection_prepares_nothing_more(env, monkeypatch):
    browser = ready(env)
    assert browser.request("GET", "/v1/applications").status_code == 200
    names = db.connection().prepared
    monkeypatch.setattr(database, "MAX_PREPARED_PER_CONNECTION", len(names))
    sql = "SELECT count(*) FROM applications WHERE id <> %s"
    with count_statements() as statements:
        assert tuples_as_user(browser.user_id, sql, (str(uuid.uuid4()),)) == [(1,)]
    assert statements == ["SELECT set_config(%s, %s, true); " + sql]
    assert sql not in names


def test_a_new_connection_prepares_again(env):
    browser = ready(env)
    path = f"/v1/applications/{browser.application['id']}"
    assert browser.request("GET", path).status_code == 200
    db.connection().close()  # as a failure or the deadline would
    database.release_connection()  # the end of the request: the pool discards it
    with count_statements() as statements:
        assert browser.request("GET", path).status_code == 200
    assert [text for text in statements if text.startswith("PREPARE")], statements
    assert db.connection().prepared


def test_a_read_inside_a_transaction_is_not_prepared(env):
    user_id = ready(env).user_id
    sql = "SELECT count(*) FROM applications WHERE id <> %s"
    with db.atomic(), count_statements() as statements:
        assert execute_as_user(user_id, sql, (str(uuid.uuid4()),), prepare=True).fetchall() == [
            (1,)
        ]
    assert not [text for text in statements if "PREPARE" in text or "EXECUTE" in text]


def test_placeholders_are_numbered_and_literal_percents_kept():
    assert database._numbered("SELECT %s, '100%%', %s LIKE 'a%%'") == (
        "SELECT $1, '100%', $2 LIKE 'a%'",
        2,
    )


def test_the_rate_limiters_statements_are_prepared_once_on_its_own_pool(env, monkeypatch):
    """The limiter counts through a pool of its own (``jobapptracker-limiter``); each of its
    statements is prepared there once per connection, then executed. (What they count is
    tested in test_login_throttling.py and test_auth.py, through the same prepared path.)"""
    import peewee

    sent: list[tuple[str, str]] = []
    original = peewee.Database.execute_sql

    def recording(self, sql, params=None, *args, **kwargs):
        sent.append((self.connect_params.get("application_name"), sql))
        return original(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "execute_sql", recording)
    browser = env.browser()
    email = f"limited-{uuid.uuid4().hex[:10]}@example.com"
    assert browser.register(email).status_code == 201
    for _ in range(3):
        assert browser.login(email).status_code == 200
    assert browser.login(email, password="not-the-password-at-all-1").status_code == 401
    limiter = [sql for pool, sql in sent if pool == "jobapptracker-limiter"]
    prepares = [sql for sql in limiter if sql.startswith("PREPARE")]
    # register: one hit; the logins: hit-then-read; the failure: one more hit on its budget
    assert any("INSERT INTO rate_limits" in sql for sql in prepares), limiter
    assert any("budget.key = $6" in sql for sql in prepares), limiter
    assert len(prepares) == len(set(prepares)), prepares
    executed = [sql for sql in limiter if sql.startswith("EXECUTE jat_")]
    assert len(executed) >= 4, limiter
    assert not [sql for sql in limiter if "rate_limits" in sql and not sql.startswith("PREPARE")]
    # Each pool's connection keeps its own names: the request's knows none of the limiter's,
    # and every name it knows is prepared on its own server session.
    names = db.connection().prepared
    assert not [sql for sql in names if "rate_limits" in sql], names
    assert set(statements_of_this_connection()) >= {
        name for name in names.values() if name is not None
    }

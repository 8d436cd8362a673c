"""Reads that go with the authentication (app/core/database.py ``UserRead``): get one and "me"
read their row in the same message as the user's state, in one round trip, and answer exactly
as if they had read it after: every state check first, row-level security in force, another
user's row never seen."""

from __future__ import annotations

import uuid

import pytest

from app.core.database import ModelRow, db
from app.models import RefreshToken, User
from tests.api.test_applications import count_statements, create, env, signed_in

__all__ = ["env"]  # the fixture, shared with the applications tests

# Each read that authentication serves, and list, which keeps its own round trip.
READS = {
    "get one": lambda browser: f"/v1/applications/{browser.application['id']}",
    "me": lambda browser: "/v1/users/me",
    "list": lambda browser: "/v1/applications",
}


def ready(env):
    browser = signed_in(env)
    browser.application = create(browser, company="Mine")
    return browser


def code(result) -> str:
    return result.json["error"]["code"]


@pytest.mark.parametrize("read", ["get one", "me"])
def test_get_one_and_me_cost_one_round_trip_list_two(env, read):
    """Once the connection has prepared the statements (its first such request)."""
    browser = ready(env)
    for path in (READS[read](browser), READS["list"](browser)):
        assert browser.request("GET", path).status_code == 200
    with count_statements() as statements:
        assert browser.request("GET", READS[read](browser)).status_code == 200
    assert len(statements) == 1, statements
    assert "EXECUTE" in statements[0]
    with count_statements() as statements:
        assert browser.request("GET", READS["list"](browser)).status_code == 200
    assert len(statements) == 2, statements


def test_get_one_answers_the_row_it_read_with_the_authentication(env):
    browser = ready(env)
    result = browser.request("GET", READS["get one"](browser))
    assert result.status_code == 200
    assert result.json["data"] == browser.application
    assert result.headers["etag"] == '"1"'


def test_me_answers_the_account_and_its_factors_from_one_round_trip(env):
    browser = ready(env)
    me = browser.request("GET", "/v1/users/me").json["data"]
    assert me["id"] == str(browser.user_id)
    assert me["email"] == browser.email
    assert me["mfa"] == {"totp": False, "passkeys": 0, "recovery_codes_left": 0}


def test_a_missing_id_and_another_users_id_answer_the_same_404(env):
    browser, other = ready(env), ready(env)
    missing = browser.request("GET", f"/v1/applications/{uuid.uuid4()}")
    theirs = browser.request("GET", READS["get one"](other))
    assert missing.status_code == theirs.status_code == 404
    assert missing.json["error"] == theirs.json["error"]
    assert "Mine" not in theirs.text


@pytest.mark.parametrize("read", list(READS))
def test_a_signed_out_session_is_refused_before_the_row_is_answered(env, read):
    browser = ready(env)
    other = env.browser()
    assert other.login(browser.email).status_code == 200
    assert other.request("POST", "/v1/auth/logout-all").status_code == 204
    result = browser.request("GET", READS[read](browser))
    assert result.status_code == 401 and code(result) == "INVALID_TOKEN"
    assert "Mine" not in result.text


@pytest.mark.parametrize("read", list(READS))
def test_a_revoked_session_is_refused(env, read):
    browser = ready(env)
    RefreshToken.update(revoked_at=env.clock()).where(
        RefreshToken.user == browser.user_id
    ).execute()
    result = browser.request("GET", READS[read](browser))
    assert result.status_code == 401 and code(result) == "INVALID_TOKEN"


@pytest.mark.parametrize("read", list(READS))
def test_a_deactivated_account_is_refused(env, read):
    browser = ready(env)
    User.update(is_active=False).where(User.id == browser.user_id).execute()
    result = browser.request("GET", READS[read](browser))
    assert result.status_code == 401 and code(result) == "INVALID_TOKEN"
    assert "Mine" not in result.text


@pytest.mark.parametrize("read", ["get one", "list"])
def test_a_forced_password_change_gates_the_reads(env, read):
    browser = ready(env)
    User.update(force_password_change=True).where(User.id == browser.user_id).execute()
    result = browser.request("GET", READS[read](browser))
    assert result.status_code == 403 and code(result) == "PASSWORD_CHANGE_REQUIRED"
    assert "Mine" not in result.text


def test_me_still_shows_a_gated_account_why(env):
    browser = ready(env)
    User.update(force_password_change=True).where(User.id == browser.user_id).execute()
    me = browser.request("GET", "/v1/users/me")
    assert me.status_code == 200 and me.json["data"]["must_change_password"] is True


def test_the_read_runs_under_row_level_security(env):
    """Even a read that forgot its owner filter sees only the signed-in user's rows: the
    authentication's message sets the row-level-security user for it."""
    from app.services.applications import ApplicationService

    browser, other = ready(env), ready(env)
    original = ApplicationService.one

    def without_owner_filter(user_id, application_id):
        read = original(user_id, application_id)
        sql = read.sql.replace('AND ("t1"."owner_id" = %s)', "")
        assert sql != read.sql, "the owner filter was not found to remove"
        return type(read)(sql, (read.params[0], *read.params[2:]))

    ApplicationService.one = staticmethod(without_owner_filter)
    try:
        assert browser.request("GET", READS["get one"](other)).status_code == 404
        assert browser.request("GET", READS["get one"](browser)).status_code == 200
    finally:
        ApplicationService.one = staticmethod(original)


def test_a_row_whose_columns_do_not_line_up_with_the_model_is_refused(env):
    user_id = ready(env).user_id
    cursor = db.execute_sql(
        "SELECT id, email, created_at FROM users WHERE id = %s", (str(user_id),)
    )
    with pytest.raises(RuntimeError, match="not User's fields"):
        ModelRow(User).first(cursor)
    rows = ModelRow(User)
    columns = ", ".join(field.column_name for field in User._meta.sorted_fields)
    found = rows.first(
        db.execute_sql(f"SELECT {columns}, 7 AS extra FROM users WHERE id = %s", (str(user_id),))
    )
    assert found is not None
    user, rest = found
    assert user.id == user_id and isinstance(user.id, uuid.UUID) and rest == (7,)
    assert user.email == User.get_by_id(user_id).email and not user._dirty
    assert rows.first(db.execute_sql(f"SELECT {columns} FROM users WHERE false")) is None

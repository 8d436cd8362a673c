"""Job applications through HTTP on the real PostgreSQL, with row-level security."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from app.core.database import fetch_as_user, user_transaction
from app.models import (
    Application,
    ApplicationEvent,
    Passkey,
    PasskeyChallenge,
    RefreshToken,
    SecurityEvent,
    User,
)
from tests.helpers import STRONG_PASSWORD, Browser, FakeClock, build, fast_settings, unique_email
from tests.passkey_authenticator import register_passkey, step_up_with_passkey


@pytest.fixture
def env(settings):
    config = fast_settings(settings)
    # A Monday noon: week arithmetic in the stats tests is then easy to follow.
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    app, clock, outbox = build(config, clock=clock)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock = config, app, clock
    e.browser = lambda: Browser(app, config)
    return e


def signed_in(env):
    browser = env.browser()
    email = unique_email()
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    browser.email = email
    browser.user_id = uuid.UUID(browser.request("GET", "/v1/users/me").json["data"]["id"])
    return browser


def create(browser, **fields):
    body = {"company": "Acme", "role_title": "Engineer", **fields}
    result = browser.request("POST", "/v1/applications", json=body)
    assert result.status_code == 201, result.text
    return result.json["data"]


def fields_of(result) -> set[str]:
    assert result.status_code == 422, result.text
    return {detail["field"] for detail in result.json["error"]["details"]}


# ----- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,field",
    [
        ({"role_title": "x"}, "company"),
        ({"company": "x"}, "role_title"),
        ({"company": "", "role_title": "x"}, "company"),
        ({"company": "x" * 201, "role_title": "x"}, "company"),
        ({"company": "x", "role_title": "x" * 201}, "role_title"),
        ({"company": "x", "role_title": "y", "status": "ghosted"}, "status"),
        ({"company": "x", "role_title": "y", "applied_on": "2026-13-01"}, "applied_on"),
        ({"company": "x", "role_title": "y", "job_url": "javascript:alert(1)"}, "job_url"),
        ({"company": "x", "role_title": "y", "job_url": "ftp://example.com/job"}, "job_url"),
        ({"company": "x", "role_title": "y", "salary_min": -1}, "salary_min"),
        ({"company": "x", "role_title": "y", "salary_min": 10, "salary_max": 5}, "salary_max"),
        ({"company": "x", "role_title": "y", "salary_currency": "XYZ"}, "salary_currency"),
        ({"company": "x", "role_title": "y", "notes": "n" * 10_001}, "notes"),
        (
            {"company": "x", "role_title": "y", "next_action_at": "2026-12-01T10:00:00"},
            "next_action_at",
        ),
        ({"company": "x", "role_title": "y", "owner": str(uuid.uuid4())}, "owner"),
        ({"company": "x", "role_title": "y", "archived": "maybe"}, "archived"),
    ],
)
def test_each_invalid_field_is_named(env, body, field):
    browser = signed_in(env)
    assert field in fields_of(browser.request("POST", "/v1/applications", json=body))


def test_create_with_every_field_and_defaults(env):
    browser = signed_in(env)
    minimal = create(browser)
    assert minimal["status"] == "applied" and minimal["archived"] is False
    assert minimal["version"] == 1
    full = create(
        browser,
        status="screening",
        applied_on="2026-11-02",
        job_url="https://jobs.example.com/1",
        location="Lyon",
        source="referral",
        salary_min=50000,
        salary_max=65000,
        salary_currency="eur",
        notes="Met at a meetup",
        next_action_at="2026-11-30T09:00:00+01:00",
    )
    assert full["salary_currency"] == "EUR"
    assert full["next_action_at"] == "2026-11-30T08:00:00Z"


def test_patch_validates_the_merged_salary_range(env):
    browser = signed_in(env)
    data = create(browser, salary_min=100, salary_max=200)
    result = browser.request(
        "PATCH", f"/v1/applications/{data['id']}", json={"salary_max": 50, "version": 1}
    )
    assert fields_of(result) == {"salary_max"}
    null_company = browser.request(
        "PATCH", f"/v1/applications/{data['id']}", json={"company": None, "version": 1}
    )
    assert fields_of(null_company) == {"company"}


# ----- read, update, delete, timeline --------------------------------------------------------


def test_timeline_records_every_status_change_in_the_same_transaction(env):
    browser = signed_in(env)
    data = create(browser, status="applied")
    path = f"/v1/applications/{data['id']}"
    env.clock.advance(minutes=5)
    moved = browser.request(
        "PATCH", path, json={"status": "screening", "status_note": "recruiter call", "version": 1}
    )
    assert moved.status_code == 200 and moved.json["data"]["version"] == 2
    assert moved.headers["etag"] == '"2"'
    browser.request("PATCH", path, json={"notes": "no status change", "version": 2})
    events = browser.request("GET", f"{path}/events").json["data"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "applied"),
        ("applied", "screening"),
    ]
    assert events[1]["note"] == "recruiter call"


def test_stale_version_or_if_match_is_409(env):
    browser = signed_in(env)
    data = create(browser)
    path = f"/v1/applications/{data['id']}"
    assert browser.request("PATCH", path, json={"notes": "a", "version": 1}).status_code == 200
    stale = browser.request("PATCH", path, json={"notes": "b", "version": 1})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "VERSION_CONFLICT"
    stale_header = browser.request("PATCH", path, json={"notes": "b"}, headers={"If-Match": '"1"'})
    assert stale_header.json["error"]["code"] == "VERSION_CONFLICT"
    fresh_header = browser.request("PATCH", path, json={"notes": "b"}, headers={"If-Match": '"2"'})
    assert fresh_header.status_code == 200 and fresh_header.json["data"]["notes"] == "b"
    bad_header = browser.request("PATCH", path, json={"notes": "c"}, headers={"If-Match": "two"})
    assert fields_of(bad_header) == {"If-Match"}


def test_patch_without_version_or_if_match_is_428(env):
    browser = signed_in(env)
    data = create(browser)
    path = f"/v1/applications/{data['id']}"
    result = browser.request("PATCH", path, json={"notes": "blind overwrite"})
    assert result.status_code == 428, result.text
    assert result.json["error"]["code"] == "PRECONDITION_REQUIRED"
    assert browser.request("GET", path).json["data"]["notes"] is None  # nothing was written


def test_if_match_and_version_that_disagree_are_400_not_a_conflict(env):
    browser = signed_in(env)
    data = create(browser)
    path = f"/v1/applications/{data['id']}"
    result = browser.request(
        "PATCH", path, json={"notes": "a", "version": 1}, headers={"If-Match": '"2"'}
    )
    assert result.status_code == 400, result.text
    assert result.json["error"]["code"] == "VERSION_MISMATCH"
    assert "If-Match" in result.json["error"]["message"]
    assert [d["field"] for d in result.json["error"]["details"]] == ["version"]
    agreeing = browser.request(
        "PATCH", path, json={"notes": "a", "version": 1}, headers={"If-Match": '"1"'}
    )
    assert agreeing.status_code == 200 and agreeing.json["data"]["version"] == 2


def test_patch_without_a_body_is_refused_as_the_schema_requires_one(env):
    browser = signed_in(env)
    data = create(browser)
    result = browser.request("PATCH", f"/v1/applications/{data['id']}", headers={"If-Match": '"1"'})
    assert result.status_code == 400, result.text
    assert result.json["error"]["code"] == "BODY_REQUIRED"


def test_null_clears_an_optional_field_and_is_refused_for_a_required_one(env):
    browser = signed_in(env)
    data = create(browser, job_url="https://jobs.example.com/1", archived=True)
    path = f"/v1/applications/{data['id']}"
    cleared = browser.request("PATCH", path, json={"job_url": None, "version": 1})
    assert cleared.status_code == 200 and cleared.json["data"]["job_url"] is None
    for field in ("company", "role_title", "status", "archived"):
        assert fields_of(browser.request("PATCH", path, json={field: None, "version": 2})) == {
            field
        }


@pytest.mark.parametrize("value", [0, 1, "true", "false", None])
def test_archived_is_a_strict_boolean_in_the_body(env, value):
    browser = signed_in(env)
    body = {"company": "Acme", "role_title": "Engineer", "archived": value}
    assert fields_of(browser.request("POST", "/v1/applications", json=body)) == {"archived"}


@pytest.mark.parametrize(
    "query,field",
    [
        ("archived=0", "archived"),
        ("archived=yes", "archived"),
        ("status=", "status.0"),
        ("status=applied,", "status.1"),
        ("cursor=", "cursor"),
    ],
)
def test_query_values_the_schema_refuses_are_refused(env, query, field):
    browser = signed_in(env)
    assert fields_of(browser.request("GET", "/v1/applications", query_string=query)) == {field}


def test_query_booleans_and_repeated_statuses_the_schema_allows_are_accepted(env):
    browser = signed_in(env)
    create(browser, status="offer", archived=True)
    create(browser, status="applied")
    result = browser.request(
        "GET", "/v1/applications", query_string="archived=true&status=offer&status=rejected"
    )
    assert result.status_code == 200, result.text
    assert [item["status"] for item in result.json["data"]] == ["offer"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "https://", "example.com/jobs"])
def test_job_url_must_be_http_or_https_with_a_host(env, url):
    browser = signed_in(env)
    body = {"company": "Acme", "role_title": "Engineer", "job_url": url}
    assert fields_of(browser.request("POST", "/v1/applications", json=body)) == {"job_url"}


def test_delete_removes_the_application_and_its_events(env):
    browser = signed_in(env)
    data = create(browser)
    browser.request(
        "PATCH", f"/v1/applications/{data['id']}", json={"status": "offer", "version": 1}
    )
    assert browser.request("DELETE", f"/v1/applications/{data['id']}").status_code == 204
    assert browser.request("GET", f"/v1/applications/{data['id']}").status_code == 404
    with user_transaction(browser.user_id):
        assert (
            not ApplicationEvent.select().where(ApplicationEvent.application == data["id"]).exists()
        )
    assert browser.request("DELETE", f"/v1/applications/{data['id']}").status_code == 404


def test_another_users_application_is_404_everywhere(env):
    alice, bob = signed_in(env), signed_in(env)
    data = create(alice)
    path = f"/v1/applications/{data['id']}"
    for method, body in (
        ("GET", None),
        ("PATCH", {"notes": "mine now", "version": 1}),
        ("DELETE", None),
    ):
        result = bob.request(method, path, json=body)
        assert result.status_code == 404, method
        assert result.json["error"]["code"] == "NOT_FOUND"
    assert bob.request("GET", f"{path}/events").status_code == 404
    assert alice.request("GET", path).json["data"]["notes"] is None
    listed = alice.request("GET", "/v1/applications").json["data"]
    assert [item["id"] for item in listed] == [data["id"]]
    assert bob.request("GET", "/v1/applications").json["data"] == []


# ----- listing ---------------------------------------------------------------------------------


def test_pagination_has_no_duplicates_or_gaps_while_rows_are_inserted(env):
    browser = signed_in(env)
    created = []
    for index in range(25):
        env.clock.advance(seconds=1)
        created.append(create(browser, company=f"Company {index:02d}")["id"])
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=10" + (f"&cursor={cursor}" if cursor else "")
        result = browser.request("GET", "/v1/applications", query_string=query)
        assert result.status_code == 200
        seen += [item["id"] for item in result.json["data"]]
        pages += 1
        env.clock.advance(seconds=1)
        create(browser, company=f"Inserted while paging {pages}")  # newer: sorts first
        cursor = result.json["meta"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))  # newest first, each exactly once


@pytest.mark.parametrize(
    "sort", ["company", "-company", "applied_on", "-applied_on", "updated_at", "-updated_at"]
)
def test_every_sort_pages_through_in_order(env, sort):
    browser = signed_in(env)
    for index, company in enumerate(["delta", "Alpha", "charlie", "Bravo", "echo", "alpha"]):
        env.clock.advance(seconds=1)
        applied = None if index == 2 else f"2026-0{index + 1}-15"
        create(browser, company=company, applied_on=applied)
    items, cursor = [], None
    while True:
        query = f"limit=4&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
        result = browser.request("GET", "/v1/applications", query_string=query).json
        items += result["data"]
        cursor = result["meta"]["next_cursor"]
        if cursor is None:
            break
    field = sort.lstrip("-")

    def key(item):
        if field == "company":
            return (item["company"].lower(), item["id"])
        if field == "applied_on":
            return (item["applied_on"] or "0001-01-01", item["id"])
        return (item["updated_at"], item["id"])

    assert len(items) == 6
    assert items == sorted(items, key=key, reverse=sort.startswith("-"))


def test_filters_combine(env):
    browser = signed_in(env)
    create(
        browser, company="Globex", status="offer", applied_on="2026-03-01", notes="Remote friendly"
    )
    create(browser, company="Initech", status="rejected", applied_on="2026-05-01")
    create(
        browser, company="Globetrotters", status="applied", applied_on="2026-06-01", archived=True
    )
    create(
        browser,
        company="Umbrella",
        role_title="Globe designer",
        status="screening",
        applied_on="2026-07-01",
    )

    def companies(query):
        result = browser.request("GET", "/v1/applications", query_string=query + "&sort=company")
        assert result.status_code == 200, result.text
        return [item["company"] for item in result.json["data"]]

    assert companies("q=glob") == ["Globetrotters", "Globex", "Umbrella"]
    assert companies("q=remote") == ["Globex"]
    assert companies("status=offer&status=rejected") == ["Globex", "Initech"]
    assert companies("status=offer,screening") == ["Globex", "Umbrella"]
    assert companies("applied_from=2026-04-01&applied_to=2026-06-30") == [
        "Globetrotters",
        "Initech",
    ]
    assert companies("archived=true") == ["Globetrotters"]
    assert companies("archived=false&q=glob") == ["Globex", "Umbrella"]
    assert companies("q=%21%40%23") == []  # punctuation only: no words, nothing matches


@pytest.mark.parametrize(
    "query,field",
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("sort=salary", "sort"),
        ("status=ghosted", "status"),
        ("applied_from=2026-05-01&applied_to=2026-04-01", "applied_to"),
        ("cursor=not-a-cursor", "cursor"),
        ("unknown=1", "unknown"),
    ],
)
def test_bad_list_queries_are_422(env, query, field):
    browser = signed_in(env)
    named = fields_of(browser.request("GET", "/v1/applications", query_string=query))
    assert any(name == field or name.startswith(field + ".") for name in named), named


def test_a_cursor_from_another_sort_is_refused(env):
    browser = signed_in(env)
    for _ in range(3):
        create(browser)
    cursor = browser.request("GET", "/v1/applications", query_string="limit=1").json["meta"][
        "next_cursor"
    ]
    result = browser.request(
        "GET", "/v1/applications", query_string=f"limit=1&sort=company&cursor={cursor}"
    )
    assert fields_of(result) == {"cursor"}


def test_list_page_costs_a_bounded_number_of_queries(env, settings):
    browser = signed_in(env)
    for _ in range(30):
        create(browser)
    counts = {}
    # The connection prepares the statements on its first list request (app/core/database.py).
    assert browser.request("GET", "/v1/applications").status_code == 200
    for limit in (1, 30):
        with count_statements() as statements:
            assert (
                browser.request(
                    "GET", "/v1/applications", query_string=f"limit={limit}"
                ).status_code
                == 200
            )
        counts[limit] = len(statements)
    assert counts[1] == counts[30]
    assert counts[30] <= 2


@contextlib.contextmanager
def count_statements():
    """Counts the SQL statements peewee sends (the pool's ping is not one of them)."""
    import peewee

    statements = []
    original = peewee.Database.execute_sql

    def counting(self, sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = counting
    try:
        yield statements
    finally:
        peewee.Database.execute_sql = original


# ----- stats -----------------------------------------------------------------------------------


def test_stats_counts_and_response_rate(env):
    browser = signed_in(env)
    for status in ["wishlist", "applied", "applied", "screening", "rejected", "offer", "withdrawn"]:
        create(browser, status=status)
    stats = browser.request("GET", "/v1/applications/stats").json["data"]
    assert stats["by_status"] == {
        "wishlist": 1,
        "applied": 2,
        "screening": 1,
        "interviewing": 0,
        "offer": 1,
        "accepted": 0,
        "rejected": 1,
        "withdrawn": 1,
    }
    assert stats["total"] == 7
    assert stats["response_rate"] == 0.6  # 3 past applied / 5 at applied or beyond


def test_response_rate_is_null_without_applications(env):
    stats = signed_in(env).request("GET", "/v1/applications/stats").json["data"]
    assert stats["response_rate"] is None
    assert len(stats["per_week"]) == 12 and all(w["count"] == 0 for w in stats["per_week"])


def test_weeks_are_iso_weeks_and_the_last_twelve(env):
    browser = signed_in(env)  # the clock is Monday 2026-11-23, ISO week 2026-W48
    for day in ["2026-11-23", "2026-11-22", "2026-11-16", "2026-09-07", "2026-08-30", "2025-12-29"]:
        create(browser, applied_on=day)
    weeks = browser.request("GET", "/v1/applications/stats").json["data"]["per_week"]
    assert weeks[0] == {"week": "2026-W37", "starts_on": "2026-09-07", "count": 1}
    assert weeks[-1] == {"week": "2026-W48", "starts_on": "2026-11-23", "count": 1}
    assert weeks[-2] == {"week": "2026-W47", "starts_on": "2026-11-16", "count": 2}
    assert sum(w["count"] for w in weeks) == 4  # 2026-08-30 and 2025-12-29 are outside


def test_week_boundaries_follow_the_requested_time_zone(env):
    # Sunday 2026-11-22 23:30 UTC is already Monday 00:30 in Paris (a new ISO week there).
    env.clock.now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    browser = signed_in(env)
    create(browser)  # no applied_on: counted on its creation day in the requested zone
    env.clock.advance(minutes=10)  # still Sunday in UTC, Monday in Paris

    def last_two(tz):
        result = browser.request("GET", "/v1/applications/stats", query_string=f"tz={tz}")
        weeks = result.json["data"]["per_week"]
        return [(w["week"], w["count"]) for w in weeks[-2:]]

    assert last_two("UTC") == [("2026-W46", 0), ("2026-W47", 1)]
    assert last_two("Europe/Paris") == [("2026-W47", 0), ("2026-W48", 1)]
    bad = browser.request("GET", "/v1/applications/stats", query_string="tz=Mars/Olympus")
    assert fields_of(bad) == {"tz"}


def test_iso_week_numbering_across_the_year_end(env):
    env.clock.now = datetime(2027, 1, 6, 12, tzinfo=UTC)  # a Wednesday in 2027-W01
    browser = signed_in(env)
    create(browser, applied_on="2027-01-03")  # Sunday: still ISO week 2026-W53
    create(browser, applied_on="2027-01-04")  # Monday: 2027-W01
    weeks = browser.request("GET", "/v1/applications/stats").json["data"]["per_week"]
    assert weeks[-1] == {"week": "2027-W01", "starts_on": "2027-01-04", "count": 1}
    assert weeks[-2] == {"week": "2026-W53", "starts_on": "2026-12-28", "count": 1}


# ----- row-level security ----------------------------------------------------------------------


def app_role_connection(settings):
    connection = psycopg2.connect(settings.database_url)
    return contextlib.closing(connection)


def test_raw_sql_as_the_app_role_sees_only_the_user_in_context(env, settings):
    alice, bob = signed_in(env), signed_in(env)
    create(alice, company="Alice Co")
    create(bob, company="Bob Co")
    with app_role_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(bob.user_id),))
        cursor.execute("SELECT company FROM applications")
        assert [row[0] for row in cursor.fetchall()] == ["Bob Co"]
        cursor.execute(
            "SELECT count(*) FROM applications WHERE owner_id = %s", (str(alice.user_id),)
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM application_events WHERE owner_id = %s", (str(alice.user_id),)
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "UPDATE applications SET notes = 'x' WHERE owner_id = %s", (str(alice.user_id),)
        )
        assert cursor.rowcount == 0
        cursor.execute("DELETE FROM applications WHERE owner_id = %s", (str(alice.user_id),))
        assert cursor.rowcount == 0
        connection.rollback()


def test_without_a_user_in_context_nothing_is_visible(env, settings):
    create(signed_in(env))
    with app_role_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM applications")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT set_config('app.user_id', '', false)")  # a reused connection
        cursor.execute("SELECT count(*) FROM applications")
        assert cursor.fetchone() == (0,)


def test_inserting_a_row_for_another_user_is_refused(env, settings):
    alice, bob = signed_in(env), signed_in(env)
    with app_role_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.user_id', %s, true)", (str(bob.user_id),))
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
            cursor.execute(
                "INSERT INTO applications (id, owner_id, company, role_title, status, archived, "
                "created_at, updated_at, version) VALUES (%s, %s, 'x', 'y', 'applied', false, "
                "now(), now(), 1)",
                (str(uuid.uuid4()), str(alice.user_id)),
            )


def test_a_query_that_forgets_its_owner_filter_still_sees_only_the_caller(env):
    alice, bob = signed_in(env), signed_in(env)
    create(alice, company="Alice Co")
    create(bob, company="Bob Co")
    with user_transaction(bob.user_id):
        unfiltered = [row.company for row in Application.select()]  # no owner filter at all
        events = ApplicationEvent.select().count()
    assert unfiltered == ["Bob Co"]
    assert events == 1


def test_fetch_as_user_reads_as_the_caller_in_one_message(env):
    alice, bob = signed_in(env), signed_in(env)
    create(alice, company="Alice Co")
    create(bob, company="Bob Co")
    rows = fetch_as_user(bob.user_id, Application.select(Application.company))
    assert rows == [{"company": "Bob Co"}]  # no owner filter: row-level security alone


def test_the_setting_does_not_outlive_its_transaction(env, settings):
    from app.core.database import db

    bob = signed_in(env)
    create(bob)
    with db.connection_context():
        with user_transaction(bob.user_id):
            assert Application.select().count() == 1
        assert Application.select().count() == 0  # same connection, transaction over


# ----- gates, export and account deletion -----------------------------------------------------


def test_a_forced_password_change_gates_the_applications(env):
    browser = signed_in(env)
    User.update(force_password_change=True).where(User.id == browser.user_id).execute()
    result = browser.request("GET", "/v1/applications")
    assert result.status_code == 403
    assert result.json["error"]["code"] == "PASSWORD_CHANGE_REQUIRED"


def test_export_has_everything_the_user_owns(env):
    browser = signed_in(env)
    first = create(browser, company="One", notes="secret plans")
    create(browser, company="Two")
    browser.request(
        "PATCH", f"/v1/applications/{first['id']}", json={"status": "offer", "version": 1}
    )
    other = signed_in(env)
    create(other, company="Not mine")
    result = browser.request("GET", "/v1/users/me/export")
    assert result.status_code == 200
    assert "attachment" in result.headers["content-disposition"]
    export = result.json["data"]
    assert export["user"]["email"] == browser.email
    by_company = {item["company"]: item for item in export["applications"]}
    assert set(by_company) == {"One", "Two"}
    assert by_company["One"]["notes"] == "secret plans"
    assert [e["to_status"] for e in by_company["One"]["events"]] == ["applied", "offer"]
    assert len(export["sessions"]) == 1
    assert {e["type"] for e in export["security_events"]} >= {"register", "login_succeeded"}
    assert export["second_factors"] == []
    _, passkey = register_passkey(browser, "Laptop")
    register_passkey(other, "Not mine")
    exported = browser.request("GET", "/v1/users/me/export").json["data"]
    # Each factor once, by type, name and dates; never a credential id or a key.
    assert "passkeys" not in exported
    factors = exported["second_factors"]
    assert [(f["type"], f["name"], f["created_at"]) for f in factors] == [
        ("passkey", "Laptop", passkey["created_at"])
    ]
    assert set(factors[0]) == {
        "type",
        "name",
        "created_at",
        "confirmed_at",
        "last_used_at",
        "remaining",
    }


def test_account_deletion_needs_the_password_and_leaves_no_rows(env):
    browser = signed_in(env)
    data = create(browser)
    browser.request(
        "PATCH", f"/v1/applications/{data['id']}", json={"status": "offer", "version": 1}
    )
    authenticator, _ = register_passkey(browser)
    browser.request("POST", "/v1/users/me/mfa/passkeys/options")  # a challenge left open
    step_up_with_passkey(browser, authenticator)  # the account has a second factor now
    wrong = browser.request("DELETE", "/v1/users/me", json={"password": "not-my-password"})
    assert fields_of(wrong) == {"password"}
    done = browser.request("DELETE", "/v1/users/me", json={"password": STRONG_PASSWORD})
    assert done.status_code == 204
    user_id = browser.user_id
    assert not User.select().where(User.id == user_id).exists()
    assert not RefreshToken.select().where(RefreshToken.user == user_id).exists()
    assert not SecurityEvent.select().where(SecurityEvent.user == user_id).exists()
    with user_transaction(user_id):
        assert Application.select().count() == 0
        assert ApplicationEvent.select().count() == 0
        assert Passkey.select().count() == 0
    assert not PasskeyChallenge.select().where(PasskeyChallenge.user == user_id).exists()
    assert browser.request("GET", "/v1/users/me").status_code == 401
    assert env.browser().login(browser.email).status_code == 401


def test_date_fields_round_trip(env):
    browser = signed_in(env)
    data = create(browser, applied_on=date(2026, 2, 28).isoformat())
    assert data["applied_on"] == "2026-02-28"
    fetched = browser.request("GET", f"/v1/applications/{data['id']}").json["data"]
    assert fetched == data
    assert datetime.fromisoformat(fetched["created_at"]) - env.clock.now < timedelta(seconds=1)

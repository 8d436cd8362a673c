"""EMF metrics from real requests through the app (METRICS=emf, chosen by the composition root):
every record parses against the EMF specification, each signal has its declared name, unit and
dimensions, each carries its request's id, and no path or id can become a dimension value."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest

from app.core import metrics
from app.integrations.email import EmailDeliveryError
from app.services import rate_limit
from tests.emf import declared, emf_records, named
from tests.helpers import Browser, build, fast_settings, unique_email

pytestmark = pytest.mark.usefixtures("settings")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emf_settings(settings):
    return fast_settings(settings, metrics="emf", metrics_namespace="JobAppTracker/test")


@pytest.fixture
def built(emf_settings):
    return build(emf_settings)


def served_routes(app) -> list[tuple[str, str]]:
    """(route template, method) for every responder the app's router holds but the CORS
    preflights (every route answers OPTIONS; they are recorded as one route)."""
    pairs = []
    stack = list(app._router._roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.uri_template and node.method_map:
            pairs.extend(
                (node.uri_template, method)
                for method, responder in node.method_map.items()
                if method != "OPTIONS"
                and getattr(responder, "__name__", "") != "method_not_allowed"
            )
    return pairs


def assert_signal(record: dict, metric: metrics.Metric, **dimensions: str) -> None:
    unit, dimension_sets = declared(record, metric.name)
    assert unit == metric.unit
    assert dimension_sets == [list(group) for group in metric.dimension_sets]
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "JobAppTracker/test"
    for name, value in dimensions.items():
        assert record[name] == value


def test_a_sign_in_records_its_request_and_login_with_the_request_id(built, emf_settings, capsys):
    app, _, _ = built
    browser = Browser(app, emf_settings)
    email = unique_email()
    assert browser.register(email).status_code == 201
    capsys.readouterr()
    result = browser.login(email)
    assert result.status_code == 200
    records = emf_records(capsys.readouterr().out)
    request_id = result.headers["X-Request-ID"]
    assert records and all(record["request_id"] == request_id for record in records)
    (request,) = named(records, "Requests")
    assert_signal(
        request, metrics.REQUESTS, Route="/v1/auth/login", Method="POST", StatusClass="2xx"
    )
    assert request["Requests"] == 1
    assert_signal(request, metrics.LATENCY)
    assert request["Latency"] > 0
    (login,) = named(records, "Logins")
    assert_signal(login, metrics.LOGINS, Outcome="succeeded")


def test_failed_and_throttled_logins_are_recorded_by_outcome(built, emf_settings, capsys):
    app, _, _ = built
    browser = Browser(app, emf_settings)
    email = unique_email()
    browser.register(email)
    capsys.readouterr()
    for _ in range(rate_limit.LOGIN_FAILURES_PER_ACCOUNT.limit + 1):
        browser.login(email, "not the password at all")
    records = emf_records(capsys.readouterr().out)
    outcomes = [record["Outcome"] for record in named(records, "Logins")]
    assert outcomes.count("failed") == rate_limit.LOGIN_FAILURES_PER_ACCOUNT.limit
    assert outcomes[-1] == "throttled"
    (refusal,) = named(records, "RateLimitRefusals")
    assert_signal(refusal, metrics.RATE_LIMIT_REFUSALS, Limit="login:account")
    statuses = [record["StatusClass"] for record in named(records, "Requests")]
    assert statuses.count("4xx") == len(outcomes)


def test_rotations_and_reuse_are_recorded(built, emf_settings, capsys):
    app, _, _ = built
    browser = Browser(app, emf_settings)
    email = unique_email()
    browser.register(email)
    browser.login(email)
    stolen = dict(browser.cookies)
    stolen_csrf = browser.csrf
    capsys.readouterr()
    assert browser.refresh().status_code == 200
    (rotation,) = named(emf_records(capsys.readouterr().out), "RefreshRotations")
    assert_signal(rotation, metrics.REFRESH_ROTATIONS)
    assert browser.refresh().status_code == 200  # the child rotates in turn
    capsys.readouterr()
    thief = Browser(app, emf_settings, ip=browser.ip)
    thief.cookies = stolen
    result = thief.refresh(csrf=stolen_csrf)
    assert result.json["error"]["code"] == "REFRESH_TOKEN_REUSED"
    records = emf_records(capsys.readouterr().out)
    (reuse,) = named(records, "RefreshTokenReuse")
    assert_signal(reuse, metrics.REFRESH_REUSE)
    assert reuse["request_id"] == result.headers["X-Request-ID"]
    assert not named(records, "RefreshRotations")


def test_a_request_past_its_database_deadline_is_recorded(settings, capsys):
    emf = fast_settings(
        settings, metrics="emf", metrics_namespace="JobAppTracker/test", db_request_deadline_ms=300
    )
    app, _, _ = build(emf)
    browser = Browser(app, emf)
    blocker = psycopg2.connect(settings.migrations_database_url)
    try:
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            capsys.readouterr()
            result = browser.login(unique_email())
    finally:
        blocker.rollback()
        blocker.close()
    assert result.status_code == 503
    records = emf_records(capsys.readouterr().out)
    (refusal,) = named(records, "DatabaseRefusals")
    assert_signal(refusal, metrics.DATABASE_REFUSALS, Reason="deadline")
    (request,) = named(records, "Requests")
    assert request["StatusClass"] == "5xx"


def test_outbox_sends_failures_and_oldest_age_are_recorded(built, emf_settings, capsys):
    app, clock, outbox = built
    browser = Browser(app, emf_settings)
    email = unique_email()
    browser.register(email)
    outbox.fail_with = EmailDeliveryError("resend", "HTTP 500")
    browser.request("POST", "/v1/auth/password-reset", json={"email": email})
    clock.advance(seconds=90)
    capsys.readouterr()
    assert outbox.drainer.report_oldest_pending() >= 90
    outbox.deliver()
    outbox.fail_with = None
    clock.advance(minutes=5)
    outbox.deliver()
    records = emf_records(capsys.readouterr().out)
    (age,) = named(records, "OutboxOldestPendingAge")
    assert_signal(age, metrics.OUTBOX_OLDEST_AGE)
    assert age["OutboxOldestPendingAge"] >= 90
    assert_signal(named(records, "OutboxFailed")[0], metrics.OUTBOX_FAILED)
    assert_signal(named(records, "OutboxSent")[0], metrics.OUTBOX_SENT)
    assert outbox.drainer.report_oldest_pending() == 0


def test_distinct_paths_and_ids_stay_within_the_route_templates(built, emf_settings, capsys):
    """1,000 requests to distinct paths and ids produce at most (route templates x methods x
    status classes + 1) dimension combinations: an id is never a value, and every path no route
    matches shares one."""
    app, _, _ = built
    browser = Browser(app, emf_settings)
    browser.register(email := unique_email())
    browser.login(email)
    capsys.readouterr()
    for number in range(250):
        some_id = uuid.uuid4()
        browser.request("GET", f"/v1/applications/{some_id}")
        browser.request("DELETE", f"/v1/applications/{some_id}")
        browser.request("GET", f"/no-such-path/{number}/{some_id}")
        browser.request("PUT", f"/v1/applications/{some_id}")  # no PUT responder: 405
    records = named(emf_records(capsys.readouterr().out), "Requests")
    assert len(records) == 1000
    combinations = {(r["Route"], r["Method"], r["StatusClass"]) for r in records}
    templates = {template for template, _ in served_routes(app)}
    bound = len(templates) * len(metrics.METHODS) * len(metrics.STATUS_CLASSES) + 1
    assert len(combinations) <= bound
    assert combinations == {
        ("/v1/applications/{application_id:uuid}", "GET", "4xx"),
        ("/v1/applications/{application_id:uuid}", "DELETE", "4xx"),
        ("unmatched", "ANY", "4xx"),  # every unknown path and the refused method
    }


def test_metrics_off_writes_no_record_and_installs_no_middleware(settings, capsys):
    app, _, _ = build(fast_settings(settings))
    browser = Browser(app, settings)
    capsys.readouterr()
    browser.login(unique_email())
    assert emf_records(capsys.readouterr().out) == []
    assert not any(
        type(m).__name__ == "RequestMetricsMiddleware" for m in app._unprepared_middleware
    )


def test_rate_limit_names_are_the_declared_dimension_values():
    limits = {
        value.name for value in vars(rate_limit).values() if isinstance(value, rate_limit.Limit)
    }
    assert limits == set(metrics.RATE_LIMIT_NAMES)


def test_docs_state_the_cap_the_code_allows(built):
    """docs/cost.md states the number of metric x dimension combinations one stack can create,
    computed from the declarations and the routes the app serves."""
    app, _, _ = built
    pairs = served_routes(app)
    assert {method for _, method in pairs} <= set(metrics.METHODS)
    cap = metrics.combinations_cap(len(pairs))
    text = (ROOT / "docs" / "cost.md").read_text()
    assert f"{len(pairs)} (route template, method) pairs" in text.replace("\n", " ")
    assert f"at most **{cap:,}** metric x dimension combinations" in text.replace("\n", " ")


def test_operations_doc_describes_every_declared_metric():
    text = (ROOT / "docs" / "operations.md").read_text()
    for metric in metrics.METRICS:
        assert f"| `{metric.name}` | {metric.unit} |" in text, metric.name

"""EMF metrics from real Lambda handler invocations (METRICS=emf): each record is a raw line on
stdout that parses against the EMF specification at its root, never a logging record (which a
Lambda's JSON log format wraps in ``message``, where CloudWatch extracts nothing), with the
declared names, units and dimensions; the scan-result Lambda logs the attachment, key and version
with its invocation's request id."""

from __future__ import annotations

import json
import secrets
import types

import pytest
from moto import mock_aws

from app import bootstrap
from app.core import metrics
from app.core.database import init_database
from app.integrations.storage import S3Storage
from app.jobs import db_admin, maintenance, scan_result, slack_notify
from tests.api.test_attachments import (  # noqa: F401 - fixtures
    BUCKET,
    Outbox,
    app_s3,
    moto_server,
    s3_client,
    s3_env,
    scan_event,
    uploaded_and_completed,
)
from tests.emf import declared, emf_records, named
from tests.helpers import fast_settings
from tests.unit.test_db_admin_job import lambda_environment
from tests.unit.test_slack_notify import EVENT, slack  # noqa: F401 - fixture


def invocation() -> types.SimpleNamespace:
    """The part of Lambda's context object the handlers read."""
    return types.SimpleNamespace(aws_request_id=secrets.token_hex(16))


def assert_signal(record: dict, metric: metrics.Metric, **dimensions) -> None:
    unit, dimension_sets = declared(record, metric.name)
    assert unit == metric.unit
    assert dimension_sets == [list(group) for group in metric.dimension_sets]
    for name, value in dimensions.items():
        assert record[name] == value


def test_scan_results_are_recorded_and_logged_with_the_object(s3_env, monkeypatch, capsys):  # noqa: F811
    browser, attachment = uploaded_and_completed(s3_env)
    settings = fast_settings(s3_env.settings, metrics="emf")
    job = bootstrap.scan_result_job(
        settings,
        clock=s3_env.clock,
        storage=S3Storage(BUCKET, s3_env.app_s3),
        notifier=s3_env.notifier,
    )
    monkeypatch.setattr(scan_result, "cold_start", lambda: job)
    context = invocation()
    capsys.readouterr()
    try:
        event = scan_event(attachment.storage_key, attachment.version_id, "THREATS_FOUND")
        assert scan_result.handler(event, context)["status"] == "infected"
        failed = scan_event(attachment.storage_key, attachment.version_id, "FAILED")
        scan_result.handler(failed, context)
    finally:
        init_database(s3_env.settings.database_url, s3_env.settings)
    out = capsys.readouterr().out
    records = emf_records(out)
    statuses = [record["Status"] for record in named(records, "ScanResults")]
    assert statuses == ["THREATS_FOUND", "FAILED"]
    assert_signal(named(records, "ScanResults")[0], metrics.SCAN_RESULTS)
    (infected,) = named(records, "InfectedFiles")
    assert_signal(infected, metrics.INFECTED_FILES)
    (failed_scan,) = named(records, "FailedScans")
    assert_signal(failed_scan, metrics.FAILED_SCANS)
    assert all(record["request_id"] == context.aws_request_id for record in records)
    done = [
        json.loads(line)
        for line in out.splitlines()
        if line.startswith("{") and '"scan_event_done"' in line
    ]
    assert done[0]["attachment"] == str(attachment.id)
    assert done[0]["key"] == attachment.storage_key
    assert done[0]["version_id"] == attachment.version_id
    assert done[0]["request_id"] == context.aws_request_id


def test_maintenance_records_purges_by_kind_and_reminders(s3_env, monkeypatch, capsys):  # noqa: F811
    settings = fast_settings(s3_env.settings, metrics="emf")
    job = bootstrap.maintenance_job(
        settings,
        clock=s3_env.clock,
        storage=S3Storage(BUCKET, s3_env.app_s3),
        notifier=s3_env.notifier,
        email_sender=Outbox(),
    )
    monkeypatch.setattr(maintenance, "cold_start", lambda: job)
    capsys.readouterr()
    try:
        counts = maintenance.handler({}, invocation())
    finally:
        init_database(s3_env.settings.database_url, s3_env.settings)
    records = emf_records(capsys.readouterr().out)
    purges = named(records, "MaintenancePurges")
    assert {record["Kind"]: record["MaintenancePurges"] for record in purges} == {
        kind: counts[kind] for kind in maintenance.PURGE_COUNTS
    }
    assert_signal(purges[0], metrics.MAINTENANCE_PURGES)
    (reminders,) = named(records, "PasswordReminders")
    assert_signal(reminders, metrics.PASSWORD_REMINDERS)
    assert reminders["PasswordReminders"] == counts["password_reminders_sent"]


def test_slack_deliveries_and_failures_are_recorded(slack, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setattr(
        slack_notify, "cold_start", bootstrap.ColdStart("slack_notify", bootstrap.slack_notify_job)
    )
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook)
    monkeypatch.delenv("SLACK_WEBHOOK_URL_SECRET_ARN", raising=False)
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("METRICS", "emf")
    capsys.readouterr()
    assert slack_notify.handler(EVENT, invocation()) == {"status": 200}
    slack.status = 500
    with pytest.raises(slack_notify.SlackDeliveryError):
        slack_notify.handler(EVENT, invocation())
    records = emf_records(capsys.readouterr().out)
    (delivered,) = named(records, "SlackDeliveries")
    assert_signal(delivered, metrics.SLACK_DELIVERIES)
    (failed,) = named(records, "SlackFailures")
    assert_signal(failed, metrics.SLACK_FAILURES)


def test_db_admin_records_the_migrations_it_applied(local_pg, monkeypatch, capsys):
    name = "emf" + secrets.token_hex(3)
    local_pg.create_database(name)
    with mock_aws():
        import boto3

        client = boto3.client("secretsmanager", region_name="eu-west-1")
        for key, value in lambda_environment(local_pg, client, name, name).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("METRICS", "emf")
        monkeypatch.setattr(
            db_admin, "cold_start", bootstrap.ColdStart("db_admin", bootstrap.db_admin_job)
        )
        capsys.readouterr()
        first = db_admin.handler({}, invocation())
        db_admin.handler({}, invocation())
    applied = [
        record["MigrationsApplied"]
        for record in named(emf_records(capsys.readouterr().out), "MigrationsApplied")
    ]
    assert applied == [len(first["applied"]), 0] and applied[0] > 0

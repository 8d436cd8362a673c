"""The db-admin Lambda against real PostgreSQL, with its secrets in (moto) Secrets Manager."""

from __future__ import annotations

import json
import secrets

import boto3
import psycopg2
import pytest
from moto import mock_aws

from app.core.local_postgres import ADMIN_USER
from app.core.migrations import MIGRATIONS_DIR
from app.core.settings import Settings
from app.jobs import db_admin

ALL_MIGRATIONS = sorted(path.stem for path in MIGRATIONS_DIR.glob("[0-9]*.py"))


@pytest.fixture
def aws_secrets():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


def lambda_environment(local_pg, client, database: str, prefix: str) -> dict[str, str]:
    """What the Pulumi program gives the function: ARNs, never secret values."""
    master = client.create_secret(
        Name=f"{prefix}/master",
        SecretString=json.dumps(
            {"username": ADMIN_USER, "password": local_pg.credentials.admin_password}
        ),
    )["ARN"]
    env = {
        "APP_ENV": "test",
        "AWS_REGION": "eu-west-1",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(local_pg.port),
        "DB_NAME": database,
        "DB_SSLMODE": "disable",
        "DB_MASTER_SECRET_ARN": master,
    }
    for kind in ("migrator", "app", "jobs"):
        env[f"DB_{kind.upper()}_USER"] = f"{prefix}_{kind}"
        env[f"DB_{kind.upper()}_PASSWORD_SECRET_ARN"] = client.create_secret(
            Name=f"{prefix}/{kind}", SecretString=secrets.token_urlsafe(16)
        )["ARN"]
    return env


def test_bootstraps_and_migrates_then_changes_nothing_on_a_second_run(local_pg, aws_secrets):
    name = "lambda" + secrets.token_hex(3)
    local_pg.create_database(name)
    env = lambda_environment(local_pg, aws_secrets, name, name)
    assert not any(key.endswith("_PASSWORD") for key in env)  # only ARNs reach the function
    config = Settings.from_env(env, component="db_admin")
    fetch = lambda arn: aws_secrets.get_secret_value(SecretId=arn)["SecretString"]  # noqa: E731

    first = db_admin.run(config, "migrate", fetch)
    assert first["applied"] == ALL_MIGRATIONS
    assert first["roles"][0] == f"created role {name}_migrator"

    second = db_admin.run(config, "migrate", fetch)
    assert second["applied"] == []
    assert second["roles"][0] == f"altered role {name}_migrator"

    status = db_admin.run(config, "status", fetch)
    assert status["pending"] == [] and status["applied"] == ALL_MIGRATIONS

    connection = psycopg2.connect(config.database_url)  # the app role can log in
    connection.close()


def test_production_db_admin_requires_the_master_secret_and_role_passwords():
    with pytest.raises(Exception) as caught:
        Settings.from_env({"APP_ENV": "production", "DB_SSLMODE": "require"}, component="db_admin")
    message = str(caught.value)
    for name in (
        "DB_HOST",
        "DB_MASTER_SECRET_ARN",
        "DB_MIGRATOR_PASSWORD",
        "DB_APP_PASSWORD",
        "DB_JOBS_PASSWORD",
    ):
        assert name in message


def test_unknown_action_is_an_error(local_pg):
    config = Settings.from_env({"DB_HOST": "127.0.0.1"}, component="db_admin")
    with pytest.raises(ValueError, match="unknown action"):
        db_admin.run(config, "drop-everything", lambda arn: "")

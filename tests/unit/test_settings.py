"""Each configuration rule of app/core/settings.py, one behaviour per test."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from app.core.settings import RDS_CA_BUNDLE, Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]
GOOD_SECRET = "s" * 40


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "APP_ENV": "production",
        "DB_HOST": "db.internal",
        "DB_NAME": "jobapptracker",
        "DB_SSLROOTCERT": str(ca),
        "DB_APP_USER": "jat_app",
        "DB_APP_PASSWORD": "app-password",
        "JWT_SECRET": GOOD_SECRET,
        "FRONTEND_URL": "https://app.example.com",
        "API_URL": "https://api.example.com",
        "EMAIL_PROVIDER": "resend",
        "FROM_EMAIL": "noreply@example.com",
        "RESEND_API_KEY": "re_key",
        "STORAGE_BACKEND": "s3",
        "SCANNER": "guardduty",
        "UPLOADS_BUCKET": "uploads",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def problems_of(env: dict[str, str], **kwargs) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, **kwargs)
    return caught.value.problems


def test_development_defaults_need_nothing():
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert settings.uses_embedded_database
    assert settings.password_min_length == 14
    assert settings.password_max_age_days == 90
    assert settings.email_provider == "resend"


def test_role_urls_use_each_roles_credentials():
    settings = Settings.from_env(
        {
            "DB_HOST": "db",
            "DB_APP_PASSWORD": "a p@ss",
            "DB_MIGRATOR_PASSWORD": "mig",
            "DB_JOBS_PASSWORD": "jobs",
        }
    )
    assert settings.database_url.startswith(
        "postgresql://jat_app:a%20p%40ss@db:5432/jobapptracker?"
    )
    assert settings.migrations_database_url.startswith("postgresql://jat_migrator:mig@db:5432/")
    assert settings.jobs_database_url.startswith("postgresql://jat_jobs:jobs@db:5432/")


@pytest.mark.parametrize("legacy", ["DB_USER", "DB_PASSWORD"])
def test_legacy_database_variables_are_rejected_with_the_replacements(legacy):
    problems = problems_of({legacy: "x"})
    assert len(problems) == 1
    for replacement in ("DB_APP_USER", "DB_APP_PASSWORD", "DB_MIGRATOR_USER", "DB_JOBS_USER"):
        assert replacement in problems[0]


def test_production_with_everything_set_starts(tmp_path):
    settings = Settings.from_env(production_env(tmp_path))
    assert settings.db_sslmode == "verify-full"
    assert "sslmode=verify-full" in settings.database_url


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_production_refuses_weak_sslmode(tmp_path, mode):
    problems = problems_of(production_env(tmp_path, DB_SSLMODE=mode))
    assert any("DB_SSLMODE" in problem for problem in problems)


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_production_accepts_strict_sslmode(tmp_path, mode):
    assert Settings.from_env(production_env(tmp_path, DB_SSLMODE=mode)).db_sslmode == mode


def test_production_verify_full_defaults_to_the_rds_bundle(tmp_path):
    env = production_env(tmp_path)
    del env["DB_SSLROOTCERT"]
    if RDS_CA_BUNDLE.is_file():
        assert Settings.from_env(env).db_sslrootcert == str(RDS_CA_BUNDLE)
    else:
        assert any(str(RDS_CA_BUNDLE) in problem for problem in problems_of(env))


def test_production_lists_every_problem_in_one_message(tmp_path):
    env = production_env(tmp_path, DB_HOST=None, JWT_SECRET="short", FROM_EMAIL=None)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert "DB_HOST is required" in message
    assert "JWT_SECRET must be at least 32 bytes" in message
    assert "FROM_EMAIL is required" in message
    assert len(caught.value.problems) == 3


def test_production_urls_must_be_https(tmp_path):
    env = production_env(
        tmp_path, FRONTEND_URL="http://app.example.com", API_URL="http://api.example.com"
    )
    assert problems_of(env) == [
        "FRONTEND_URL must use https in production",
        "API_URL must use https in production",
    ]


def test_short_jwt_secret_is_refused_even_outside_production():
    assert any("JWT_SECRET" in p for p in problems_of({"JWT_SECRET": "too-short"}))


def test_each_entrypoint_checks_only_what_it_needs(tmp_path):
    jobs_env = {
        "APP_ENV": "production",
        "DB_HOST": "db",
        "DB_NAME": "jat",
        "DB_SSLROOTCERT": production_env(tmp_path)["DB_SSLROOTCERT"],
        "DB_JOBS_USER": "jat_jobs",
        "DB_JOBS_PASSWORD": "pw",
        "UPLOADS_BUCKET": "uploads",
        "STORAGE_BACKEND": "s3",
        "SCANNER": "guardduty",
    }
    # The scan-result job needs no JWT key, frontend URL or email provider.
    assert Settings.from_env(jobs_env, component="scan_result").db_jobs_user == "jat_jobs"
    # The API with the same environment is missing its own requirements, all named.
    problems = problems_of(jobs_env, component="api")
    for name in ("DB_APP_PASSWORD", "JWT_SECRET", "FRONTEND_URL", "API_URL"):
        assert any(name in problem for problem in problems)
    slack = problems_of({"APP_ENV": "production"}, component="slack_notify")
    assert slack == ["SLACK_WEBHOOK_URL (or SLACK_WEBHOOK_URL_SECRET_ARN) is required"]


def test_console_email_is_refused_in_production(tmp_path):
    problems = problems_of(production_env(tmp_path, EMAIL_PROVIDER="console"))
    assert any("console" in problem for problem in problems)


def test_smtp_is_an_alias_of_gmail():
    assert Settings.from_env({"EMAIL_PROVIDER": "smtp"}).email_provider == "gmail"


def test_unknown_email_provider_is_refused():
    assert any("EMAIL_PROVIDER" in p for p in problems_of({"EMAIL_PROVIDER": "pigeon"}))


def test_resend_needs_its_key_and_sender_in_production(tmp_path):
    problems = problems_of(production_env(tmp_path, RESEND_API_KEY=None, FROM_EMAIL=None))
    assert any("RESEND_API_KEY" in p for p in problems)
    assert any("FROM_EMAIL" in p for p in problems)


def test_bad_numbers_and_booleans_are_reported_not_ignored():
    problems = problems_of({"DB_PORT": "five", "RATE_LIMITER_FAIL_CLOSED": "maybe"})
    assert any("DB_PORT=five" in p for p in problems)
    assert any("RATE_LIMITER_FAIL_CLOSED=maybe" in p for p in problems)


def test_email_verification_is_read_on_every_use():
    environ = {"EMAIL_VERIFICATION_ENABLED": "false"}
    settings = Settings.from_env(environ)
    assert settings.email_verification_enabled() is False
    environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    assert settings.email_verification_enabled() is True


def test_samesite_lax_is_refused_when_frontend_and_api_are_cross_site():
    problems = problems_of(
        {"FRONTEND_URL": "https://app.example.com", "API_URL": "https://api.other.net"}
    )
    assert any("REFRESH_COOKIE_SAMESITE=Lax cannot work" in p for p in problems)


def test_samesite_lax_is_accepted_on_one_site():
    settings = Settings.from_env(
        {"FRONTEND_URL": "https://app.example.com", "API_URL": "https://api.example.com"}
    )
    assert settings.refresh_cookie_samesite == "Lax"


def test_samesite_none_is_the_cross_site_fallback():
    settings = Settings.from_env(
        {
            "FRONTEND_URL": "https://app.example.com",
            "API_URL": "https://api.other.net",
            "REFRESH_COOKIE_SAMESITE": "None",
        }
    )
    assert settings.refresh_cookie_samesite == "None"


@mock_aws
def test_secrets_arrive_as_secret_arns_and_are_resolved_at_start():
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(Name="jat/jwt", SecretString=GOOD_SECRET)["ARN"]
    db_arn = client.create_secret(Name="jat/db-jobs", SecretString='{"password": "pw-json"}')["ARN"]
    settings = Settings.from_env(
        {"JWT_SECRET_ARN": arn, "DB_JOBS_PASSWORD_SECRET_ARN": db_arn, "AWS_REGION": "eu-west-1"}
    )
    assert settings.jwt_secret == GOOD_SECRET
    assert settings.db_jobs_password == "pw-json"


@mock_aws
def test_an_unreadable_secret_arn_is_a_named_problem():
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jat/missing-AbCdEf"
    problems = problems_of({"JWT_SECRET_ARN": missing, "AWS_REGION": "eu-west-1"})
    assert problems == [
        "JWT_SECRET_ARN could not be read from Secrets Manager (ResourceNotFoundException)"
    ]


def test_a_secret_given_both_ways_is_refused():
    problems = problems_of({"JWT_SECRET": GOOD_SECRET, "JWT_SECRET_ARN": "arn:aws:x"})
    assert problems == ["set either JWT_SECRET or JWT_SECRET_ARN, not both"]


def test_secrets_never_appear_in_repr():
    settings = Settings.from_env({"JWT_SECRET": GOOD_SECRET, "DB_APP_PASSWORD": "pw-123"})
    assert GOOD_SECRET not in repr(settings)


def test_env_example_lists_every_variable_settings_reads():
    source = (REPO / "app" / "core" / "settings.py").read_text()
    read = set(re.findall(r'reader\.\w+\(\s*"([A-Z0-9_]+)"', source))
    read |= set(
        re.findall(r'"([A-Z][A-Z0-9_]+)",?\n', source.split("SECRET_NAMES = (")[1].split(")")[0])
    )
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    undocumented = {name for name in read if name not in listed}
    assert read, "no variables found in settings.py"
    assert undocumented == set()
    for line in example.splitlines():
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            assert "#" in line, f"{line.split('=')[0]} has no comment"


def test_nothing_outside_settings_reads_the_environment():
    offenders = []
    for path in (REPO / "app").rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        if re.search(r"os\.environ|os\.getenv|getenv\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []

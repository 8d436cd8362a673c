"""Each configuration rule of app/core/settings.py, one behaviour per test."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from app.core.settings import (
    RDS_CA_BUNDLE,
    SECRET_NAMES,
    VARIABLES,
    GmailEmailConfig,
    LocalStorageConfig,
    ResendEmailConfig,
    RolePasswords,
    S3StorageConfig,
    SesEmailConfig,
    Settings,
    SettingsError,
    env_example,
)

REPO = Path(__file__).resolve().parents[2]
GOOD_SECRET = "Zr8kQ2vLx9Tn4Wb7Yc1Hd6Jf3Mg5Ps0Ue-Ai_Eo"
GOOD_MFA_KEY = "mK4tY8wQ1zR6vB3nJ9cX2hL7fD5gS0pA-eU_iO"


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
        "MFA_ENCRYPTION_KEY": GOOD_MFA_KEY,
        "FRONTEND_URL": "https://app.example.com",
        "API_URL": "https://api.example.com",
        "EMAIL_PROVIDER": "resend",
        "FROM_EMAIL": "noreply@example.com",
        "RESEND_API_KEY": "re_key",
        "STORAGE_BACKEND": "s3",
        "SCANNER": "guardduty",
        "UPLOADS_BUCKET": "uploads",
        "TRUSTED_PROXY_HOPS": "1",
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


def test_responses_are_checked_everywhere_but_production_unless_told(tmp_path):
    assert Settings.from_env({}).check_responses is True
    assert Settings.from_env({"CHECK_RESPONSES": "false"}).check_responses is False
    assert Settings.from_env(production_env(tmp_path)).check_responses is False
    checked = production_env(tmp_path, CHECK_RESPONSES="true")
    assert Settings.from_env(checked).check_responses is True


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
    assert "JWT_SECRET is low in variety" in message
    assert len(caught.value.problems) == 4


# Each unsafe production value, with the words its problem must carry.
UNSAFE_IN_PRODUCTION = {
    "JWT_SECRET": ("s" * 40, "JWT_SECRET is low in variety"),
    "JWT_PREVIOUS_SECRET": ("0123456789abcdef" * 3, "JWT_PREVIOUS_SECRET is low in variety"),
    "MFA_ENCRYPTION_KEY": ("m" * 40, "MFA_ENCRYPTION_KEY is low in variety"),
    "ACCESS_TOKEN_TTL_SECONDS": ("3601", "ACCESS_TOKEN_TTL_SECONDS=3601 is over 3600"),
    "REFRESH_TOKEN_TTL_DAYS": ("91", "REFRESH_TOKEN_TTL_DAYS=91 is over 90"),
    "ARGON2_MEMORY_KIB": ("12287", "ARGON2_MEMORY_KIB=12287 with ARGON2_TIME_COST=3 is weaker"),
    "PASSWORD_MIN_LENGTH": ("11", "PASSWORD_MIN_LENGTH=11 is under 12"),
    "RATE_LIMIT_SCALE": ("2", "RATE_LIMIT_SCALE=2 loosens every rate limit"),
    "LOG_LEVEL": ("DEBUG", "LOG_LEVEL=DEBUG is refused"),
    "DB_STATEMENT_TIMEOUT_MS": ("0", "DB_STATEMENT_TIMEOUT_MS=0 disables"),
    "MAX_REQUEST_BYTES": (str(10 * 1024 * 1024 + 1), "MAX_REQUEST_BYTES=10485761 is over"),
    "UPLOAD_MAX_BYTES": (str(1024**3 + 1), "UPLOAD_MAX_BYTES=1073741825 is over"),
    "RESEND_API_URL": ("http://api.resend.com", "RESEND_API_URL must use https"),
    "SLACK_WEBHOOK_URL": ("http://hooks.example.com/x", "SLACK_WEBHOOK_URL must use https"),
    "TRUSTED_PROXY_HOPS": (None, "TRUSTED_PROXY_HOPS is required in production"),
}


def test_production_refuses_every_unsafe_value_in_one_message(tmp_path):
    overrides = {name: value for name, (value, _) in UNSAFE_IN_PRODUCTION.items()}
    problems = problems_of(production_env(tmp_path, **overrides))
    for _, expected in UNSAFE_IN_PRODUCTION.values():
        assert sum(expected in problem for problem in problems) == 1, expected
    assert len(problems) == len(UNSAFE_IN_PRODUCTION)


@pytest.mark.parametrize("name", sorted(UNSAFE_IN_PRODUCTION))
def test_each_unsafe_value_alone_is_refused_in_production(tmp_path, name):
    value, expected = UNSAFE_IN_PRODUCTION[name]
    problems = problems_of(production_env(tmp_path, **{name: value}))
    assert len(problems) == 1 and expected in problems[0]


@pytest.mark.parametrize(
    "name", sorted(set(UNSAFE_IN_PRODUCTION) - {"JWT_SECRET", "MFA_ENCRYPTION_KEY"})
)
def test_the_same_values_are_accepted_outside_production(name):
    value, _ = UNSAFE_IN_PRODUCTION[name]
    Settings.from_env({} if value is None else {name: value})


@pytest.mark.parametrize(
    "memory, iterations", [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5), (65536, 3)]
)
def test_owasp_argon2id_configurations_are_accepted_in_production(tmp_path, memory, iterations):
    env = production_env(tmp_path, ARGON2_MEMORY_KIB=str(memory), ARGON2_TIME_COST=str(iterations))
    assert Settings.from_env(env).argon2_memory_kib == memory


@pytest.mark.parametrize("memory, iterations", [(47103, 1), (19455, 2), (9215, 4), (12287, 2)])
def test_argon2id_below_every_owasp_configuration_is_refused(tmp_path, memory, iterations):
    env = production_env(tmp_path, ARGON2_MEMORY_KIB=str(memory), ARGON2_TIME_COST=str(iterations))
    assert any("weaker than every OWASP argon2id" in p for p in problems_of(env))


@pytest.mark.parametrize(
    "secret",
    [
        "abcdefghijklmnopqrst" * 2,  # 20 distinct characters, repeated
        "ab" * 20,
        "aAbBcCdDeEfFgG" + "x" * 30,  # 15 distinct characters, one short of the floor
    ],
)
def test_low_variety_secrets_are_refused_in_production(tmp_path, secret):
    problems = problems_of(production_env(tmp_path, JWT_SECRET=secret))
    assert any("JWT_SECRET is low in variety" in p for p in problems)


def test_previous_secret_equal_to_the_current_one_is_refused(tmp_path):
    problems = problems_of(production_env(tmp_path, JWT_PREVIOUS_SECRET=GOOD_SECRET))
    assert problems == ["JWT_PREVIOUS_SECRET equals JWT_SECRET: a rotation needs a new secret"]


def test_production_refuses_an_api_without_the_mfa_key_among_every_other_problem(tmp_path):
    env = production_env(tmp_path, MFA_ENCRYPTION_KEY=None, DB_HOST=None)
    problems = problems_of(env)
    assert "MFA_ENCRYPTION_KEY (or MFA_ENCRYPTION_KEY_SECRET_ARN) is required" in problems
    assert "DB_HOST is required" in problems
    assert len(problems) == 2
    # Only the API holds it: the jobs start without it.
    jobs = production_env(tmp_path, MFA_ENCRYPTION_KEY=None, DB_JOBS_USER="j", DB_JOBS_PASSWORD="p")
    assert Settings.from_env(jobs, component="scan_result").mfa_encryption_key is None


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"MFA_ENCRYPTION_KEY": "Ab1-" * 7}, "MFA_ENCRYPTION_KEY must be at least 32 characters"),
        (
            {"MFA_PREVIOUS_ENCRYPTION_KEY": "Ab1-" * 7},
            "MFA_PREVIOUS_ENCRYPTION_KEY must be at least 32 characters",
        ),
        (
            {"MFA_PREVIOUS_ENCRYPTION_KEY": GOOD_MFA_KEY},
            "MFA_ENCRYPTION_KEY must be a key of its own",
        ),
        ({"MFA_ENCRYPTION_KEY": GOOD_SECRET}, "MFA_ENCRYPTION_KEY must be a key of its own"),
    ],
)
def test_mfa_keys_are_checked(tmp_path, overrides, expected):
    assert any(expected in p for p in problems_of(production_env(tmp_path, **overrides)))


def test_the_mfa_keys_are_secrets():
    settings = Settings.from_env({"MFA_ENCRYPTION_KEY": GOOD_MFA_KEY})
    assert GOOD_MFA_KEY not in repr(settings)
    assert {"MFA_ENCRYPTION_KEY", "MFA_PREVIOUS_ENCRYPTION_KEY"} <= set(SECRET_NAMES)


def test_trusted_proxy_hops_defaults_to_zero_outside_production():
    assert Settings.from_env({}).trusted_proxy_hops == 0
    assert Settings.from_env({"APP_ENV": "test"}).trusted_proxy_hops == 0


def test_trusted_proxy_hops_given_explicitly_in_production_is_kept(tmp_path):
    for hops in ("0", "1", "2"):
        env = production_env(tmp_path, TRUSTED_PROXY_HOPS=hops)
        assert Settings.from_env(env).trusted_proxy_hops == int(hops)


def test_trusted_proxy_hops_is_the_apis_requirement_only(tmp_path):
    jobs_env = production_env(
        tmp_path, TRUSTED_PROXY_HOPS=None, DB_JOBS_USER="jat_jobs", DB_JOBS_PASSWORD="pw"
    )
    assert Settings.from_env(jobs_env, component="scan_result").trusted_proxy_hops == 0


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


@pytest.mark.parametrize(
    "frontend, api",
    [
        ("https://a.co.uk", "https://b.co.uk"),
        ("https://alice.github.io", "https://bob.github.io"),
        ("https://app.example.com", "http://api.example.com"),
        ("https://10.0.0.1", "https://10.0.0.2"),
    ],
)
def test_public_suffixes_separate_sites(frontend, api):
    problems = problems_of({"FRONTEND_URL": frontend, "API_URL": api})
    assert any("REFRESH_COOKIE_SAMESITE=Lax cannot work" in p for p in problems)


@pytest.mark.parametrize(
    "frontend, api",
    [
        ("https://www.shop.co.uk", "https://api.shop.co.uk"),
        ("http://localhost:5173", "http://localhost:8000"),
        ("https://app.example.com", "https://example.com"),
    ],
)
def test_one_registrable_domain_is_one_site(frontend, api):
    settings = Settings.from_env({"FRONTEND_URL": frontend, "API_URL": api})
    assert settings.cross_site is False


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


def test_env_example_is_what_the_declarations_say():
    """Every variable, its default, bounds and help come from one declaration each; the
    committed .env.example shows exactly those."""
    committed = (REPO / ".env.example").read_text()
    assert committed == env_example(), (
        ".env.example differs from the declarations in app/core/settings.py: regenerate it with "
        "python -m app.core.settings > .env.example"
    )


def test_env_example_lists_every_variable_settings_reads():
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert set(VARIABLES) == listed
    assert {"JWT_SECRET", "DB_APP_PASSWORD", "SLACK_WEBHOOK_URL"} <= set(SECRET_NAMES)
    for line in example.splitlines():
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            assert "#" in line, f"{line.split('=')[0]} has no comment"


# Each whole-number variable's bounds, written out here so that loosening one in its
# declaration is noticed.
WHOLE_NUMBER_BOUNDS = {
    "PORT": (1, None),
    "WEB_CONCURRENCY": (1, None),
    "GUNICORN_THREADS": (1, None),
    "MAX_REQUEST_BYTES": (1024, None),
    "DB_PORT": (1, None),
    "DB_POOL_SIZE": (1, None),
    "DB_CONNECT_TIMEOUT": (1, None),
    "DB_STATEMENT_TIMEOUT_MS": (0, None),
    "DB_REQUEST_DEADLINE_MS": (100, None),
    "READY_TIMEOUT_SECONDS": (1, None),
    "ACCESS_TOKEN_TTL_SECONDS": (60, None),
    "REFRESH_TOKEN_TTL_DAYS": (1, None),
    "REFRESH_GRACE_SECONDS": (0, 60),
    "PASSWORD_MIN_LENGTH": (8, None),
    "PASSWORD_MAX_AGE_DAYS": (0, None),
    "ARGON2_TIME_COST": (1, None),
    "ARGON2_MEMORY_KIB": (7168, None),
    "ARGON2_PARALLELISM": (1, None),
    "HASH_CONCURRENCY": (1, None),
    "HASH_WAIT_SECONDS": (1, None),
    "RATE_LIMIT_SCALE": (1, None),
    "TRUSTED_PROXY_HOPS": (0, None),
    "SMTP_PORT": (1, None),
    "OUTBOX_POLL_SECONDS": (1, None),
    "OUTBOX_MAX_ATTEMPTS": (1, None),
    "OUTBOX_RETRY_BASE_SECONDS": (1, None),
    "OUTBOX_LEASE_SECONDS": (15, None),
    "UPLOAD_MAX_BYTES": (1, None),
    "UPLOAD_URL_TTL_SECONDS": (30, None),
    "UPLOAD_PENDING_TTL_SECONDS": (60, None),
    "DOWNLOAD_URL_TTL_SECONDS": (5, None),
    "SCAN_STALE_SECONDS": (10, None),
    "PASSWORD_REMINDER_DAYS": (1, None),
}


def test_every_whole_number_variable_has_its_bounds_written_out_here():
    declared = {name for name, variable in VARIABLES.items() if variable.kind == "integer"}
    assert declared == set(WHOLE_NUMBER_BOUNDS)


@pytest.mark.parametrize("name", sorted(WHOLE_NUMBER_BOUNDS))
def test_whole_numbers_outside_their_bounds_are_refused(name):
    minimum, maximum = WHOLE_NUMBER_BOUNDS[name]
    # The neighbours that keep an unrelated rule quiet (pending uploads outlive their URLs).
    quiet = {"UPLOAD_PENDING_TTL_SECONDS": "100000"} if name == "UPLOAD_URL_TTL_SECONDS" else {}
    if name == "UPLOAD_PENDING_TTL_SECONDS":
        quiet = {"UPLOAD_URL_TTL_SECONDS": "30"}
    Settings.from_env({**quiet, name: str(minimum)})
    assert f"{name}={minimum - 1} must be at least {minimum}" in problems_of(
        {**quiet, name: str(minimum - 1)}
    )
    assert f"{name}=many is not a whole number" in problems_of({**quiet, name: "many"})
    if maximum is not None:
        Settings.from_env({**quiet, name: str(maximum)})
        assert f"{name}={maximum + 1} must be at most {maximum}" in problems_of(
            {**quiet, name: str(maximum + 1)}
        )


def test_nothing_outside_settings_reads_the_environment():
    offenders = []
    for path in (REPO / "app").rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        if re.search(r"os\.environ|os\.getenv|getenv\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_refresh_grace_is_bounded_and_can_be_turned_off():
    assert Settings.from_env({}).refresh_grace_seconds == 10
    assert Settings.from_env({"REFRESH_GRACE_SECONDS": "0"}).refresh_grace_seconds == 0
    assert Settings.from_env({"REFRESH_GRACE_SECONDS": "60"}).refresh_grace_seconds == 60
    assert any(
        "REFRESH_GRACE_SECONDS=61 must be at most 60" in p
        for p in problems_of({"REFRESH_GRACE_SECONDS": "61"})
    )
    assert any(
        "REFRESH_GRACE_SECONDS=-1" in p for p in problems_of({"REFRESH_GRACE_SECONDS": "-1"})
    )


# ----- per-component configuration: what validation guarantees, typed ---------------------


def test_s3_storage_needs_a_bucket_in_every_environment():
    for app_env in ("development", "test"):
        problems = problems_of({"APP_ENV": app_env, "STORAGE_BACKEND": "s3"})
        assert "UPLOADS_BUCKET is required when STORAGE_BACKEND=s3" in problems
    settings = Settings.from_env(
        {"STORAGE_BACKEND": "s3", "UPLOADS_BUCKET": "uploads", "AWS_REGION": "eu-west-1"}
    )
    assert settings.s3_storage() == S3StorageConfig(bucket="uploads", region="eu-west-1")


def test_local_storage_config_needs_the_jwt_secret_its_links_are_signed_with():
    settings = Settings.from_env({"JWT_SECRET": "k" * 40, "LOCAL_STORAGE_DIR": "var/files"})
    assert settings.local_storage() == LocalStorageConfig(
        "var/files", "http://localhost:8000", "k" * 40
    )
    assert "k" * 40 not in repr(settings.local_storage())
    with pytest.raises(SettingsError, match="JWT_SECRET is required for local storage"):
        Settings.from_env({}).local_storage()


def test_s3_storage_config_refuses_settings_without_a_bucket():
    with pytest.raises(SettingsError, match="UPLOADS_BUCKET is required"):
        Settings.from_env({}).s3_storage()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"EMAIL_PROVIDER": "resend", "FROM_EMAIL": "a@example.com", "RESEND_API_KEY": "re_k"},
            ResendEmailConfig("re_k", "a@example.com", "https://api.resend.com"),
        ),
        (
            {"EMAIL_PROVIDER": "ses", "FROM_EMAIL": "a@example.com", "AWS_REGION": "eu-west-1"},
            SesEmailConfig("a@example.com", "eu-west-1"),
        ),
        (
            {"EMAIL_PROVIDER": "smtp", "GMAIL_USER": "me", "GMAIL_APP_PASSWORD": "pw"},
            GmailEmailConfig("me", "pw", "smtp.gmail.com", 465),
        ),
    ],
)
def test_email_config_carries_every_value_its_provider_needs(env, expected):
    assert Settings.from_env(env).email() == expected


def test_email_config_lists_every_missing_value():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"EMAIL_PROVIDER": "resend"}).email()
    assert caught.value.problems == [
        "FROM_EMAIL is required for EMAIL_PROVIDER=resend",
        "RESEND_API_KEY (or RESEND_API_KEY_SECRET_ARN) is required for EMAIL_PROVIDER=resend",
    ]
    assert "re_" not in repr(ResendEmailConfig("re_secret", "a@example.com", "https://x"))


def test_role_passwords_need_all_three_roles():
    env = {"DB_MIGRATOR_PASSWORD": "m", "DB_APP_PASSWORD": "a", "DB_JOBS_PASSWORD": "j"}
    assert Settings.from_env(env).role_passwords() == RolePasswords("m", "a", "j")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DB_APP_PASSWORD": "a"}).role_passwords()
    assert caught.value.problems == [
        "DB_MIGRATOR_PASSWORD (or DB_MIGRATOR_PASSWORD_SECRET_ARN) is required",
        "DB_JOBS_PASSWORD (or DB_JOBS_PASSWORD_SECRET_ARN) is required",
    ]


def test_metrics_are_off_unless_chosen_and_the_namespace_is_checked():
    assert Settings.from_env({}).metrics == "off"
    chosen = Settings.from_env({"METRICS": "emf", "METRICS_NAMESPACE": "JobAppTracker/dev"})
    assert (chosen.metrics, chosen.metrics_namespace) == ("emf", "JobAppTracker/dev")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"METRICS": "prometheus", "METRICS_NAMESPACE": "AWS/Lambda"})
    assert any("METRICS=prometheus" in problem for problem in caught.value.problems)
    assert any("METRICS_NAMESPACE=AWS/Lambda" in problem for problem in caught.value.problems)

"""Runtime configuration: the only module that reads the process environment.

Values are read once into a frozen ``Settings`` object, except the few documented as
request-time (``EMAIL_VERIFICATION_ENABLED``), which are re-read through ``Settings`` on each use.

Any secret ``NAME`` may arrive as ``NAME_SECRET_ARN`` instead; it is then resolved from Secrets
Manager while the settings are built (a Lambda's cold start), so a deployed Lambda never carries a
secret as a plain environment value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from app.core.sites import same_site

ENVIRONMENTS = ("development", "test", "production")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
PRODUCTION_SSL_MODES = ("require", "verify-ca", "verify-full")
SAMESITE_VALUES = ("Strict", "Lax", "None")
EMAIL_PROVIDERS = ("resend", "ses", "gmail", "console")
EMAIL_PROVIDER_ALIASES = {"smtp": "gmail"}
STORAGE_BACKENDS = ("local", "s3")
SCANNERS = ("local", "guardduty")
METRICS_SINKS = ("off", "emf")
# CloudWatch's namespace rules (PutMetricData): 1-255 of these characters, AWS/ reserved.
_METRICS_NAMESPACE = re.compile(r"^[A-Za-z0-9 ._#:/-]{1,255}$")

MIN_JWT_SECRET_BYTES = 32
MIN_JWT_SECRET_DISTINCT_CHARACTERS = 16
MIN_MFA_KEY_CHARACTERS = 32
# OWASP Password Storage Cheat Sheet: five argon2id configurations of equal strength, as
# (memory KiB, iterations), all with parallelism 1. Production accepts parameters at least as
# strong as one of them.
OWASP_ARGON2ID_CONFIGURATIONS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
# Production ceilings and floors (docs/security.md, "Production refusals").
MAX_PRODUCTION_ACCESS_TOKEN_TTL_SECONDS = 3600
MAX_PRODUCTION_REFRESH_TOKEN_TTL_DAYS = 90
MIN_PRODUCTION_PASSWORD_LENGTH = 12
MAX_PRODUCTION_REQUEST_BYTES = 10 * 1024 * 1024
MAX_PRODUCTION_UPLOAD_BYTES = 1024 * 1024 * 1024

# The RDS CA bundle shipped in the image; verify-full uses it by default in production.
RDS_CA_BUNDLE = Path(__file__).resolve().parents[2] / "certs" / "rds-global-bundle.pem"

# What each entrypoint needs in production, beyond what every entrypoint needs.
_DB_HOST = ("DB_HOST", "DB_NAME")
REQUIRED_BY_COMPONENT: dict[str, tuple[str, ...]] = {
    "api": (
        *_DB_HOST,
        "DB_APP_USER",
        "DB_APP_PASSWORD",
        "JWT_SECRET",
        "MFA_ENCRYPTION_KEY",
        "FRONTEND_URL",
        "API_URL",
    ),
    "scan_result": (*_DB_HOST, "DB_JOBS_USER", "DB_JOBS_PASSWORD", "UPLOADS_BUCKET"),
    "maintenance": (
        *_DB_HOST,
        "DB_JOBS_USER",
        "DB_JOBS_PASSWORD",
        "FRONTEND_URL",
        "UPLOADS_BUCKET",
    ),
    "slack_notify": ("SLACK_WEBHOOK_URL",),
    "db_admin": (
        *_DB_HOST,
        "DB_MASTER_SECRET_ARN",
        "DB_MIGRATOR_PASSWORD",
        "DB_APP_PASSWORD",
        "DB_JOBS_PASSWORD",
    ),
    "cli": (),
}


class SettingsError(Exception):
    """Configuration is missing or unsafe. ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


SecretFetcher = Callable[[str], str]


def secrets_manager_fetcher(region: str | None) -> SecretFetcher:
    """Fetch a secret's string from Secrets Manager with the default credential chain."""

    def fetch(arn: str) -> str:
        import boto3

        client = boto3.client("secretsmanager", region_name=region or _region_from_arn(arn))
        return client.get_secret_value(SecretId=arn)["SecretString"]

    return fetch


def _region_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


# ----- declarations -------------------------------------------------------------------------
# Each variable is declared once, as a field of ``Settings`` below: its name, type (the field's),
# default, bounds and the one-line help that ``.env.example`` shows. Reading, validation and the
# ``.env.example`` check (``env_example()``) all follow from the declaration.

Kind = Literal["text", "integer", "boolean", "choice", "url", "secret"]

SECTIONS = {
    "runtime": "runtime",
    "database": "database (no DB_* at all in development = the embedded local PostgreSQL)",
    "auth": "auth",
    "email": "email",
    "uploads": "uploads and scanning",
}


@dataclass(frozen=True)
class Variable:
    """One environment variable: how it is read, checked and shown in ``.env.example``."""

    name: str
    kind: Kind
    default: str | int | bool | None
    help: str
    section: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    # Accepted spellings of a choice and the value each stands for (EMAIL_PROVIDER=smtp).
    aliases: tuple[tuple[str, str], ...] = ()
    # How a choice is spelled before it is compared: "lower", "capitalize" or "" (as given).
    normalise: str = ""
    # The default in production, when it differs (DB_SSLMODE, CHECK_RESPONSES).
    production_default: str | int | bool | None = None
    # What .env.example shows, when not the default (its local set-up, or blank for a default
    # that depends on the environment).
    example: str | None = None

    def example_value(self) -> str:
        if self.example is not None:
            return self.example
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


def _declare(variable: Variable, *, secret: bool = False) -> Any:
    return field(default=variable.default, repr=not secret, metadata={"variable": variable})


def text(name: str, default: str, *, help: str, section: str) -> str:
    """A string; empty or unset means ``default``."""
    value: str = _declare(Variable(name, "text", default, help, section))
    return value


def optional_text(name: str, *, help: str, section: str, example: str | None = None) -> str | None:
    """A string that may be absent."""
    value: str | None = _declare(Variable(name, "text", None, help, section, example=example))
    return value


def secret(name: str, *, help: str, section: str) -> str | None:
    """A secret given as ``NAME`` or, resolved from Secrets Manager, as ``NAME_SECRET_ARN``."""
    value: str | None = _declare(Variable(name, "secret", None, help, section), secret=True)
    return value


def integer(
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
    help: str,
    section: str,
) -> int:
    """A whole number within ``minimum`` (and ``maximum``, when given)."""
    value: int = _declare(
        Variable(name, "integer", default, help, section, minimum=minimum, maximum=maximum)
    )
    return value


def optional_integer(
    name: str, *, minimum: int, help: str, section: str, example: str | None = None
) -> int | None:
    """A whole number whose absence means a default computed elsewhere (a CPU count)."""
    value: int | None = _declare(
        Variable(name, "integer", None, help, section, minimum=minimum, example=example)
    )
    return value


def boolean(
    name: str,
    default: bool,
    *,
    help: str,
    section: str,
    production_default: bool | None = None,
    example: str | None = None,
) -> bool:
    value: bool = _declare(
        Variable(
            name,
            "boolean",
            default,
            help,
            section,
            production_default=production_default,
            example=example,
        )
    )
    return value


def choice(
    name: str,
    default: str,
    choices: tuple[str, ...],
    *,
    help: str,
    section: str,
    aliases: tuple[tuple[str, str], ...] = (),
    normalise: str = "",
    production_default: str | None = None,
    example: str | None = None,
) -> str:
    """One of ``choices``."""
    value: str = _declare(
        Variable(
            name,
            "choice",
            default,
            help,
            section,
            choices=choices,
            aliases=aliases,
            normalise=normalise,
            production_default=production_default,
            example=example,
        )
    )
    return value


def url(name: str, default: str, *, help: str, section: str) -> str:
    """An http(s) URL, kept without its trailing slash."""
    value: str = _declare(Variable(name, "url", default, help, section))
    return value


# Read on every use rather than once (see ``Settings.email_verification_enabled``).
EMAIL_VERIFICATION_ENABLED = Variable(
    "EMAIL_VERIFICATION_ENABLED",
    "boolean",
    False,
    "read on every request: flipping it needs no restart",
    "email",
)


# ----- per-component configuration, built after validation ---------------------------------


@dataclass(frozen=True)
class S3StorageConfig:
    bucket: str
    region: str | None


@dataclass(frozen=True)
class LocalStorageConfig:
    directory: str
    api_url: str
    # The local upload and download tokens are signed with a key derived from JWT_SECRET.
    signing_secret: str = field(repr=False)


@dataclass(frozen=True)
class ConsoleEmailConfig:
    production: bool


@dataclass(frozen=True)
class ResendEmailConfig:
    api_key: str = field(repr=False)
    from_email: str
    api_url: str


@dataclass(frozen=True)
class SesEmailConfig:
    from_email: str
    region: str


@dataclass(frozen=True)
class GmailEmailConfig:
    user: str
    app_password: str = field(repr=False)
    host: str
    port: int


EmailConfig = ConsoleEmailConfig | ResendEmailConfig | SesEmailConfig | GmailEmailConfig


@dataclass(frozen=True)
class RolePasswords:
    """The database roles' passwords, which provisioning (db-admin, the CLI) sets."""

    migrator: str = field(repr=False)
    app: str = field(repr=False)
    jobs: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    app_env: str = choice(
        "APP_ENV",
        "development",
        ENVIRONMENTS,
        help="development | test | production (production refuses unsafe or missing values)",
        section="runtime",
    )
    log_level: str = choice(
        "LOG_LEVEL",
        "INFO",
        ("DEBUG", "INFO", "WARNING", "ERROR"),
        help="DEBUG | INFO | WARNING | ERROR",
        section="runtime",
    )
    port: int = integer(
        "PORT",
        8000,
        minimum=1,
        help="port gunicorn binds (0.0.0.0 in the image, 127.0.0.1 in make dev)",
        section="runtime",
    )
    web_concurrency: int | None = optional_integer(
        "WEB_CONCURRENCY", minimum=1, help="gunicorn workers; default: CPU count", section="runtime"
    )
    gunicorn_threads: int = integer(
        "GUNICORN_THREADS", 4, minimum=1, help="threads per gthread worker", section="runtime"
    )
    max_request_bytes: int = integer(
        "MAX_REQUEST_BYTES",
        1024 * 1024,
        minimum=1024,
        help="JSON bodies larger than this get 413",
        section="runtime",
    )

    db_host: str | None = optional_text(
        "DB_HOST", help="PostgreSQL host (RDS endpoint in AWS)", section="database"
    )
    db_port: int = integer("DB_PORT", 5432, minimum=1, help="PostgreSQL port", section="database")
    db_name: str = text("DB_NAME", "jobapptracker", help="database name", section="database")
    db_sslmode: str = choice(
        "DB_SSLMODE",
        "prefer",
        SSL_MODES,
        production_default="verify-full",
        example="",
        help="disable | allow | prefer | require | verify-ca | verify-full; default prefer, "
        "production default verify-full",
        section="database",
    )
    db_sslrootcert: str | None = optional_text(
        "DB_SSLROOTCERT",
        help="CA bundle for verify-ca/verify-full; default: the RDS bundle in the image",
        section="database",
    )
    db_app_user: str = text(
        "DB_APP_USER", "jat_app", help="runtime role of the API: DML only", section="database"
    )
    db_app_password: str | None = secret(
        "DB_APP_PASSWORD", help="secret; or DB_APP_PASSWORD_SECRET_ARN", section="database"
    )
    db_migrator_user: str = text(
        "DB_MIGRATOR_USER",
        "jat_migrator",
        help="schema owner: DDL; used by migrations only, never by the API",
        section="database",
    )
    db_migrator_password: str | None = secret(
        "DB_MIGRATOR_PASSWORD",
        help="secret; or DB_MIGRATOR_PASSWORD_SECRET_ARN",
        section="database",
    )
    db_jobs_user: str = text(
        "DB_JOBS_USER", "jat_jobs", help="role of the cross-user Lambda jobs", section="database"
    )
    db_jobs_password: str | None = secret(
        "DB_JOBS_PASSWORD", help="secret; or DB_JOBS_PASSWORD_SECRET_ARN", section="database"
    )
    db_master_secret_arn: str | None = optional_text(
        "DB_MASTER_SECRET_ARN",
        help="db-admin Lambda only: the RDS-managed master secret (JSON username/password)",
        section="database",
    )
    db_pool_size: int | None = optional_integer(
        "DB_POOL_SIZE",
        minimum=1,
        help="connections kept per worker process; default = GUNICORN_THREADS",
        section="database",
    )
    db_connect_timeout: int = integer(
        "DB_CONNECT_TIMEOUT",
        5,
        minimum=1,
        help="seconds to wait for a connection",
        section="database",
    )
    db_statement_timeout_ms: int = integer(
        "DB_STATEMENT_TIMEOUT_MS",
        15000,
        minimum=0,
        help="server-side cap on one statement",
        section="database",
    )
    db_request_deadline_ms: int = integer(
        "DB_REQUEST_DEADLINE_MS",
        5000,
        minimum=100,
        help="the most a request waits on PostgreSQL in all (client-side); past it 503 "
        "DATABASE_UNAVAILABLE",
        section="database",
    )
    ready_timeout_seconds: int = integer(
        "READY_TIMEOUT_SECONDS",
        3,
        minimum=1,
        help="/health/ready answers 503 if the database takes longer",
        section="database",
    )

    jwt_secret: str | None = secret(
        "JWT_SECRET",
        help="HS256 signing key, 32+ bytes; secret; or JWT_SECRET_ARN",
        section="auth",
    )
    jwt_previous_secret: str | None = secret(
        "JWT_PREVIOUS_SECRET",
        help="previous key, still accepted for verification during rotation; or "
        "JWT_PREVIOUS_SECRET_ARN",
        section="auth",
    )
    mfa_encryption_key: str | None = secret(
        "MFA_ENCRYPTION_KEY",
        help="encrypts TOTP secrets at rest (AES-256-GCM), 32+ characters; secret; or "
        "MFA_ENCRYPTION_KEY_SECRET_ARN",
        section="auth",
    )
    mfa_previous_encryption_key: str | None = secret(
        "MFA_PREVIOUS_ENCRYPTION_KEY",
        help="previous key: TOTP secrets encrypted under it still open during a rotation; or "
        "MFA_PREVIOUS_ENCRYPTION_KEY_SECRET_ARN",
        section="auth",
    )
    jwt_issuer: str = text("JWT_ISSUER", "jobapptracker", help="iss claim", section="auth")
    jwt_audience: str = text("JWT_AUDIENCE", "jobapptracker-api", help="aud claim", section="auth")
    access_token_ttl_seconds: int = integer(
        "ACCESS_TOKEN_TTL_SECONDS", 900, minimum=60, help="access token lifetime", section="auth"
    )
    refresh_token_ttl_days: int = integer(
        "REFRESH_TOKEN_TTL_DAYS",
        30,
        minimum=1,
        help="refresh token family lifetime",
        section="auth",
    )
    refresh_cookie_samesite: str = choice(
        "REFRESH_COOKIE_SAMESITE",
        "Lax",
        SAMESITE_VALUES,
        normalise="capitalize",
        help="Strict | Lax | None; Strict/Lax refused when frontend and API are cross-site",
        section="auth",
    )
    refresh_grace_seconds: int = integer(
        "REFRESH_GRACE_SECONDS",
        10,
        minimum=0,
        maximum=60,
        help="a token presented again this soon after its rotation, child unused, gets 409 "
        "REFRESH_RACE, not reuse; 0 turns it off",
        section="auth",
    )
    password_min_length: int = integer(
        "PASSWORD_MIN_LENGTH",
        14,
        minimum=8,
        help="minimum password length; no composition rules",
        section="auth",
    )
    password_max_age_days: int = integer(
        "PASSWORD_MAX_AGE_DAYS",
        90,
        minimum=0,
        help="password rotation age; 0 disables expiry (NIST SP 800-63B advises against rotation)",
        section="auth",
    )
    argon2_time_cost: int = integer(
        "ARGON2_TIME_COST",
        3,
        minimum=1,
        help="argon2id iterations (docs/security.md has the benchmark)",
        section="auth",
    )
    argon2_memory_kib: int = integer(
        "ARGON2_MEMORY_KIB",
        19456,
        minimum=7168,
        help="argon2id memory per hash, KiB (OWASP minimum 19456 with t=2)",
        section="auth",
    )
    argon2_parallelism: int = integer(
        "ARGON2_PARALLELISM", 1, minimum=1, help="argon2id lanes", section="auth"
    )
    hash_concurrency: int | None = optional_integer(
        "HASH_CONCURRENCY",
        minimum=1,
        help="hashes at once per process; default: CPU count",
        section="auth",
    )
    hash_wait_seconds: int = integer(
        "HASH_WAIT_SECONDS",
        5,
        minimum=1,
        help="wait for a hashing slot before answering 503 HASHING_BUSY",
        section="auth",
    )
    rate_limit_scale: int = integer(
        "RATE_LIMIT_SCALE",
        1,
        minimum=1,
        help="multiplies every rate limit (benchmarks only; keep 1 in production)",
        section="auth",
    )
    trusted_proxy_hops: int = integer(
        "TRUSTED_PROXY_HOPS",
        0,
        minimum=0,
        help="proxies in front of the API that append to X-Forwarded-For; required in "
        "production (docs/security.md)",
        section="auth",
    )
    frontend_url: str = url(
        "FRONTEND_URL",
        "http://localhost:5173",
        help="the browser app's origin (CORS, CSRF origin check, email links)",
        section="auth",
    )
    api_url: str = url(
        "API_URL", "http://localhost:8000", help="the public URL of this API", section="auth"
    )

    email_provider: str = choice(
        "EMAIL_PROVIDER",
        "resend",
        EMAIL_PROVIDERS,
        aliases=(("smtp", "gmail"),),
        normalise="lower",
        example="console",
        help="console (development only: printed, never sent) | resend (default) | ses | gmail "
        "(alias smtp)",
        section="email",
    )
    from_email: str | None = optional_text(
        "FROM_EMAIL", help="sender for resend and ses", section="email"
    )
    support_email: str | None = optional_text(
        "SUPPORT_EMAIL",
        help="where users report an account change they did not make (named in security "
        "notices); unset: the notices point to the account's security page only",
        section="email",
    )
    resend_api_key: str | None = secret(
        "RESEND_API_KEY", help="secret; or RESEND_API_KEY_SECRET_ARN", section="email"
    )
    resend_api_url: str = url(
        "RESEND_API_URL", "https://api.resend.com", help="Resend endpoint", section="email"
    )
    gmail_user: str | None = optional_text(
        "GMAIL_USER", help="gmail/smtp: account name", section="email"
    )
    gmail_app_password: str | None = secret(
        "GMAIL_APP_PASSWORD",
        help="gmail/smtp: app password; secret; or GMAIL_APP_PASSWORD_SECRET_ARN",
        section="email",
    )
    smtp_host: str = text("SMTP_HOST", "smtp.gmail.com", help="gmail/smtp host", section="email")
    smtp_port: int = integer(
        "SMTP_PORT", 465, minimum=1, help="gmail/smtp port (implicit TLS)", section="email"
    )
    aws_region: str | None = optional_text(
        "AWS_REGION", help="AWS region (SES, S3, Secrets Manager)", section="email"
    )
    outbox_poll_seconds: int = integer(
        "OUTBOX_POLL_SECONDS",
        1,
        minimum=1,
        help="an idle outbox drainer looks for queued emails this often",
        section="email",
    )
    outbox_max_attempts: int = integer(
        "OUTBOX_MAX_ATTEMPTS",
        8,
        minimum=1,
        help="deliveries tried before an email is given up (security event)",
        section="email",
    )
    outbox_retry_base_seconds: int = integer(
        "OUTBOX_RETRY_BASE_SECONDS",
        5,
        minimum=1,
        help="first retry wait; doubles with each failure (capped at 30 min)",
        section="email",
    )
    outbox_lease_seconds: int = integer(
        "OUTBOX_LEASE_SECONDS",
        60,
        minimum=15,
        help="a claimed email is claimed again after this if its worker died",
        section="email",
    )

    storage_backend: str = choice(
        "STORAGE_BACKEND",
        "local",
        STORAGE_BACKENDS,
        help="local (filesystem) | s3",
        section="uploads",
    )
    local_storage_dir: str = text(
        "LOCAL_STORAGE_DIR", "var/uploads", help="local storage folder", section="uploads"
    )
    uploads_bucket: str | None = optional_text(
        "UPLOADS_BUCKET",
        help="S3 bucket for attachments; required when STORAGE_BACKEND=s3",
        section="uploads",
    )
    upload_max_bytes: int = integer(
        "UPLOAD_MAX_BYTES",
        10 * 1024 * 1024,
        minimum=1,
        help="largest attachment",
        section="uploads",
    )
    upload_url_ttl_seconds: int = integer(
        "UPLOAD_URL_TTL_SECONDS",
        300,
        minimum=30,
        help="lifetime of a presigned upload (POST in S3 mode, PUT locally)",
        section="uploads",
    )
    upload_pending_ttl_seconds: int = integer(
        "UPLOAD_PENDING_TTL_SECONDS",
        3600,
        minimum=60,
        help="an upload never completed by then is expired (longer than the above)",
        section="uploads",
    )
    download_url_ttl_seconds: int = integer(
        "DOWNLOAD_URL_TTL_SECONDS",
        60,
        minimum=5,
        help="lifetime of a presigned download of a clean file",
        section="uploads",
    )
    scan_stale_seconds: int = integer(
        "SCAN_STALE_SECONDS",
        600,
        minimum=10,
        help="scanning longer than this is reconciled from the object's scan tag on read",
        section="uploads",
    )
    password_reminder_days: int = integer(
        "PASSWORD_REMINDER_DAYS",
        7,
        minimum=1,
        help="maintenance emails a reminder this many days before a password expires",
        section="uploads",
    )
    scanner: str = choice(
        "SCANNER",
        "local",
        SCANNERS,
        help="local (EICAR, or clamd when CLAMD_SOCKET is set) | guardduty",
        section="uploads",
    )
    clamd_socket: str | None = optional_text(
        "CLAMD_SOCKET", help="clamd unix socket for the local scanner", section="uploads"
    )
    rate_limiter_fail_closed: bool = boolean(
        "RATE_LIMITER_FAIL_CLOSED",
        False,
        help="true: limited endpoints answer 503 when the limiter's store fails",
        section="uploads",
    )
    check_responses: bool = boolean(
        "CHECK_RESPONSES",
        True,
        production_default=False,
        example="",
        help="responses checked against the contract; default true, false in production",
        section="uploads",
    )
    slack_lambda_function_name: str | None = optional_text(
        "SLACK_LAMBDA_FUNCTION_NAME",
        help="slack-notify Lambda to invoke for alerts (or SLACK_LAMBDA_FUNCTION_ARN)",
        section="uploads",
    )
    slack_lambda_function_arn: str | None = optional_text(
        "SLACK_LAMBDA_FUNCTION_ARN",
        help="alternative to SLACK_LAMBDA_FUNCTION_NAME (the ARN wins when both are set)",
        section="uploads",
    )
    slack_webhook_url: str | None = secret(
        "SLACK_WEBHOOK_URL",
        help="slack-notify Lambda only; secret; or SLACK_WEBHOOK_URL_SECRET_ARN",
        section="uploads",
    )
    metrics: str = choice(
        "METRICS",
        "off",
        METRICS_SINKS,
        help="emf: CloudWatch Embedded Metric Format records on stdout | off",
        section="runtime",
    )
    metrics_namespace: str = text(
        "METRICS_NAMESPACE",
        "JobAppTracker",
        help="CloudWatch namespace of the metrics (never AWS/...)",
        section="runtime",
    )

    # The entrypoint these settings were built for (a key of REQUIRED_BY_COMPONENT).
    component: str = "api"
    # Live view of the environment for request-time values; not part of equality or repr.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    # ----- derived values -------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def uses_embedded_database(self) -> bool:
        """No DB_* at all in development or test: the embedded local PostgreSQL is used."""
        return self.db_host is None and not self.is_production

    def _url(self, user: str, password: str | None) -> str:
        if self.db_host is None:
            raise SettingsError(
                ["DB_HOST is not set (the embedded database sets it when it starts)"]
            )
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        # No GSS encryption: nothing here uses Kerberos, and libpq's default (prefer) looks for
        # Kerberos credentials on every new connection, initialising Kerberos in each process
        # (about 1 MB of every API worker: scripts/measure_worker_memory.py).
        query = (
            f"sslmode={self.db_sslmode}&gssencmode=disable"
            f"&connect_timeout={self.db_connect_timeout}"
        )
        if self.db_sslrootcert:
            query += "&sslrootcert=" + quote(self.db_sslrootcert, safe="/")
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{self.db_name}?{query}"

    @property
    def database_url(self) -> str:
        """The API's connection: the app role, DML only."""
        return self._url(self.db_app_user, self.db_app_password)

    @property
    def migrations_database_url(self) -> str:
        """The migrator's connection: DDL, used by migrations only."""
        return self._url(self.db_migrator_user, self.db_migrator_password)

    @property
    def jobs_database_url(self) -> str:
        """The cross-user jobs' connection."""
        return self._url(self.db_jobs_user, self.db_jobs_password)

    @property
    def pool_size(self) -> int:
        return self.db_pool_size or self.gunicorn_threads

    @property
    def slack_lambda_function(self) -> str | None:
        """The slack-notify Lambda to invoke: its ARN, else its name."""
        return self.slack_lambda_function_arn or self.slack_lambda_function_name

    def email_verification_enabled(self) -> bool:
        """Request-time value: read from the environment on every call, never cached."""
        value = _read(EMAIL_VERIFICATION_ENABLED, self.environ, [], production=False)
        return value is True

    @property
    def cross_site(self) -> bool:
        """True when the frontend and the API are on different sites (scheme + registrable
        domain), where a browser never sends a Strict or Lax cookie on the frontend's calls."""
        return not same_site(self.frontend_url, self.api_url)

    # ----- per-component configuration --------------------------------------------------------

    def s3_storage(self) -> S3StorageConfig:
        """S3 storage's configuration (validation requires UPLOADS_BUCKET with s3 storage)."""
        if not self.uploads_bucket:
            raise SettingsError([UPLOADS_BUCKET_REQUIRED])
        return S3StorageConfig(bucket=self.uploads_bucket, region=self.aws_region)

    def local_storage(self) -> LocalStorageConfig:
        """Local storage's configuration: its tokens need JWT_SECRET to derive their key."""
        if not self.jwt_secret:
            raise SettingsError(
                ["JWT_SECRET is required for local storage (its links are signed with it)"]
            )
        return LocalStorageConfig(self.local_storage_dir, self.api_url, self.jwt_secret)

    def email(self) -> EmailConfig:
        """The configured email provider's settings, each value the provider needs present."""
        problems = _email_problems(self)
        if problems:
            raise SettingsError(problems)
        provider = self.email_provider
        if provider == "resend" and self.resend_api_key and self.from_email:
            return ResendEmailConfig(self.resend_api_key, self.from_email, self.resend_api_url)
        if provider == "ses" and self.from_email and self.aws_region:
            return SesEmailConfig(self.from_email, self.aws_region)
        if provider == "gmail" and self.gmail_user and self.gmail_app_password:
            return GmailEmailConfig(
                self.gmail_user, self.gmail_app_password, self.smtp_host, self.smtp_port
            )
        if provider == "console":
            return ConsoleEmailConfig(production=self.is_production)
        raise SettingsError([f"EMAIL_PROVIDER={provider} is not a known email provider"])

    def role_passwords(self) -> RolePasswords:
        """The three role passwords provisioning sets; each is required."""
        migrator, app, jobs = self.db_migrator_password, self.db_app_password, self.db_jobs_password
        if migrator and app and jobs:
            return RolePasswords(migrator=migrator, app=app, jobs=jobs)
        given = {"DB_MIGRATOR_PASSWORD": migrator, "DB_APP_PASSWORD": app, "DB_JOBS_PASSWORD": jobs}
        raise SettingsError(
            [
                f"{name} (or {secret_arn_variable(name)}) is required"
                for name, value in given.items()
                if not value
            ]
        )

    # ----- construction ---------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        component: str = "api",
        fetch_secret: SecretFetcher | None = None,
    ) -> Settings:
        env: Mapping[str, str] = os.environ if environ is None else environ
        problems: list[str] = []

        app_env = _read(VARIABLES["APP_ENV"], env, problems, production=False)
        production = app_env == "production"
        if component not in REQUIRED_BY_COMPONENT:
            problems.append(f"unknown component {component!r}")

        legacy = [name for name in ("DB_USER", "DB_PASSWORD") if env.get(name)]
        if legacy:
            problems.append(
                f"{' and '.join(legacy)} are no longer read: set DB_APP_USER/DB_APP_PASSWORD for "
                "the API, DB_MIGRATOR_USER/DB_MIGRATOR_PASSWORD for migrations and "
                "DB_JOBS_USER/DB_JOBS_PASSWORD for the jobs instead"
            )

        region = _read(VARIABLES["AWS_REGION"], env, [], production=production)
        fetch = fetch_secret or secrets_manager_fetcher(region if isinstance(region, str) else None)
        secrets = _resolve_secrets(env, problems, fetch)

        values: dict[str, Any] = {}
        for attribute, variable in _FIELD_VARIABLES:
            if variable.kind == "secret":
                values[attribute] = secrets.get(variable.name)
            elif variable.name == "APP_ENV":
                values[attribute] = app_env
            else:
                values[attribute] = _read(variable, env, problems, production=production)
        _read(EMAIL_VERIFICATION_ENABLED, env, problems, production=production)

        sslmode = values["db_sslmode"]
        if production and sslmode not in PRODUCTION_SSL_MODES:
            problems.append(
                f"DB_SSLMODE={sslmode} is unsafe in production: use require, verify-ca or "
                "verify-full"
            )
        verifies = sslmode in ("verify-ca", "verify-full")
        if values["db_sslrootcert"] is None and verifies:
            values["db_sslrootcert"] = str(RDS_CA_BUNDLE)
        sslrootcert = values["db_sslrootcert"]
        if component != "slack_notify" and verifies and not Path(sslrootcert).is_file():
            problems.append(f"DB_SSLROOTCERT {sslrootcert} does not exist ({sslmode} needs it)")
        if production and values["email_provider"] == "console":
            problems.append("EMAIL_PROVIDER=console is for local development only")

        settings = cls(**values, component=component, environ=env)
        problems.extend(_check_rules(settings, env, secrets))
        if problems:
            raise SettingsError(problems)
        return settings


_FIELD_VARIABLES: tuple[tuple[str, Variable], ...] = tuple(
    (item.name, item.metadata["variable"])
    for item in fields(Settings)
    if "variable" in item.metadata
)
# Every variable the settings read, by name, in declaration order.
VARIABLES: dict[str, Variable] = {
    **{variable.name: variable for _, variable in _FIELD_VARIABLES},
    EMAIL_VERIFICATION_ENABLED.name: EMAIL_VERIFICATION_ENABLED,
}
# Secrets that may be given directly or as NAME_SECRET_ARN.
SECRET_NAMES = tuple(name for name, variable in VARIABLES.items() if variable.kind == "secret")
UPLOADS_BUCKET_REQUIRED = "UPLOADS_BUCKET is required when STORAGE_BACKEND=s3"


def _check_rules(settings: Settings, env: Mapping[str, str], secrets: dict[str, str]) -> list[str]:
    problems: list[str] = []
    production = settings.is_production
    namespace = settings.metrics_namespace
    if not _METRICS_NAMESPACE.match(namespace) or namespace.startswith("AWS/"):
        problems.append(
            f"METRICS_NAMESPACE={namespace} is not a CloudWatch namespace (1-255 letters, digits "
            "and . _ # : / - or spaces, not starting with AWS/)"
        )
    if production:
        for name in REQUIRED_BY_COMPONENT.get(settings.component, ()):
            if name in SECRET_NAMES:
                if not secrets.get(name):
                    problems.append(f"{name} (or {secret_arn_variable(name)}) is required")
            elif not env.get(name):
                problems.append(f"{name} is required")
        if settings.component in ("api", "scan_result", "maintenance"):
            if settings.storage_backend != "s3":
                problems.append("STORAGE_BACKEND must be s3 in production")
            if settings.scanner != "guardduty":
                problems.append("SCANNER must be guardduty in production")
        if settings.component == "maintenance":
            problems.extend(_email_problems(settings))
        if settings.component == "api":
            for name in ("FRONTEND_URL", "API_URL"):
                value = env.get(name, "")
                if value and not value.startswith("https://"):
                    problems.append(f"{name} must use https in production")
            problems.extend(_email_problems(settings))
        if settings.component == "api" and not env.get("TRUSTED_PROXY_HOPS", "").strip():
            problems.append(
                "TRUSTED_PROXY_HOPS is required in production: the number of proxies in front of "
                "the API that append to X-Forwarded-For (App Runner 1; see docs/security.md)"
            )
        problems.extend(_production_limits_problems(settings, env, secrets))
    for name in ("JWT_SECRET", "JWT_PREVIOUS_SECRET"):
        given = secrets.get(name)
        if given and len(given.encode()) < MIN_JWT_SECRET_BYTES:
            problems.append(f"{name} must be at least {MIN_JWT_SECRET_BYTES} bytes")
    for name in ("MFA_ENCRYPTION_KEY", "MFA_PREVIOUS_ENCRYPTION_KEY"):
        given = secrets.get(name)
        if given and len(given) < MIN_MFA_KEY_CHARACTERS:
            problems.append(f"{name} must be at least {MIN_MFA_KEY_CHARACTERS} characters")
    if secrets.get("MFA_PREVIOUS_ENCRYPTION_KEY") and not secrets.get("MFA_ENCRYPTION_KEY"):
        problems.append(
            "MFA_PREVIOUS_ENCRYPTION_KEY is set without MFA_ENCRYPTION_KEY: a rotation keeps the "
            "new key in MFA_ENCRYPTION_KEY"
        )
    if settings.storage_backend == "s3" and not settings.uploads_bucket:
        problems.append(UPLOADS_BUCKET_REQUIRED)
    support = settings.support_email
    if support and not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", support):
        problems.append(f"SUPPORT_EMAIL={support} is not an email address (name@example.com)")
    if settings.upload_pending_ttl_seconds <= settings.upload_url_ttl_seconds:
        problems.append(
            "UPLOAD_PENDING_TTL_SECONDS must be longer than UPLOAD_URL_TTL_SECONDS, or an upload "
            "still allowed by its presigned POST could be expired"
        )
    if settings.component == "api" and settings.refresh_cookie_samesite in ("Strict", "Lax"):
        if settings.cross_site:
            problems.append(
                f"REFRESH_COOKIE_SAMESITE={settings.refresh_cookie_samesite} cannot work: "
                f"FRONTEND_URL ({settings.frontend_url}) and API_URL ({settings.api_url}) are on "
                "different sites, so the browser would never send the refresh cookie. Serve the "
                "API on a custom domain of the frontend's site, or set REFRESH_COOKIE_SAMESITE=None"
            )
    return problems


def _production_limits_problems(
    settings: Settings, env: Mapping[str, str], secrets: dict[str, str]
) -> list[str]:
    """Values that are valid for development but unsafe in production."""
    problems: list[str] = []
    for name in ("JWT_SECRET", "JWT_PREVIOUS_SECRET", "MFA_ENCRYPTION_KEY"):
        value = secrets.get(name)
        if value and low_variety(value):
            problems.append(
                f"{name} is low in variety (fewer than {MIN_JWT_SECRET_DISTINCT_CHARACTERS} "
                "distinct characters, or a repeated pattern): generate it randomly, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    current, previous = secrets.get("JWT_SECRET"), secrets.get("JWT_PREVIOUS_SECRET")
    if current and previous and current == previous:
        problems.append("JWT_PREVIOUS_SECRET equals JWT_SECRET: a rotation needs a new secret")
    mfa_keys = [secrets.get(name) for name in ("MFA_ENCRYPTION_KEY", "MFA_PREVIOUS_ENCRYPTION_KEY")]
    if mfa_keys[0] and mfa_keys[0] in (mfa_keys[1], current, previous):
        problems.append(
            "MFA_ENCRYPTION_KEY must be a key of its own: it equals MFA_PREVIOUS_ENCRYPTION_KEY or "
            "a JWT secret"
        )
    if settings.access_token_ttl_seconds > MAX_PRODUCTION_ACCESS_TOKEN_TTL_SECONDS:
        problems.append(
            f"ACCESS_TOKEN_TTL_SECONDS={settings.access_token_ttl_seconds} is over "
            f"{MAX_PRODUCTION_ACCESS_TOKEN_TTL_SECONDS} (1 hour)"
        )
    if settings.refresh_token_ttl_days > MAX_PRODUCTION_REFRESH_TOKEN_TTL_DAYS:
        problems.append(
            f"REFRESH_TOKEN_TTL_DAYS={settings.refresh_token_ttl_days} is over "
            f"{MAX_PRODUCTION_REFRESH_TOKEN_TTL_DAYS}"
        )
    if not argon2_meets_owasp(settings.argon2_memory_kib, settings.argon2_time_cost):
        problems.append(
            f"ARGON2_MEMORY_KIB={settings.argon2_memory_kib} with ARGON2_TIME_COST="
            f"{settings.argon2_time_cost} is weaker than every OWASP argon2id configuration "
            "(memory KiB/iterations: "
            + ", ".join(f"{m}/{t}" for m, t in OWASP_ARGON2ID_CONFIGURATIONS)
            + ")"
        )
    if settings.password_min_length < MIN_PRODUCTION_PASSWORD_LENGTH:
        problems.append(
            f"PASSWORD_MIN_LENGTH={settings.password_min_length} is under "
            f"{MIN_PRODUCTION_PASSWORD_LENGTH}"
        )
    if settings.rate_limit_scale != 1:
        problems.append(
            f"RATE_LIMIT_SCALE={env.get('RATE_LIMIT_SCALE')} loosens every rate limit; it is for "
            "benchmarks only and must be 1 in production"
        )
    if settings.log_level == "DEBUG":
        problems.append("LOG_LEVEL=DEBUG is refused in production (it may log request details)")
    if settings.db_statement_timeout_ms == 0:
        problems.append("DB_STATEMENT_TIMEOUT_MS=0 disables the statement timeout")
    if settings.max_request_bytes > MAX_PRODUCTION_REQUEST_BYTES:
        problems.append(
            f"MAX_REQUEST_BYTES={settings.max_request_bytes} is over "
            f"{MAX_PRODUCTION_REQUEST_BYTES} (10 MiB)"
        )
    if settings.upload_max_bytes > MAX_PRODUCTION_UPLOAD_BYTES:
        problems.append(
            f"UPLOAD_MAX_BYTES={settings.upload_max_bytes} is over "
            f"{MAX_PRODUCTION_UPLOAD_BYTES} (1 GiB)"
        )
    outbound = {"RESEND_API_URL": settings.resend_api_url}
    if settings.slack_webhook_url:
        outbound["SLACK_WEBHOOK_URL"] = settings.slack_webhook_url
    for name, url in outbound.items():
        if urlsplit(url).scheme != "https":
            problems.append(f"{name} must use https in production")
    return problems


def low_variety(secret: str) -> bool:
    """Fewer than 16 distinct characters, or a shorter string repeated (``abcabc...``)."""
    if len(set(secret)) < MIN_JWT_SECRET_DISTINCT_CHARACTERS:
        return True
    # A string is a repetition of a shorter one exactly when it occurs inside itself doubled,
    # away from the two ends.
    return (secret + secret).find(secret, 1) < len(secret)


def argon2_meets_owasp(memory_kib: int, time_cost: int) -> bool:
    return any(
        memory_kib >= memory and time_cost >= iterations
        for memory, iterations in OWASP_ARGON2ID_CONFIGURATIONS
    )


def _email_problems(settings: Settings) -> list[str]:
    provider = settings.email_provider
    problems: list[str] = []
    if provider in ("resend", "ses") and not settings.from_email:
        problems.append(f"FROM_EMAIL is required for EMAIL_PROVIDER={provider}")
    if provider == "resend" and not settings.resend_api_key:
        problems.append(
            "RESEND_API_KEY (or RESEND_API_KEY_SECRET_ARN) is required for EMAIL_PROVIDER=resend"
        )
    if provider == "ses" and not settings.aws_region:
        problems.append("AWS_REGION is required for EMAIL_PROVIDER=ses")
    if provider == "gmail" and not (settings.gmail_user and settings.gmail_app_password):
        problems.append("GMAIL_USER and GMAIL_APP_PASSWORD are required for EMAIL_PROVIDER=gmail")
    return problems


def secret_arn_variable(name: str) -> str:
    """NAME_SECRET_ARN, or NAME_ARN when NAME already ends in _SECRET (JWT_SECRET_ARN)."""
    return f"{name}_ARN" if name.endswith("_SECRET") else f"{name}_SECRET_ARN"


def _resolve_secrets(
    env: Mapping[str, str], problems: list[str], fetch: SecretFetcher
) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name in SECRET_NAMES:
        direct = env.get(name) or None
        arn_variable = secret_arn_variable(name)
        arn = env.get(arn_variable) or None
        if direct and arn:
            problems.append(f"set either {name} or {arn_variable}, not both")
            continue
        if arn:
            try:
                resolved[name] = _secret_value(fetch(arn))
            except Exception as exc:  # noqa: BLE001 - reported as a configuration problem
                problems.append(
                    f"{arn_variable} could not be read from Secrets Manager ({type(exc).__name__})"
                )
        elif direct:
            resolved[name] = direct
    return resolved


def _secret_value(raw: str) -> str:
    """A secret is a plain string, or JSON with a single ``value`` or ``password`` key."""
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            return raw
        for key in ("value", "password"):
            value = document.get(key) if isinstance(document, dict) else None
            if isinstance(value, str):
                return value
    return raw


def read_master_credentials(arn: str, fetch: SecretFetcher) -> tuple[str, str]:
    """The RDS-managed master secret is JSON with ``username`` and ``password``."""
    document = json.loads(fetch(arn))
    username, password = document["username"], document["password"]
    if not (isinstance(username, str) and isinstance(password, str)):
        raise SettingsError([f"{arn} does not hold a username and a password"])
    return username, password


def _parse_bool(name: str, raw: str, problems: list[str]) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    problems.append(f"{name}={raw} is not a boolean (true/false)")
    return False


def _read(
    variable: Variable, env: Mapping[str, str], problems: list[str], *, production: bool
) -> str | int | bool | None:
    """One variable's value, or its default after adding what is wrong to ``problems``."""
    name = variable.name
    default = variable.default
    if production and variable.production_default is not None:
        default = variable.production_default
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if variable.kind == "integer":
        return _whole_number(variable, raw, problems, default)
    if variable.kind == "boolean":
        return _parse_bool(name, raw, problems)
    if variable.kind == "choice":
        spelled = {"lower": raw.lower(), "capitalize": raw.capitalize()}.get(
            variable.normalise, raw
        )
        value = dict(variable.aliases).get(spelled, spelled)
        if value not in variable.choices:
            accepted = [
                spelling
                for option in variable.choices
                for spelling in (option, *(a for a, meant in variable.aliases if meant == option))
            ]
            problems.append(f"{name}={raw} is not one of {', '.join(accepted)}")
            return default
        return value
    if variable.kind == "url":
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"{name}={raw} is not an http(s) URL")
            return default
        return raw.rstrip("/")
    return raw


def _whole_number(
    variable: Variable, raw: str, problems: list[str], default: str | int | bool | None
) -> str | int | bool | None:
    name = variable.name
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}={raw} is not a whole number")
        return default
    if variable.minimum is not None and value < variable.minimum:
        problems.append(f"{name}={raw} must be at least {variable.minimum}")
        return default
    if variable.maximum is not None and value > variable.maximum:
        problems.append(f"{name}={raw} must be at most {variable.maximum}")
        return default
    return value


ENV_EXAMPLE_HEADER = """\
# Every variable the API and the Lambda jobs read, generated from the declarations in
# app/core/settings.py (python -m app.core.settings > .env.example); a test compares the two.
# Copied unchanged to .env (read by python -m app.cli, so by make dev) it gives make dev's local
# set-up: no DB_HOST means the embedded local PostgreSQL, whatever the other DB_* say; an empty
# value is unset. [min N] and [N..M] are the bounds a whole number must keep.
# Any secret NAME may instead arrive as NAME_SECRET_ARN (JWT_SECRET_ARN for JWT_SECRET): it is
# then read from Secrets Manager at start-up (cold start, for a Lambda). Deployed Lambdas only
# ever receive the *_SECRET_ARN form.
"""
ENV_EXAMPLE_HELP_COLUMN = 36


def _bounds(variable: Variable) -> str:
    if variable.kind != "integer" or variable.minimum is None:
        return ""
    if variable.maximum is not None:
        return f" [{variable.minimum}..{variable.maximum}]"
    return f" [min {variable.minimum}]"


def env_example() -> str:
    """``.env.example`` as the declarations describe it: every variable, by section, with its
    default (or the local set-up's value), its help and its bounds."""
    lines = [ENV_EXAMPLE_HEADER.rstrip("\n")]
    for section, title in SECTIONS.items():
        lines += ["", f"# --- {title} ---"]
        for variable in VARIABLES.values():
            if variable.section != section:
                continue
            assignment = f"{variable.name}={variable.example_value()}"
            padded = assignment.ljust(max(ENV_EXAMPLE_HELP_COLUMN, len(assignment) + 2))
            lines.append(f"{padded}# {variable.help}{_bounds(variable)}")
    return "\n".join(lines) + "\n"


# Development defaults for `make dev`, stated in the README. Variables already set win.
DEVELOPMENT_DEFAULTS = {
    "APP_ENV": "development",
    "API_URL": "http://localhost:8000",
    "FRONTEND_URL": "http://localhost:5173",
    "EMAIL_VERIFICATION_ENABLED": "false",
    "EMAIL_PROVIDER": "console",
}


def development_environment(
    extra_defaults: Mapping[str, str],
    *,
    database: Mapping[str, str] | None = None,
    port: int | None = None,
) -> dict[str, str]:
    """The environment for local development servers: the process environment over the
    development defaults over ``extra_defaults``. An empty value counts as unset (``NAME=`` in a
    ``.env`` file). ``database``, the embedded server's DB_* variables, wins over everything: with
    no DB_HOST, DB_* values such as ``.env.example``'s describe no server in use. ``port`` makes
    the default API_URL follow the port the API is served on."""
    merged = {**extra_defaults, **DEVELOPMENT_DEFAULTS}
    if port is not None:
        merged["API_URL"] = f"http://localhost:{port}"
    merged.update({name: value for name, value in os.environ.items() if value})
    if database:
        merged.update(database)
    return merged


def command_environment(
    development_defaults: Mapping[str, str], *, database: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of an operator command (``python -m app.cli``): in development (APP_ENV
    unset or ``development``) the same as ``make dev``'s, so a command finds what the local
    server uses; otherwise the process environment alone. ``database``, the embedded server's
    DB_* variables when it is used, wins in both."""
    if os.environ.get("APP_ENV", "development").strip() in ("", "development"):
        return development_environment(development_defaults, database=database)
    return {**os.environ, **(database or {})}


def development_port(default: int = 8000) -> int:
    """The port ``make dev`` serves on: PORT from the environment, else ``default``."""
    value = os.environ.get("PORT") or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError([f"PORT must be a TCP port number (got {value!r})"])
    return int(value)


def database_variables_present(environ: Mapping[str, str] | None = None) -> bool:
    """An existing PostgreSQL is configured (DB_HOST is set); otherwise development and the CLI
    use the embedded local server, whatever other DB_* values say."""
    env = os.environ if environ is None else environ
    return bool(env.get("DB_HOST"))


if __name__ == "__main__":
    # python -m app.core.settings > .env.example
    print(env_example(), end="")

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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

# Secrets that may be given directly or as NAME_SECRET_ARN.
SECRET_NAMES = (
    "DB_APP_PASSWORD",
    "DB_MIGRATOR_PASSWORD",
    "DB_JOBS_PASSWORD",
    "JWT_SECRET",
    "JWT_PREVIOUS_SECRET",
    "RESEND_API_KEY",
    "GMAIL_APP_PASSWORD",
    "SLACK_WEBHOOK_URL",
)
MIN_JWT_SECRET_BYTES = 32
MIN_JWT_SECRET_DISTINCT_CHARACTERS = 16
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
MAX_REFRESH_GRACE_SECONDS = 60

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


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    component: str = "api"
    log_level: str = "INFO"
    port: int = 8000
    web_concurrency: int | None = None
    gunicorn_threads: int = 4
    max_request_bytes: int = 1024 * 1024

    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "jobapptracker"
    db_sslmode: str = "prefer"
    db_sslrootcert: str | None = None
    db_app_user: str = "jat_app"
    db_app_password: str | None = None
    db_migrator_user: str = "jat_migrator"
    db_migrator_password: str | None = None
    db_jobs_user: str = "jat_jobs"
    db_jobs_password: str | None = None
    db_master_secret_arn: str | None = None
    db_pool_size: int | None = None
    db_connect_timeout: int = 5
    db_statement_timeout_ms: int = 15000
    db_request_deadline_ms: int = 5000
    ready_timeout_seconds: float = 3.0

    jwt_secret: str | None = field(default=None, repr=False)
    jwt_previous_secret: str | None = field(default=None, repr=False)
    jwt_issuer: str = "jobapptracker"
    jwt_audience: str = "jobapptracker-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    refresh_cookie_samesite: str = "Lax"
    refresh_grace_seconds: int = 10
    password_min_length: int = 14
    password_max_age_days: int = 90
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    hash_concurrency: int | None = None
    hash_wait_seconds: int = 5
    rate_limit_scale: float = 1.0
    trusted_proxy_hops: int = 0
    frontend_url: str = "http://localhost:5173"
    api_url: str = "http://localhost:8000"

    email_provider: str = "resend"
    from_email: str | None = None
    resend_api_key: str | None = field(default=None, repr=False)
    resend_api_url: str = "https://api.resend.com"
    gmail_user: str | None = None
    gmail_app_password: str | None = field(default=None, repr=False)
    smtp_host: str = "smtp.gmail.com"
    smtp_port: int = 465
    aws_region: str | None = None

    storage_backend: str = "local"
    local_storage_dir: str = "var/uploads"
    uploads_bucket: str | None = None
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_url_ttl_seconds: int = 300
    upload_pending_ttl_seconds: int = 3600
    download_url_ttl_seconds: int = 60
    scan_stale_seconds: int = 600
    password_reminder_days: int = 7
    scanner: str = "local"
    clamd_socket: str | None = None
    rate_limiter_fail_closed: bool = False
    check_responses: bool = True
    slack_lambda_function: str | None = None
    slack_webhook_url: str | None = field(default=None, repr=False)
    outbox_poll_seconds: int = 1
    outbox_max_attempts: int = 8
    outbox_retry_base_seconds: int = 5
    outbox_lease_seconds: int = 60

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
        query = f"sslmode={self.db_sslmode}&connect_timeout={self.db_connect_timeout}"
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

    def email_verification_enabled(self) -> bool:
        """Request-time value: read from the environment on every call, never cached."""
        raw = self.environ.get("EMAIL_VERIFICATION_ENABLED", "false")
        return _parse_bool("EMAIL_VERIFICATION_ENABLED", raw, [])

    @property
    def cross_site(self) -> bool:
        """True when the frontend and the API are on different sites (scheme + registrable
        domain), where a browser never sends a Strict or Lax cookie on the frontend's calls."""
        return not same_site(self.frontend_url, self.api_url)

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
        reader = _Reader(env, problems)

        app_env = reader.choice("APP_ENV", ENVIRONMENTS, "development")
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

        region = reader.text("AWS_REGION")
        secrets = _resolve_secrets(env, problems, fetch_secret or secrets_manager_fetcher(region))

        sslmode_default = "verify-full" if production else "prefer"
        sslmode = reader.choice("DB_SSLMODE", SSL_MODES, sslmode_default)
        if production and sslmode not in PRODUCTION_SSL_MODES:
            problems.append(
                f"DB_SSLMODE={sslmode} is unsafe in production: use require, verify-ca or "
                "verify-full"
            )
        sslrootcert = reader.text("DB_SSLROOTCERT")
        if sslrootcert is None and sslmode in ("verify-ca", "verify-full"):
            sslrootcert = str(RDS_CA_BUNDLE)
        verifies = sslmode in ("verify-ca", "verify-full")
        if component != "slack_notify" and verifies and not Path(sslrootcert).is_file():
            problems.append(f"DB_SSLROOTCERT {sslrootcert} does not exist ({sslmode} needs it)")

        provider_raw = reader.text("EMAIL_PROVIDER") or "resend"
        provider = EMAIL_PROVIDER_ALIASES.get(provider_raw.lower(), provider_raw.lower())
        if provider not in EMAIL_PROVIDERS:
            problems.append(
                f"EMAIL_PROVIDER={provider_raw} is not one of resend, ses, gmail, smtp, console"
            )
        if production and provider == "console":
            problems.append("EMAIL_PROVIDER=console is for local development only")

        settings = cls(
            app_env=app_env,
            component=component,
            log_level=reader.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            port=reader.integer("PORT", 8000, minimum=1),
            web_concurrency=reader.integer("WEB_CONCURRENCY", None, minimum=1),
            gunicorn_threads=reader.integer("GUNICORN_THREADS", 4, minimum=1),
            max_request_bytes=reader.integer("MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024),
            db_host=reader.text("DB_HOST"),
            db_port=reader.integer("DB_PORT", 5432, minimum=1),
            db_name=reader.text("DB_NAME") or "jobapptracker",
            db_sslmode=sslmode,
            db_sslrootcert=sslrootcert,
            db_app_user=reader.text("DB_APP_USER") or "jat_app",
            db_app_password=secrets.get("DB_APP_PASSWORD"),
            db_migrator_user=reader.text("DB_MIGRATOR_USER") or "jat_migrator",
            db_migrator_password=secrets.get("DB_MIGRATOR_PASSWORD"),
            db_jobs_user=reader.text("DB_JOBS_USER") or "jat_jobs",
            db_jobs_password=secrets.get("DB_JOBS_PASSWORD"),
            db_master_secret_arn=reader.text("DB_MASTER_SECRET_ARN"),
            db_pool_size=reader.integer("DB_POOL_SIZE", None, minimum=1),
            db_connect_timeout=reader.integer("DB_CONNECT_TIMEOUT", 5, minimum=1),
            db_statement_timeout_ms=reader.integer("DB_STATEMENT_TIMEOUT_MS", 15000, minimum=0),
            db_request_deadline_ms=reader.integer("DB_REQUEST_DEADLINE_MS", 5000, minimum=100),
            ready_timeout_seconds=float(reader.integer("READY_TIMEOUT_SECONDS", 3, minimum=1)),
            jwt_secret=secrets.get("JWT_SECRET"),
            jwt_previous_secret=secrets.get("JWT_PREVIOUS_SECRET"),
            jwt_issuer=reader.text("JWT_ISSUER") or "jobapptracker",
            jwt_audience=reader.text("JWT_AUDIENCE") or "jobapptracker-api",
            access_token_ttl_seconds=reader.integer("ACCESS_TOKEN_TTL_SECONDS", 900, minimum=60),
            refresh_token_ttl_days=reader.integer("REFRESH_TOKEN_TTL_DAYS", 30, minimum=1),
            refresh_cookie_samesite=reader.samesite("REFRESH_COOKIE_SAMESITE", "Lax"),
            refresh_grace_seconds=reader.integer("REFRESH_GRACE_SECONDS", 10, minimum=0),
            password_min_length=reader.integer("PASSWORD_MIN_LENGTH", 14, minimum=8),
            password_max_age_days=reader.integer("PASSWORD_MAX_AGE_DAYS", 90, minimum=0),
            argon2_time_cost=reader.integer("ARGON2_TIME_COST", 3, minimum=1),
            argon2_memory_kib=reader.integer("ARGON2_MEMORY_KIB", 19456, minimum=7168),
            argon2_parallelism=reader.integer("ARGON2_PARALLELISM", 1, minimum=1),
            hash_concurrency=reader.integer("HASH_CONCURRENCY", None, minimum=1),
            hash_wait_seconds=reader.integer("HASH_WAIT_SECONDS", 5, minimum=1),
            rate_limit_scale=float(reader.integer("RATE_LIMIT_SCALE", 1, minimum=1)),
            trusted_proxy_hops=reader.integer("TRUSTED_PROXY_HOPS", 0, minimum=0),
            frontend_url=reader.url("FRONTEND_URL", "http://localhost:5173"),
            api_url=reader.url("API_URL", "http://localhost:8000"),
            email_provider=provider,
            from_email=reader.text("FROM_EMAIL"),
            resend_api_key=secrets.get("RESEND_API_KEY"),
            resend_api_url=reader.url("RESEND_API_URL", "https://api.resend.com"),
            gmail_user=reader.text("GMAIL_USER"),
            gmail_app_password=secrets.get("GMAIL_APP_PASSWORD"),
            smtp_host=reader.text("SMTP_HOST") or "smtp.gmail.com",
            smtp_port=reader.integer("SMTP_PORT", 465, minimum=1),
            aws_region=region,
            storage_backend=reader.choice("STORAGE_BACKEND", STORAGE_BACKENDS, "local"),
            local_storage_dir=reader.text("LOCAL_STORAGE_DIR") or "var/uploads",
            uploads_bucket=reader.text("UPLOADS_BUCKET"),
            upload_max_bytes=reader.integer("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1),
            upload_url_ttl_seconds=reader.integer("UPLOAD_URL_TTL_SECONDS", 300, minimum=30),
            upload_pending_ttl_seconds=reader.integer(
                "UPLOAD_PENDING_TTL_SECONDS", 3600, minimum=60
            ),
            download_url_ttl_seconds=reader.integer("DOWNLOAD_URL_TTL_SECONDS", 60, minimum=5),
            scan_stale_seconds=reader.integer("SCAN_STALE_SECONDS", 600, minimum=10),
            password_reminder_days=reader.integer("PASSWORD_REMINDER_DAYS", 7, minimum=1),
            scanner=reader.choice("SCANNER", SCANNERS, "local"),
            clamd_socket=reader.text("CLAMD_SOCKET"),
            rate_limiter_fail_closed=reader.boolean("RATE_LIMITER_FAIL_CLOSED", False),
            # Responses held to the contract everywhere but production (app/core/spec.py).
            check_responses=reader.boolean("CHECK_RESPONSES", not production),
            slack_lambda_function=(
                reader.text("SLACK_LAMBDA_FUNCTION_ARN")
                or reader.text("SLACK_LAMBDA_FUNCTION_NAME")
            ),
            slack_webhook_url=secrets.get("SLACK_WEBHOOK_URL"),
            outbox_poll_seconds=reader.integer("OUTBOX_POLL_SECONDS", 1, minimum=1),
            outbox_max_attempts=reader.integer("OUTBOX_MAX_ATTEMPTS", 8, minimum=1),
            outbox_retry_base_seconds=reader.integer("OUTBOX_RETRY_BASE_SECONDS", 5, minimum=1),
            outbox_lease_seconds=reader.integer("OUTBOX_LEASE_SECONDS", 60, minimum=15),
            environ=env,
        )
        reader.boolean("EMAIL_VERIFICATION_ENABLED", False)  # validate now, read per request
        problems.extend(_check_rules(settings, env, secrets))
        if problems:
            raise SettingsError(problems)
        return settings


def _check_rules(settings: Settings, env: Mapping[str, str], secrets: dict[str, str]) -> list[str]:
    problems: list[str] = []
    production = settings.is_production
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
            if settings.storage_backend == "s3" and not settings.uploads_bucket:
                problems.append("UPLOADS_BUCKET is required when STORAGE_BACKEND=s3")
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
        value = secrets.get(name)
        if value and len(value.encode()) < MIN_JWT_SECRET_BYTES:
            problems.append(f"{name} must be at least {MIN_JWT_SECRET_BYTES} bytes")
    if settings.refresh_grace_seconds > MAX_REFRESH_GRACE_SECONDS:
        problems.append(
            f"REFRESH_GRACE_SECONDS={settings.refresh_grace_seconds} must be at most "
            f"{MAX_REFRESH_GRACE_SECONDS}: a replay inside the grace is not treated as reuse"
        )
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
    for name in ("JWT_SECRET", "JWT_PREVIOUS_SECRET"):
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
            if isinstance(document, dict) and isinstance(document.get(key), str):
                return document[key]
    return raw


def read_master_credentials(arn: str, fetch: SecretFetcher) -> tuple[str, str]:
    """The RDS-managed master secret is JSON with ``username`` and ``password``."""
    document = json.loads(fetch(arn))
    return document["username"], document["password"]


def _parse_bool(name: str, raw: str, problems: list[str]) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    problems.append(f"{name}={raw} is not a boolean (true/false)")
    return False


class _Reader:
    """Reads typed values, collecting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str], problems: list[str]):
        self.env = env
        self.problems = problems

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int | None, *, minimum: int) -> int | None:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw} is not a whole number")
            return default
        if value < minimum:
            self.problems.append(f"{name}={raw} must be at least {minimum}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        return default if raw is None else _parse_bool(name, raw, self.problems)

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        if raw not in allowed:
            self.problems.append(f"{name}={raw} is not one of {', '.join(allowed)}")
            return default
        return raw

    def samesite(self, name: str, default: str) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        normalised = raw.capitalize()
        if normalised not in SAMESITE_VALUES:
            self.problems.append(f"{name}={raw} is not one of Strict, Lax, None")
            return default
        return normalised

    def url(self, name: str, default: str) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problems.append(f"{name}={raw} is not an http(s) URL")
            return default
        return raw.rstrip("/")


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

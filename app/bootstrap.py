"""The composition root: the one place that turns settings into working parts.

Every entrypoint builds what it runs here, and nowhere else:

- the API factory (``app.main``): ``api(settings)`` gives the services its routes call;
- each Lambda handler (``app.jobs.*``): a module-level ``ColdStart`` reads the settings (secrets
  resolved), configures logging and calls its builder (``scan_result_job``, ``maintenance_job``,
  ``db_admin_job``, ``slack_notify_job``) once per execution environment;
- the operator CLI (``app.cli``): ``operator_commands(settings)``;
- the tests, through the same functions with a collaborator passed in (a fake clock, a recording
  email sender, an S3 client on a moto server) instead of the one the settings would choose.

Each adapter is chosen here, in one function per kind: ``build_email_sender``, ``build_storage``,
``build_notifier``, ``build_local_scan`` and ``build_metrics``. An AWS SDK (boto3, botocore) is
imported inside the branch that builds an AWS adapter, so a process whose settings configure none
(local storage and scanner, console, Resend or SMTP email, the log notifier) never loads it.
Likewise each builder imports the services it builds, so a Lambda loads only its own parts (the
slack-notify function: settings and logging, no database layer). Everything is built complete, in
dependency order: nothing is assigned after construction.

Layers (``[tool.importlinter]`` in pyproject.toml, checked by ``make lint``): entrypoints (main,
cli, jobs) > this module | routes > services > models | integrations > core > schemas. This
module knows nothing of HTTP: the API factory adds Falcon on top of what it builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from app.core.clock import Clock, system_clock
from app.core.logging import configure_logging
from app.core.metrics import EmfMetrics, Metrics, NullMetrics
from app.core.settings import SecretFetcher, Settings, secrets_manager_fetcher

if TYPE_CHECKING:
    from playhouse.pool import PooledPostgresqlDatabase

    from app.core.security import PasswordHashing
    from app.integrations.email import EmailSender
    from app.integrations.notifier import Notifier
    from app.integrations.storage import ObjectStorage
    from app.services.applications import ApplicationService
    from app.services.attachments import AttachmentService
    from app.services.auth import AuthService
    from app.services.idempotency import IdempotentCreates
    from app.services.local_scanning import LocalScanRunner
    from app.services.maintenance import MaintenanceService
    from app.services.mfa import MfaService
    from app.services.outbox import OutboxDrainer, OutboxWriter
    from app.services.passkeys import PasskeyService
    from app.services.rate_limit import RateLimiter

T = TypeVar("T")

# ----- adapters: each chosen in one place ---------------------------------------------------


def build_email_sender(settings: Settings) -> EmailSender:
    """The sender for ``settings.email_provider``.

    Settings already refuses an incomplete provider in production; ``Settings.email()``
    repeats the check for every environment, so a development or test set-up fails here,
    naming what is missing, rather than at the first send.
    """
    from app.core.settings import (
        ConsoleEmailConfig,
        GmailEmailConfig,
        ResendEmailConfig,
        SesEmailConfig,
        SettingsError,
    )
    from app.integrations.email import ConsoleSender, EmailConfigurationError, ResendSender

    try:
        config = settings.email()
    except SettingsError as error:
        raise EmailConfigurationError("; ".join(error.problems)) from None
    if isinstance(config, ConsoleEmailConfig):
        return ConsoleSender(production=config.production)
    if isinstance(config, ResendEmailConfig):
        return ResendSender(
            api_key=config.api_key, from_email=config.from_email, api_url=config.api_url
        )
    if isinstance(config, SesEmailConfig):
        from app.integrations import aws

        aws.import_botocore()  # before boto3 imports botocore: without pyOpenSSL
        from app.integrations.email.ses import SesSender  # boto3: only when SES is configured

        return SesSender(from_email=config.from_email, region=config.region)
    if isinstance(config, GmailEmailConfig):
        from app.integrations.email.smtp import GmailSmtpSender  # smtplib: only when configured

        return GmailSmtpSender(
            user=config.user, app_password=config.app_password, host=config.host, port=config.port
        )
    raise EmailConfigurationError(f"EMAIL_PROVIDER={settings.email_provider} is not known")


def build_storage(settings: Settings) -> ObjectStorage:
    """S3 when ``STORAGE_BACKEND=s3``, else files under ``LOCAL_STORAGE_DIR``."""
    from app.integrations.storage import LocalStorage, LocalTokens, S3Storage

    if settings.storage_backend == "s3":
        from app.integrations import aws  # botocore: only when S3 is configured

        s3 = settings.s3_storage()
        return S3Storage(s3.bucket, aws.client("s3", s3.region))
    local = settings.local_storage()
    return LocalStorage(Path(local.directory), local.api_url, LocalTokens(local.signing_secret))


def build_notifier(settings: Settings) -> Notifier:
    """LambdaNotifier when ``SLACK_LAMBDA_FUNCTION_NAME``/``_ARN`` is set, else LogNotifier."""
    from app.integrations.notifier import LogNotifier

    if settings.slack_lambda_function:
        from app.integrations import aws

        aws.import_botocore()  # before the notifier's module imports botocore
        from app.integrations.lambda_notifier import LambdaNotifier  # botocore: only when set

        return LambdaNotifier(settings.slack_lambda_function, settings.aws_region)
    return LogNotifier()


def build_metrics(settings: Settings) -> Metrics:
    """EMF records on stdout when ``METRICS=emf`` (the shipped stacks), else none."""
    if settings.metrics == "emf":
        return EmfMetrics(settings.metrics_namespace)
    return NullMetrics()


def build_local_scan(settings: Settings, storage: ObjectStorage) -> LocalScanRunner | None:
    """The in-process scanner when ``SCANNER=local`` and the files are held locally; GuardDuty
    scans S3 uploads by itself, so there is nothing to run then."""
    from app.integrations.scanner import LocalScanner
    from app.services.local_scanning import LocalScanRunner

    files = storage.served_files
    if settings.scanner != "local" or files is None:
        return None
    return LocalScanRunner(LocalScanner(settings.clamd_socket), files)


def second_factors(
    settings: Settings,
    hashing: PasswordHashing,
    limiter: RateLimiter,
    clock: Clock,
    passkeys: PasskeyService,
    outbox: OutboxWriter,
) -> MfaService:
    """The second-factor methods the API accepts, in the order ``methods`` lists them
    (app/services/mfa.py says how a method is added)."""
    from app.core.factor_sealing import FactorSecretCipher
    from app.services.mfa import MfaService, RecoveryCodeMethod, TotpMethod
    from app.services.passkeys import PasskeyMethod

    return MfaService(
        hashing=hashing,
        limiter=limiter,
        clock=clock,
        totp=TotpMethod(FactorSecretCipher(settings), clock),
        recovery_codes=RecoveryCodeMethod(hashing, clock),
        methods=[PasskeyMethod(passkeys)],
        outbox=outbox,
    )


# ----- the API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiServices:
    """What the API factory puts behind its routes and middleware."""

    settings: Settings
    clock: Clock
    database: PooledPostgresqlDatabase
    auth: AuthService
    applications: ApplicationService
    attachments: AttachmentService
    creates: IdempotentCreates
    outbox_drainer: OutboxDrainer
    metrics: Metrics
    passkeys: PasskeyService


def api(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    email_sender: EmailSender | None = None,
    hashing: PasswordHashing | None = None,
    storage: ObjectStorage | None = None,
    notifier: Notifier | None = None,
    metrics: Metrics | None = None,
) -> ApiServices:
    """The API worker's services, on the app role's database. A collaborator passed in replaces
    the one the settings would choose (tests)."""
    from app.core import db_deadline
    from app.core.database import init_database, make_database
    from app.core.json_encoding import json_default
    from app.core.sealing import PayloadSealer
    from app.core.security import PasswordHashing
    from app.services.applications import ApplicationService
    from app.services.attachments import AttachmentService
    from app.services.auth import AuthService
    from app.services.idempotency import IdempotentCreates, purge_expired
    from app.services.mfa import purge_spent
    from app.services.outbox import OutboxDrainer, OutboxWriter
    from app.services.passkeys import PasskeyService, purge_expired_challenges
    from app.services.rate_limit import RateLimiter

    configure_logging(settings.log_level)
    metrics = metrics or build_metrics(settings)
    # Process-wide: every psycopg2 wait in the API process is bounded (app/core/db_deadline.py).
    db_deadline.install(settings.db_request_deadline_ms / 1000)
    database = init_database(settings.database_url, settings)
    # The limiter commits through its own pool, apart from the request's transaction.
    limiter_db = make_database(
        settings.database_url, settings, application_name="jobapptracker-limiter"
    )
    sealer = PayloadSealer(settings)
    # One connection of its own: the drainer never takes a request thread's connection.
    outbox_drainer = OutboxDrainer(
        settings,
        make_database(
            settings.database_url, settings, application_name="jobapptracker-outbox", pool_size=1
        ),
        email_sender or build_email_sender(settings),
        sealer,
        clock,
        metrics=metrics,
        housekeeping=[purge_expired, purge_expired_challenges, purge_spent],
    )
    hashing = hashing or PasswordHashing(settings)
    limiter = RateLimiter(
        limiter_db,
        clock,
        scale=settings.rate_limit_scale,
        fail_closed=settings.rate_limiter_fail_closed,
        metrics=metrics,
    )
    passkeys = PasskeyService(settings.frontend_url, limiter=limiter, clock=clock)
    outbox = OutboxWriter(sealer, clock)
    auth = AuthService(
        settings,
        hashing=hashing,
        limiter=limiter,
        outbox=outbox,
        clock=clock,
        mfa=second_factors(settings, hashing, limiter, clock, passkeys, outbox),
        metrics=metrics,
    )
    storage = storage or build_storage(settings)
    attachments = AttachmentService(
        settings,
        storage,
        clock,
        notifier or build_notifier(settings),
        build_local_scan(settings, storage),
    )
    return ApiServices(
        settings=settings,
        clock=clock,
        database=database,
        auth=auth,
        applications=ApplicationService(clock, attachments),
        attachments=attachments,
        creates=IdempotentCreates(sealer, clock, json_default),
        outbox_drainer=outbox_drainer,
        metrics=metrics,
        passkeys=passkeys,
    )


# ----- the Lambda jobs ----------------------------------------------------------------------


class ColdStart(Generic[T]):
    """What a Lambda handler builds once per execution environment and reuses on every later
    invocation: the settings (secrets resolved from Secrets Manager), the logging, then
    ``build(settings)``."""

    def __init__(self, component: str, build: Callable[[Settings], T]):
        self.component = component
        self.build = build
        self._built: T | None = None

    def __call__(self) -> T:
        if self._built is None:
            settings = Settings.from_env(component=self.component)
            configure_logging(settings.log_level)
            self._built = self.build(settings)
        return self._built


@dataclass(frozen=True)
class ScanResultJob:
    settings: Settings
    database: PooledPostgresqlDatabase
    attachments: AttachmentService
    metrics: Metrics


def _job_attachments(
    settings: Settings, clock: Clock, storage: ObjectStorage | None, notifier: Notifier | None
) -> AttachmentService:
    """The attachment service a Lambda uses; a collaborator passed in replaces the chosen one."""
    from app.services.attachments import AttachmentService

    return AttachmentService(
        settings, storage or build_storage(settings), clock, notifier or build_notifier(settings)
    )


def scan_result_job(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    storage: ObjectStorage | None = None,
    notifier: Notifier | None = None,
) -> ScanResultJob:
    """GuardDuty's results applied as the jobs role, which reads across users."""
    from app.core.database import init_database

    database = init_database(
        settings.jobs_database_url, settings, application_name="jat-scan-result"
    )
    attachments = _job_attachments(settings, clock, storage, notifier)
    return ScanResultJob(settings, database, attachments, build_metrics(settings))


@dataclass(frozen=True)
class MaintenanceJob:
    settings: Settings
    database: PooledPostgresqlDatabase
    maintenance: MaintenanceService
    metrics: Metrics


def maintenance_job(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    storage: ObjectStorage | None = None,
    notifier: Notifier | None = None,
    email_sender: EmailSender | None = None,
) -> MaintenanceJob:
    """The daily housekeeping as the jobs role, whose grants allow exactly its reads, updates
    and deletes."""
    from app.core.database import init_database
    from app.services.maintenance import MaintenanceService

    database = init_database(
        settings.jobs_database_url, settings, application_name="jat-maintenance"
    )
    attachments = _job_attachments(settings, clock, storage, notifier)
    maintenance = MaintenanceService(
        settings, attachments, email_sender or build_email_sender(settings), clock
    )
    return MaintenanceJob(settings, database, maintenance, build_metrics(settings))


@dataclass(frozen=True)
class DbAdminJob:
    settings: Settings
    fetch_secret: SecretFetcher
    metrics: Metrics


def db_admin_job(settings: Settings) -> DbAdminJob:
    """Role bootstrap and migrations; the RDS master secret is read from Secrets Manager."""
    return DbAdminJob(
        settings, secrets_manager_fetcher(settings.aws_region), build_metrics(settings)
    )


@dataclass(frozen=True)
class SlackNotifyJob:
    settings: Settings
    metrics: Metrics


def slack_notify_job(settings: Settings) -> SlackNotifyJob:
    """The webhook URL is in the settings, resolved from its secret at cold start."""
    return SlackNotifyJob(settings, build_metrics(settings))


# ----- the operator CLI ---------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorCommands:
    """Account administration needs the database only: no signing key, no email provider."""

    database: PooledPostgresqlDatabase
    clock: Clock


def operator_commands(settings: Settings, *, clock: Clock = system_clock) -> OperatorCommands:
    from app.core.database import init_database

    return OperatorCommands(init_database(settings.database_url, settings, pool_size=1), clock)


def operator_second_factors(settings: Settings, commands: OperatorCommands) -> MfaService:
    """What ``users reset-factors`` needs: every method (to remove each one's factors) and the
    outbox for the account's notice, sealed like the API's (so ``JWT_SECRET`` is required). It
    verifies nothing, so the limiter it is given is never consulted."""
    from app.core.sealing import PayloadSealer
    from app.core.security import PasswordHashing
    from app.core.settings import SettingsError
    from app.services.outbox import OutboxWriter
    from app.services.passkeys import PasskeyService
    from app.services.rate_limit import RateLimiter

    if not settings.jwt_secret:
        raise SettingsError(
            ["JWT_SECRET is required: the account's notice is queued sealed, as the API seals it"]
        )
    clock = commands.clock
    limiter = RateLimiter(commands.database, clock, scale=1, fail_closed=True)
    outbox = OutboxWriter(PayloadSealer(settings), clock)
    passkeys = PasskeyService(settings.frontend_url, limiter=limiter, clock=clock)
    return second_factors(settings, PasswordHashing(settings), limiter, clock, passkeys, outbox)

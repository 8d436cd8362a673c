"""The application factory. gunicorn serves the module-level ``app`` (``app.main:app``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from uuid import UUID

import falcon
import falcon.media

from app import openapi
from app.core import db_deadline, middleware
from app.core.auth_middleware import AuthenticationMiddleware, ClientInfoMiddleware
from app.core.clock import Clock, system_clock
from app.core.database import init_database, make_database
from app.core.errors import register_error_handlers
from app.core.logging import configure_logging
from app.core.sealing import PayloadSealer
from app.core.security import PasswordHashing
from app.core.settings import Settings
from app.integrations.email import EmailSender, build_email_sender
from app.integrations.notifier import build_notifier
from app.integrations.scanner import LocalScanner
from app.integrations.storage import LocalStorage, LocalTokens, ObjectStorage, S3Storage
from app.routes import applications as application_routes
from app.routes import attachments as attachment_routes
from app.routes import auth as auth_routes
from app.routes import users as user_routes
from app.routes.health import LivenessResource, ReadinessResource
from app.services.applications import ApplicationService
from app.services.attachments import AttachmentService
from app.services.auth import AuthService
from app.services.idempotency import REPLAYED_HEADER, IdempotentCreates, purge_expired
from app.services.local_scanning import LocalScanRunner
from app.services.outbox import OutboxDrainer, OutboxWriter
from app.services.rate_limit import RateLimiter

EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "ETag", "Location", REPLAYED_HEADER]


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# No request body of this API nests more than a few levels; anything deeper is refused the same
# way on every Python version (3.13's parser accepts depths that 3.11's refuses).
MAX_JSON_DEPTH = 64


def _nested_deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_loads(text: str):
    """json.loads, with a document nested deeper than ``MAX_JSON_DEPTH`` (or than the parser's
    recursion limit) refused as malformed: Falcon answers a ValueError with 400, where a
    RecursionError would escape as a 500."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise ValueError("the JSON document is nested too deeply") from exc
    if isinstance(value, dict | list) and _nested_deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError("the JSON document is nested too deeply")
    return value


def build_storage(settings: Settings):
    if settings.storage_backend == "s3":
        import boto3

        return S3Storage(
            settings.uploads_bucket, boto3.client("s3", region_name=settings.aws_region)
        )
    return LocalStorage(
        Path(settings.local_storage_dir), settings.api_url, LocalTokens(settings.jwt_secret)
    )


@dataclass(frozen=True)
class Assembly:
    """The WSGI app and the background work that runs beside it in each worker."""

    app: falcon.App
    outbox_drainer: OutboxDrainer
    security_headers: dict[str, str]


def create_app(settings: Settings, **collaborators) -> falcon.App:
    """The WSGI app alone (no background thread): tests and tooling."""
    return assemble(settings, **collaborators).app


def assemble(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    email_sender: EmailSender | None = None,
    hashing: PasswordHashing | None = None,
    storage: ObjectStorage | None = None,
    notifier=None,
) -> Assembly:
    """Wire everything in one visible place. Collaborators can be passed in by tests."""
    configure_logging(settings.log_level)
    deadline_seconds = settings.db_request_deadline_ms / 1000
    # Process-wide: every psycopg2 wait in the API process is bounded (app/core/db_deadline.py).
    db_deadline.install(deadline_seconds)
    init_database(settings.database_url, settings)
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
        housekeeping=[purge_expired],
    )
    auth = AuthService(
        settings,
        hashing=hashing or PasswordHashing(settings),
        limiter=RateLimiter(
            limiter_db,
            clock,
            scale=settings.rate_limit_scale,
            fail_closed=settings.rate_limiter_fail_closed,
        ),
        outbox=OutboxWriter(sealer, clock),
        clock=clock,
    )

    app = falcon.App(
        middleware=[
            # First, so the request's database budget is set before any middleware's query.
            middleware.DatabaseSessionMiddleware(deadline_seconds),
            middleware.RequestIdMiddleware(),
            middleware.AccessLogMiddleware(),
            middleware.SecurityHeadersMiddleware(settings),
            falcon.CORSMiddleware(
                allow_origins=settings.frontend_url,
                allow_credentials=settings.frontend_url,
                expose_headers=EXPOSED_HEADERS,
            ),
            # Local uploads stream the file itself; their size is checked against the upload.
            middleware.BodyPolicyMiddleware(
                settings.max_request_bytes, exempt_prefixes=("/local-storage/uploads/",)
            ),
            ClientInfoMiddleware(settings),
            AuthenticationMiddleware(auth, settings),
        ],
    )
    json_handler = falcon.media.JSONHandler(
        dumps=partial(json.dumps, default=_json_default), loads=_json_loads
    )
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = True
    register_error_handlers(app)

    app.add_route("/health", LivenessResource())
    app.add_route("/health/ready", ReadinessResource(settings))
    storage = storage or build_storage(settings)
    local_scan = None
    if settings.scanner == "local" and isinstance(storage, LocalStorage):
        local_scan = LocalScanRunner(LocalScanner(settings.clamd_socket), storage)
    attachments = AttachmentService(
        settings, storage, clock, notifier or build_notifier(settings), local_scan
    )
    if local_scan is not None:
        local_scan.service = attachments
    applications = ApplicationService(clock, attachments)
    auth_routes.add_routes(app, auth, settings)
    user_routes.add_routes(app, auth, settings, applications)
    creates = IdempotentCreates(sealer, clock, _json_default)
    application_routes.add_routes(app, applications, creates)
    attachment_routes.add_routes(app, attachments, settings, clock, creates)
    openapi.add_routes(app, settings)
    return Assembly(
        app=app,
        outbox_drainer=outbox_drainer,
        security_headers=middleware.security_headers(hsts=settings.is_production),
    )


_running: Assembly | None = None


def _wsgi_app():
    """Built lazily so importing this module (tests, tooling) needs no configuration. gunicorn
    loads it in each worker after the fork (no preload), so each worker starts its own drainer
    thread; gunicorn_conf.worker_exit stops it when the worker leaves."""
    global _running
    _running = assemble(Settings.from_env(component="api"))
    _running.outbox_drainer.start()
    return _running.app


def security_headers_in_force() -> dict[str, str]:
    """The security headers this worker's app sets, for the answers gunicorn writes itself
    (app/gunicorn_worker.py); the production-free set until the app is loaded."""
    if _running is None:
        return middleware.security_headers(hsts=False)
    return _running.security_headers


def stop_background(timeout: float = 10.0) -> None:
    """Stop this worker's background threads (called by gunicorn as the worker exits)."""
    if _running is not None:
        _running.outbox_drainer.stop(timeout)


def __getattr__(name: str):
    if name == "app":
        globals()["app"] = application = _wsgi_app()
        return application
    raise AttributeError(name)

"""The API factory: Falcon's app (middleware, media handlers, error handlers, routes) on top of
the services the composition root builds (app/bootstrap.py). gunicorn serves the module-level
``app`` (``app.main:app``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import falcon
import falcon.media

from app import bootstrap, openapi
from app.core import middleware, spec
from app.core.errors import register_error_handlers
from app.core.json_encoding import json_dumps
from app.core.settings import Settings
from app.routes import applications as application_routes
from app.routes import attachments as attachment_routes
from app.routes import auth as auth_routes
from app.routes import mfa as mfa_routes
from app.routes import passkeys as passkey_routes
from app.routes import users as user_routes
from app.routes.auth_middleware import AuthenticationMiddleware, ClientInfoMiddleware
from app.routes.health import LivenessResource, ReadinessResource
from app.services.idempotency import REPLAYED_HEADER
from app.services.outbox import OutboxDrainer

EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "ETag", "Location", REPLAYED_HEADER]


# No request body of this API nests more than a few levels; anything deeper is refused the same
# way on every Python version (3.13's parser accepts depths that 3.11's refuses).
MAX_JSON_DEPTH = 64


def _nested_deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_loads(text: str) -> Any:
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


@dataclass(frozen=True)
class Assembly:
    """The WSGI app and the background work that runs beside it in each worker."""

    app: falcon.App[Any, Any]
    outbox_drainer: OutboxDrainer
    security_headers: dict[str, str]
    wsgi: middleware.HealthFastPath


def create_app(settings: Settings, **collaborators: Any) -> falcon.App[Any, Any]:
    """The WSGI app alone (no background thread): tests and tooling."""
    return assemble(settings, **collaborators).app


def assemble(settings: Settings, **collaborators: Any) -> Assembly:
    """The HTTP side of the API on the services the composition root builds (app/bootstrap.py);
    collaborators passed in replace the ones the settings would choose (tests)."""
    services = bootstrap.api(settings, **collaborators)
    spec.check_responses(settings.check_responses)
    # Falcon's middleware protocols are generic in the request and response types; these are
    # plain classes with the hooks they need.
    chain: list[Any] = [
        # First, so the request's database budget is set before any middleware's query.
        middleware.DatabaseSessionMiddleware(settings.db_request_deadline_ms / 1000),
        middleware.RequestIdMiddleware(),
        middleware.AccessLogMiddleware(),
        # After the access log, so its response step runs first, while the request id is
        # still bound; absent when metrics are off, so it costs nothing then.
        *(
            [middleware.RequestMetricsMiddleware(services.metrics)]
            if services.metrics.enabled
            else []
        ),
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
        AuthenticationMiddleware(services.auth, settings),
    ]
    app = falcon.App(middleware=chain)
    json_handler = falcon.media.JSONHandler(dumps=json_dumps, loads=_json_loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = True
    register_error_handlers(app, services.metrics)

    app.add_route("/health", LivenessResource())
    app.add_route("/health/ready", ReadinessResource(settings))
    auth_routes.add_routes(app, services.auth, settings)
    mfa_routes.add_routes(app, services.auth, settings)
    user_routes.add_routes(app, services.auth, settings, services.applications)
    application_routes.add_routes(app, services.applications, services.creates)
    attachment_routes.add_routes(app, services.attachments, settings, services.creates)
    passkey_routes.add_routes(app, services.passkeys, services.auth.mfa)
    openapi.add_routes(app, settings)
    security_headers = middleware.security_headers(hsts=settings.is_production)
    return Assembly(
        app=app,
        outbox_drainer=services.outbox_drainer,
        security_headers=security_headers,
        wsgi=middleware.HealthFastPath(app, security_headers),
    )


_running: Assembly | None = None


def _wsgi_app() -> middleware.HealthFastPath:
    """Built lazily so importing this module (tests, tooling) needs no configuration. gunicorn
    loads it in each worker after the fork (no preload), so each worker starts its own drainer
    thread; gunicorn_conf.worker_exit stops it when the worker leaves."""
    global _running
    _running = assemble(Settings.from_env(component="api"))
    _running.outbox_drainer.start()
    return _running.wsgi


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


def __getattr__(name: str) -> Any:
    if name == "app":
        globals()["app"] = application = _wsgi_app()
        return application
    raise AttributeError(name)

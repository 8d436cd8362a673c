"""The application factory. gunicorn serves the module-level ``app`` (``app.main:app``)."""

from __future__ import annotations

import falcon

from app.core import middleware
from app.core.database import init_database
from app.core.errors import register_error_handlers
from app.core.logging import configure_logging
from app.core.settings import Settings
from app.routes.health import LivenessResource, ReadinessResource


def create_app(settings: Settings) -> falcon.App:
    configure_logging(settings.log_level)
    init_database(settings.database_url, settings)

    app = falcon.App(
        middleware=[
            middleware.RequestIdMiddleware(),
            middleware.AccessLogMiddleware(),
            middleware.SecurityHeadersMiddleware(settings),
            middleware.BodyPolicyMiddleware(settings.max_request_bytes),
            middleware.DatabaseSessionMiddleware(),
        ],
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.secure_cookies_by_default = True
    register_error_handlers(app)

    app.add_route("/health", LivenessResource())
    app.add_route("/health/ready", ReadinessResource(settings))
    return app


def _wsgi_app():
    """Built lazily so importing this module (tests, tooling) needs no configuration."""
    return create_app(Settings.from_env(component="api"))


def __getattr__(name: str):
    if name == "app":
        globals()["app"] = application = _wsgi_app()
        return application
    raise AttributeError(name)

"""Liveness and readiness, outside the API version."""

from __future__ import annotations

import falcon

from app.core.database import probe
from app.core.errors import meta
from app.core.settings import Settings


class LivenessResource:
    """Answers without touching the database: the process is up and serving."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"success": True, "data": {"status": "ok"}, "meta": meta(req)}


class ReadinessResource:
    """200 when the database answers within a bounded time; 503 in the envelope otherwise.
    Each check opens a fresh connection, so it recovers as soon as the database does."""

    def __init__(self, settings: Settings):
        self._settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        probe(self._settings, self._settings.database_url)
        resp.media = {
            "success": True,
            "data": {"status": "ready", "database": "ok"},
            "meta": meta(req),
        }

"""The ceiling for scripts/bench.py: a bare Falcon app, no middleware, no database, answering
GET /v1/applications with a constant page shaped like GET /v1/applications?limit=20, and GET
/health with the API's liveness answer (its envelope, a fresh request id and timestamp; no
headers beyond Falcon's own).

    gunicorn -c app/gunicorn_conf.py scripts.ceiling_app:app
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import falcon

ITEM_ID = "0b8e5a7e-3f4c-4d1e-9a55-6f1f2b7c9d10"
ITEM = {
    "id": ITEM_ID,
    "company": "Acme Corp",
    "role_title": "Backend Engineer",
    "status": "applied",
    "applied_on": "2025-03-14",
    "job_url": "https://jobs.example.com/acme/backend-engineer",
    "location": "Remote",
    "source": "referral",
    "salary_min": 60000,
    "salary_max": 80000,
    "salary_currency": "EUR",
    "notes": "Referred by a former colleague; first call with the hiring manager.",
    "next_action_at": None,
    "archived": False,
    "created_at": "2025-03-14T09:30:00.000000Z",
    "updated_at": "2025-03-14T09:30:00.000000Z",
    "version": 1,
}
PAGE = {
    "success": True,
    "data": [{**ITEM, "id": f"{ITEM_ID[:-2]}{index:02d}"} for index in range(20)],
    "meta": {
        "request_id": "0" * 32,
        "timestamp": "2025-03-14T09:30:00.000000Z",
        "next_cursor": "WyItdXBkYXRlZF9hdCIsIjIwMjUtMDMtMTRUMDk6MzA6MDArMDA6MDAiXQ",
        "limit": 20,
        "sort": "-updated_at",
    },
}


class PageResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = PAGE


class HealthResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "success": True,
            "data": {"status": "ok"},
            "meta": {
                "request_id": uuid.uuid4().hex,
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
        }


app = falcon.App()
app.add_route("/v1/applications", PageResource())
app.add_route("/health", HealthResource())

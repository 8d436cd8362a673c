"""Thin resources for /v1/applications*, /v1/users/me/export and DELETE /v1/users/me."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import falcon

from app.core.database import UserRead
from app.core.errors import AppError, ValidationFailed
from app.core.spec import api_spec
from app.routes.auth import BEARER
from app.routes.common import create_request, ok, respond_created, responses
from app.schemas.applications import (
    ApplicationCreate,
    ApplicationListResponse,
    ApplicationResponse,
    ApplicationUpdate,
    EventListResponse,
    ListQuery,
    StatsQuery,
    StatsResponse,
)
from app.services.applications import ApplicationService
from app.services.idempotency import Created, IdempotentCreates

TAGS = ["applications"]
_ETAG = re.compile(r'^(?:W/)?"(\d+)"$')


def if_match_version(req: falcon.Request) -> int | None:
    header = req.get_header("If-Match")
    if header is None:
        return None
    match = _ETAG.match(header.strip())
    if not match:
        raise ValidationFailed([{"field": "If-Match", "message": 'must be an ETag like "3"'}])
    return int(match.group(1))


def etag(resp: falcon.Response, data: dict[str, Any]) -> None:
    resp.set_header("ETag", f'"{data["version"]}"')


class ApplicationsResource:
    auth_required = True

    def __init__(self, service: ApplicationService, creates: IdempotentCreates):
        self.service = service
        self.creates = creates

    @api_spec.validate(
        operation_id="listApplications",
        query=ListQuery,
        resp=responses(200, ApplicationListResponse, 401, 403, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, query: ListQuery) -> None:
        """List applications, with filters, a sort order and keyset pagination: pass
        `meta.next_cursor` as `cursor` for the next page (it is null on the last page)."""
        items, next_cursor = self.service.list(req.context.current.user.id, query)
        ok(req, resp, items, next_cursor=next_cursor, limit=query.limit, sort=query.sort)

    @api_spec.validate(
        operation_id="createApplication",
        json=ApplicationCreate,
        resp=responses(201, ApplicationResponse, 401, 403, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: ApplicationCreate) -> None:
        """Track a new application. Its first timeline event records the initial status;
        `Location` is its URL and `ETag` its version. With an `Idempotency-Key`, a retry answers
        the first result again and creates nothing."""
        user_id = req.context.current.user.id

        def create() -> Created:
            data = self.service.create(user_id, json)
            location = f"/v1/applications/{data['id']}"
            return Created(data, {"ETag": f'"{data["version"]}"', "Location": location})

        respond_created(req, resp, self.creates.run(create_request(req), user_id, create))


class ApplicationResource:
    auth_required = True

    def __init__(self, service: ApplicationService):
        self.service = service

    def read_with_authentication(
        self, method: str, params: dict[str, Any]
    ) -> Callable[[uuid.UUID], UserRead] | None:
        """GET's application is read in the authentication's round trip."""
        if method != "GET":
            return None
        application_id = params["application_id"]
        return lambda user_id: self.service.one(user_id, application_id)

    @api_spec.validate(
        operation_id="getApplication",
        resp=responses(200, ApplicationResponse, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, application_id: uuid.UUID) -> None:
        """Read one application, with its version as `ETag`. Another user's id answers 404."""
        data = self.service.of(req.context.current.read)
        etag(resp, data)
        ok(req, resp, data)

    @api_spec.validate(
        operation_id="updateApplication",
        json=ApplicationUpdate,
        resp=responses(200, ApplicationResponse, 401, 403, 404, 409, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_patch(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        application_id: uuid.UUID,
        json: ApplicationUpdate,
    ) -> None:
        """Change some fields of an application. The change must name the version it is based
        on, as `version` in the body or an `If-Match` header: without either the answer is 428
        `PRECONDITION_REQUIRED`, when both are sent and differ 400 `VERSION_MISMATCH`, and a stale
        version gets 409 `VERSION_CONFLICT`. A status change records a timeline event in the same
        transaction."""
        if not req.content_length:
            # spectree reads a missing body as {}; the document says a body is required.
            raise AppError(400, "BODY_REQUIRED", "The request needs a JSON body.")
        data = self.service.update(
            req.context.current.user.id, application_id, json, if_match_version(req)
        )
        etag(resp, data)
        ok(req, resp, data)

    @api_spec.validate(
        operation_id="deleteApplication",
        resp=responses(204, None, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, application_id: uuid.UUID
    ) -> None:
        """Delete an application with its timeline."""
        self.service.delete(req.context.current.user.id, application_id)
        resp.status = 204


class EventsResource:
    auth_required = True

    def __init__(self, service: ApplicationService):
        self.service = service

    @api_spec.validate(
        operation_id="listApplicationEvents",
        resp=responses(200, EventListResponse, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, application_id: uuid.UUID) -> None:
        """The status timeline of one application, oldest first."""
        ok(req, resp, self.service.events(req.context.current.user.id, application_id))


class StatsResource:
    auth_required = True

    def __init__(self, service: ApplicationService):
        self.service = service

    @api_spec.validate(
        operation_id="getApplicationStats",
        query=StatsQuery,
        resp=responses(200, StatsResponse, 401, 403, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, query: StatsQuery) -> None:
        """Counts by status, response rate (past `applied` among those at `applied` or beyond;
        wishlist and withdrawn are in neither), and applications per ISO week over the last 12
        weeks in `tz` (an IANA zone; UTC by default)."""
        ok(req, resp, self.service.stats(req.context.current.user.id, query.tz))


def add_routes(
    app: falcon.App[Any, Any], service: ApplicationService, creates: IdempotentCreates
) -> None:
    app.add_route("/v1/applications", ApplicationsResource(service, creates))
    app.add_route("/v1/applications/stats", StatsResource(service))
    app.add_route("/v1/applications/{application_id:uuid}", ApplicationResource(service))
    app.add_route("/v1/applications/{application_id:uuid}/events", EventsResource(service))

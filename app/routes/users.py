"""Thin resources for /v1/users/me*: the signed-in account, its events, export and deletion."""

from __future__ import annotations

from typing import Any

import falcon

from app.core.settings import Settings
from app.core.spec import api_spec
from app.routes.auth import BEARER, REFRESH_COOKIE, AuthResources
from app.routes.common import ok, responses
from app.schemas.applications import DeleteAccountBody, ExportResponse
from app.schemas.auth import SecurityEventListResponse, SecurityEventsQuery, UserResponse
from app.services.applications import ApplicationService
from app.services.auth import AuthService


class MeResource(AuthResources):
    auth_required = True
    account_state_exempt = frozenset({"GET"})  # the user must be able to see why they are gated

    def __init__(self, auth: AuthService, settings: Settings, service: ApplicationService):
        super().__init__(auth, settings)
        self.service = service

    @api_spec.validate(
        operation_id="getCurrentUser",
        resp=responses(200, UserResponse, 401),
        tags=["users"],
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The signed-in user, with `must_change_password`."""
        ok(req, resp, self.auth.describe(req.context.current.user))

    @api_spec.validate(
        operation_id="deleteAccount",
        json=DeleteAccountBody,
        resp=responses(204, None, 401, 403, 422, 429),
        tags=["users"],
        security=BEARER,
    )
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, json: DeleteAccountBody
    ) -> None:
        """Delete the account and everything it owns, given the current password."""
        current = req.context.current
        self.auth.confirm_password(current, json.password)
        self.service.delete_account(current.user)
        if REFRESH_COOKIE in req.cookies:
            self.clear_refresh_cookie(resp)
        resp.status = 204


class SecurityEventsResource(AuthResources):
    auth_required = True

    @api_spec.validate(
        operation_id="listSecurityEvents",
        query=SecurityEventsQuery,
        resp=responses(200, SecurityEventListResponse, 401),
        tags=["users"],
        security=BEARER,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: SecurityEventsQuery
    ) -> None:
        """Recent security events of this account, newest first."""
        ok(req, resp, self.auth.security_events(req.context.current, query.limit))


class ExportResource:
    auth_required = True

    def __init__(self, service: ApplicationService):
        self.service = service

    @api_spec.validate(
        operation_id="exportAccount",
        resp=responses(200, ExportResponse, 401, 403),
        tags=["users"],
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Everything this account owns, as JSON."""
        resp.set_header("Content-Disposition", 'attachment; filename="jobapptracker-export.json"')
        ok(req, resp, self.service.export(req.context.current.user))


def add_routes(
    app: falcon.App[Any, Any], auth: AuthService, settings: Settings, service: ApplicationService
) -> None:
    app.add_route("/v1/users/me", MeResource(auth, settings, service))
    app.add_route("/v1/users/me/security-events", SecurityEventsResource(auth, settings))
    app.add_route("/v1/users/me/export", ExportResource(service))

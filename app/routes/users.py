"""Thin resources for /v1/users/me*: the signed-in account, its address, its events, export and
deletion."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import falcon

from app.core.database import UserRead
from app.core.settings import Settings
from app.core.spec import api_spec
from app.routes.auth import (
    BEARER,
    DEVICE_COOKIE,
    REFRESH_COOKIE,
    STEP_UP_REQUIRED,
    AuthResources,
)
from app.routes.common import ok, responses
from app.schemas.applications import DeleteAccountBody, ExportResponse
from app.schemas.auth import (
    EmailChangeBody,
    MessageResponse,
    SecurityEventListResponse,
    SecurityEventsQuery,
    TokenBody,
    UserResponse,
)
from app.schemas.mfa import CurrentUserResponse
from app.services.applications import ApplicationService
from app.services.auth import EMAIL_CHANGE_ACCEPTED, AuthService, CurrentUser, Unauthorized


class MeResource(AuthResources):
    auth_required = True
    account_state_exempt = frozenset({"GET"})  # the user must be able to see why they are gated

    def __init__(self, auth: AuthService, settings: Settings, service: ApplicationService):
        super().__init__(auth, settings)
        self.service = service

    def read_with_authentication(
        self, method: str, params: dict[str, Any]
    ) -> Callable[[uuid.UUID], UserRead] | None:
        """GET's second-factor summary is read in the authentication's round trip."""
        return self.auth.mfa.summary_read if method == "GET" else None

    @api_spec.validate(
        operation_id="getCurrentUser",
        resp=responses(200, CurrentUserResponse, 401),
        tags=["users"],
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The signed-in user, with `must_change_password` and `mfa`: which second factors are
        set up (never their secrets)."""
        current = req.context.current
        ok(
            req,
            resp,
            {**self.auth.describe(current.user), "mfa": self.auth.mfa.summary(current.read)},
        )

    @api_spec.validate(
        operation_id="deleteAccount",
        json=DeleteAccountBody,
        resp=responses(204, None, 401, STEP_UP_REQUIRED, 422, 429),
        tags=["users"],
        security=BEARER,
    )
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, json: DeleteAccountBody
    ) -> None:
        """Delete the account and everything it owns, given the current password. An account
        with a second factor needs a step-up in the last 5 minutes first."""
        current = req.context.current
        self.auth.mfa.require_step_up(current)
        self.auth.confirm_password(current, json.password)
        self.service.delete_account(current.user)
        if REFRESH_COOKIE in req.cookies:
            self.clear_refresh_cookie(resp)
        resp.status = 204


class EmailChangeResource(AuthResources):
    auth_required = True
    # An address that cannot receive mail would otherwise keep an unverified account gated for
    # good; a forced password change gains nothing from it, since changing the password is open.
    account_state_exempt = frozenset({"POST"})

    @api_spec.validate(
        operation_id="requestEmailChange",
        json=EmailChangeBody,
        resp=responses(202, MessageResponse, 401, STEP_UP_REQUIRED, 422, 429, 503),
        tags=["users"],
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: EmailChangeBody) -> None:
        """Ask to change the sign-in address, given the current password and, for an account
        with a second factor, a step-up in the last 5 minutes. A link valid for one
        hour goes to the new address and a notice to the current one; nothing changes until the
        link is used (`confirmEmailChange`). An address that belongs to another account gets
        the same 202: its holder is emailed that someone tried to use it, and no link is sent.
        A new request ends the link of an earlier one. The same address as now, or one that is
        not valid: 422 on `new_email`; a wrong password: 422 on `current_password`, limited per
        session like every re-authentication."""
        self.auth.request_email_change(
            req.context.current, json.new_email, json.current_password, req.context.client
        )
        ok(req, resp, {"message": EMAIL_CHANGE_ACCEPTED}, status=202)


class EmailChangeConfirmResource(AuthResources):
    # The link is often opened in another browser or on a phone: the token is the proof, and
    # a bearer token is optional. With one of the same account, that session is kept.
    auth_required = False

    @api_spec.validate(
        operation_id="confirmEmailChange",
        json=TokenBody,
        resp=responses(
            200,
            UserResponse,
            400,
            401,
            (
                409,
                "EMAIL_TAKEN: another account took the address after the link was sent; the "
                "address did not change and the link is used up",
            ),
            422,
        ),
        tags=["users"],
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: TokenBody) -> None:
        """Confirm an email change with the token from the link sent to the new address. A link
        that is unknown, used, more than an hour old, or ended by a later password change,
        password reset, sign-out everywhere or newer request: 400 `TOKEN_INVALID`. The
        account's address becomes the new one, verified; every session of the account ends
        except the one whose access token comes with this request, if any (a link opened in
        another browser signs every browser out); open password-reset and email-change links
        end; the old address gets a final notice. A bearer token, when sent, must be valid
        (401 otherwise). A device cookie of the old address is exchanged for one of the new."""
        user, device_cookie = self.auth.confirm_email_change(
            json.token,
            req.context.client,
            self._optional_current(req),
            req.cookies.get(DEVICE_COOKIE),
        )
        if device_cookie:
            self.set_device_cookie(resp, device_cookie)
        ok(req, resp, self.auth.describe(user))

    def _optional_current(self, req: falcon.Request) -> CurrentUser | None:
        header = req.get_header("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("INVALID_TOKEN", "Use an Authorization: Bearer token.")
        return self.auth.authenticate(token.strip())


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

    def __init__(self, service: ApplicationService, auth: AuthService):
        self.service = service
        self.auth = auth

    @api_spec.validate(
        operation_id="exportAccount",
        resp=responses(200, ExportResponse, 401, 403),
        tags=["users"],
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Everything this account owns, as JSON: its second factors by type, name and dates,
        never a secret or a hash."""
        resp.set_header("Content-Disposition", 'attachment; filename="jobapptracker-export.json"')
        user = req.context.current.user
        ok(
            req,
            resp,
            {**self.service.export(user), "second_factors": self.auth.mfa.export(user.id)},
        )


def add_routes(
    app: falcon.App[Any, Any], auth: AuthService, settings: Settings, service: ApplicationService
) -> None:
    app.add_route("/v1/users/me", MeResource(auth, settings, service))
    app.add_route("/v1/users/me/email", EmailChangeResource(auth, settings))
    app.add_route("/v1/users/me/email/confirm", EmailChangeConfirmResource(auth, settings))
    app.add_route("/v1/users/me/security-events", SecurityEventsResource(auth, settings))
    app.add_route("/v1/users/me/export", ExportResource(service, auth))

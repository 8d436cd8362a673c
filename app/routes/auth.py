"""Thin resources for /v1/auth/* and /v1/users/me*: parse, call the auth service, shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import falcon

from app.core.errors import AppError
from app.core.security import DEVICE_COOKIE_TTL
from app.core.settings import Settings
from app.core.spec import api_spec
from app.routes.common import ok, responses
from app.schemas.auth import (
    ChangePasswordBody,
    CsrfResponse,
    LoginBody,
    MessageResponse,
    PasswordResetBody,
    PasswordResetConfirmBody,
    RegisterBody,
    SessionListResponse,
    SessionResponse,
    TokenBody,
    UserResponse,
)
from app.schemas.mfa import LoginResponse
from app.services.auth import AuthService, SessionGrant
from app.services.mfa import Challenge

REFRESH_COOKIE = "jat_refresh"
# __Host-: Secure, Path=/ and no Domain, so no sibling subdomain can plant it.
DEVICE_COOKIE = "__Host-jat_device"
COOKIE_PATH = "/v1/auth"
CSRF_HEADER = "X-CSRF-Token"
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)
DUPLICATED_COOKIE = (
    "REFRESH_COOKIE_DUPLICATED: the request carries the refresh cookie more than once"
)
BEARER: dict[str, list[str]] = {"bearerAuth": []}
STEP_UP_REQUIRED = (
    403,
    "STEP_UP_REQUIRED: the account has a second factor and this session has not proved one in "
    "the last 5 minutes (POST /v1/auth/step-up)",
)
TAGS = ["auth"]
# Read by the authentication middleware: the session endpoints stay open whatever the account's
# state (a forced password change, an unverified email), so no state can lock its user out.
EVERY_METHOD = frozenset(falcon.COMBINED_METHODS)


class AuthResources:
    """Shared wiring for the auth resources: the service, the cookie and the origin check."""

    auth_required = False

    def __init__(self, auth: AuthService, settings: Settings):
        self.auth = auth
        self.settings = settings
        self.frontend_origin = settings.frontend_url

    def _cookie_attributes(self) -> dict[str, Any]:
        """One place for the refresh cookie's attributes, so the cookie that clears it carries
        the same Secure, HttpOnly, Path and SameSite as the cookie it clears."""
        return {
            "path": COOKIE_PATH,
            "secure": True,
            "http_only": True,
            "same_site": self.settings.refresh_cookie_samesite,
        }

    def set_refresh_cookie(self, resp: falcon.Response, grant: SessionGrant) -> None:
        resp.set_cookie(
            REFRESH_COOKIE,
            grant.refresh_token,
            expires=grant.refresh_expires_at.replace(tzinfo=None),
            max_age=int((grant.refresh_expires_at - self.auth.clock()).total_seconds()),
            **self._cookie_attributes(),
        )

    def set_device_cookie(self, resp: falcon.Response, value: str) -> None:
        resp.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=int(DEVICE_COOKIE_TTL.total_seconds()),
            path="/",
            secure=True,
            http_only=True,
            same_site=self.settings.refresh_cookie_samesite,
        )

    def clear_refresh_cookie(self, resp: falcon.Response) -> None:
        resp.set_cookie(REFRESH_COOKIE, "", expires=_EXPIRED, **self._cookie_attributes())

    def refresh_cookie(self, req: falcon.Request) -> str | None:
        """The refresh cookie, refused when the request carries it more than once. A sibling
        subdomain can plant a second ``jat_refresh`` (cookie tossing, with a longer Path or a
        parent Domain) that the browser sends beside ours; picking either one could sign the
        user into the planter's session, so neither is used."""
        values = req.get_cookie_values(REFRESH_COOKIE) or []
        if len(values) > 1:
            raise AppError(
                400,
                "REFRESH_COOKIE_DUPLICATED",
                "The request carries the refresh cookie more than once, so it cannot tell "
                "which session is yours. Clear this site's cookies and sign in again.",
            )
        return values[0] if values else None

    def require_origin(self, req: falcon.Request) -> None:
        """Cookie-authenticated endpoints answer only the frontend's origin."""
        origin = req.get_header("Origin")
        if origin != self.frontend_origin:
            raise AppError(
                403,
                "ORIGIN_NOT_ALLOWED",
                origin_refusal(origin, self.frontend_origin, self.settings.is_production),
            )

    def grant_body(self, grant: SessionGrant) -> dict[str, Any]:
        return {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": grant.expires_in,
            "csrf_token": grant.csrf_token,
            "user": self.auth.describe(grant.user),
        }


def origin_refusal(origin: str | None, expected: str, production: bool) -> str:
    """What to fix: a missing Origin, or (outside production, where FRONTEND_URL is no secret
    worth keeping) the origin that was expected."""
    if not origin:
        said = "The request has no Origin header; the session cookie is accepted only from the "
        said += "frontend's origin, which browsers send on this request"
    else:
        said = "This origin may not use the session"
    if production:
        return said + "."
    return f"{said} (expected Origin: {expected}, the FRONTEND_URL setting)."


class RegisterResource(AuthResources):
    @api_spec.validate(
        operation_id="register",
        json=RegisterBody,
        resp=responses(201, UserResponse, 409, 422, 429),
        tags=TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: RegisterBody) -> None:
        """Create an account. An existing email gets 409 `EMAIL_TAKEN` (a documented,
        rate-limited enumeration trade-off: the sign-up form must say why it failed). `Location`
        is where the account is read once signed in."""
        user = self.auth.register(json.email, json.password, req.context.client)
        resp.location = "/v1/users/me"
        ok(req, resp, self.auth.describe(user), status=201)


class LoginResource(AuthResources):
    @api_spec.validate(
        operation_id="login",
        json=LoginBody,
        resp=responses(200, LoginResponse, 401, 422, 429, 503),
        tags=TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: LoginBody) -> None:
        """Sign in. The access token is in the body (send it as `Authorization: Bearer`); the
        refresh token is set as the HttpOnly, Secure `jat_refresh` cookie for `/v1/auth`, and
        `csrf_token` is what `refreshSession` and `logout` need in `X-CSRF-Token`. A device
        cookie keeps this browser signing in while unknown clients are throttled for the
        account. For an account with a second factor the answer is instead
        `{mfa_required: true, mfa_ticket, methods}`, with no token and no cookie: send the
        ticket and one factor to `completeMfaLogin` within 5 minutes."""
        outcome = self.auth.login(
            json.email, json.password, req.context.client, req.cookies.get(DEVICE_COOKIE)
        )
        if isinstance(outcome, Challenge):
            body = {"mfa_required": True, "mfa_ticket": outcome.ticket, "methods": outcome.methods}
            ok(req, resp, body)
            return
        grant = outcome
        self.set_refresh_cookie(resp, grant)
        if grant.device_cookie:
            self.set_device_cookie(resp, grant.device_cookie)
        ok(req, resp, self.grant_body(grant))


class RefreshResource(AuthResources):
    @api_spec.validate(
        operation_id="refreshSession",
        resp=responses(
            200,
            SessionResponse,
            (400, DUPLICATED_COOKIE),
            401,
            403,
            (
                409,
                "REFRESH_RACE: another request rotated this refresh token less than "
                "REFRESH_GRACE_SECONDS ago and its successor is unused; nothing was minted or "
                "revoked; retry with the current refresh cookie",
            ),
            429,
        ),
        tags=TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Rotate the refresh cookie: a new access token, refresh cookie and CSRF token. The
        request carries the `jat_refresh` cookie, the frontend's `Origin` and the session's
        `X-CSRF-Token`. A refresh token that was already used revokes its whole family: 401
        `REFRESH_TOKEN_REUSED`, and the cookie is cleared; except when another request (a second
        tab) rotated it less than `REFRESH_GRACE_SECONDS` ago and its successor is still unused:
        409 `REFRESH_RACE`, nothing minted or revoked, and the client retries with the cookie it
        now holds. More than one refresh cookie: 400 `REFRESH_COOKIE_DUPLICATED`."""
        self.require_origin(req)
        try:
            grant = self.auth.refresh(
                self.refresh_cookie(req), req.get_header(CSRF_HEADER), req.context.client
            )
        except AppError as error:
            if error.status == 401:
                self.clear_refresh_cookie(resp)
            raise
        self.set_refresh_cookie(resp, grant)
        ok(req, resp, self.grant_body(grant))


class LogoutResource(AuthResources):
    @api_spec.validate(
        operation_id="logout", resp=responses(204, None, (400, DUPLICATED_COOKIE), 403), tags=TAGS
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Sign out: end this session (its whole refresh family) and clear the cookie. Needs
        the frontend's `Origin`, and `X-CSRF-Token` when the cookie is present; without a cookie
        there is nothing to end and the answer is still 204."""
        self.require_origin(req)
        self.auth.logout(self.refresh_cookie(req), req.get_header(CSRF_HEADER), req.context.client)
        self.clear_refresh_cookie(resp)
        resp.status = 204


class CsrfResource(AuthResources):
    @api_spec.validate(
        operation_id="getCsrfToken",
        resp=responses(200, CsrfResponse, (400, DUPLICATED_COOKIE), 401, 403),
        tags=TAGS,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The CSRF token of the current session again, for a reloaded page. Needs the
        `jat_refresh` cookie and the frontend's `Origin`."""
        self.require_origin(req)
        ok(req, resp, {"csrf_token": self.auth.csrf_for(self.refresh_cookie(req))})


class LogoutAllResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD

    @api_spec.validate(
        operation_id="logoutAll", resp=responses(204, None, 401), tags=TAGS, security=BEARER
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Revoke every session of this account, and every open password-reset link."""
        self.auth.logout_all(req.context.current, req.context.client)
        self.clear_refresh_cookie(resp)
        resp.status = 204


class SessionsResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD

    @api_spec.validate(
        operation_id="listSessions",
        resp=responses(200, SessionListResponse, 401),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Active sessions (refresh families) of this account."""
        ok(req, resp, self.auth.list_sessions(req.context.current))


class SessionResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD

    @api_spec.validate(
        operation_id="revokeSession",
        resp=responses(204, None, 401, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, session_id: uuid.UUID) -> None:
        """Revoke one session."""
        self.auth.revoke_session(req.context.current, session_id, req.context.client)
        resp.status = 204


class PasswordResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD

    @api_spec.validate(
        operation_id="changePassword",
        json=ChangePasswordBody,
        resp=responses(204, None, 401, STEP_UP_REQUIRED, 422, 429),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: ChangePasswordBody) -> None:
        """Change the password; every other session and every open reset link is revoked. An
        account with a second factor needs a step-up in the last 5 minutes first."""
        self.auth.change_password(
            req.context.current, json.current_password, json.new_password, req.context.client
        )
        resp.status = 204


class VerifyEmailResource(AuthResources):
    @api_spec.validate(
        operation_id="verifyEmail",
        json=TokenBody,
        resp=responses(200, UserResponse, 400, 422),
        tags=TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: TokenBody) -> None:
        """Confirm an email address with the token from the verification email."""
        user = self.auth.verify_email(json.token, req.context.client)
        ok(req, resp, self.auth.describe(user))


class ResendVerificationResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD

    @api_spec.validate(
        operation_id="resendVerificationEmail",
        resp=responses(202, MessageResponse, 401, 429),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Send the verification email again."""
        self.auth.resend_verification(req.context.current)
        ok(
            req,
            resp,
            {"message": "If the address still needs verifying, an email is on its way."},
            status=202,
        )


class PasswordResetResource(AuthResources):
    @api_spec.validate(
        operation_id="requestPasswordReset",
        json=PasswordResetBody,
        resp=responses(202, MessageResponse, 422, 429),
        tags=TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: PasswordResetBody) -> None:
        """Ask for a reset link. Always 202, whether or not the account exists."""
        self.auth.request_password_reset(json.email, req.context.client)
        ok(
            req,
            resp,
            {"message": "If an account exists for this address, an email is on its way."},
            status=202,
        )


class PasswordResetConfirmResource(AuthResources):
    @api_spec.validate(
        operation_id="confirmPasswordReset",
        json=PasswordResetConfirmBody,
        resp=responses(204, None, 400, 422),
        tags=TAGS,
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, json: PasswordResetConfirmBody
    ) -> None:
        """Set a new password with the token from the reset email; every session is revoked."""
        self.auth.confirm_password_reset(json.token, json.new_password, req.context.client)
        resp.status = 204


def add_routes(app: falcon.App[Any, Any], auth: AuthService, settings: Settings) -> None:
    for path, resource in (
        ("/v1/auth/register", RegisterResource),
        ("/v1/auth/login", LoginResource),
        ("/v1/auth/refresh", RefreshResource),
        ("/v1/auth/logout", LogoutResource),
        ("/v1/auth/logout-all", LogoutAllResource),
        ("/v1/auth/csrf", CsrfResource),
        ("/v1/auth/sessions", SessionsResource),
        ("/v1/auth/sessions/{session_id:uuid}", SessionResource),
        ("/v1/auth/password", PasswordResource),
        ("/v1/auth/verify-email", VerifyEmailResource),
        ("/v1/auth/verify-email/resend", ResendVerificationResource),
        ("/v1/auth/password-reset", PasswordResetResource),
        ("/v1/auth/password-reset/confirm", PasswordResetConfirmResource),
    ):
        app.add_route(path, resource(auth, settings))

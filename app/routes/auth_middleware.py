"""Who is calling, and may they go on: bearer authentication and the account-state gates."""

from __future__ import annotations

from typing import Any

import falcon

from app.core.errors import AppError
from app.core.settings import Settings
from app.routes.common import client_ip
from app.services.auth import AuthService, Unauthorized
from app.services.identity import ClientInfo

# The resource attribute naming the methods that stay open whatever the account's state, so no
# combination of states can lock a user out of fixing it. The decision rests on the resource the
# router matched, never on the raw path: the router ignores repeated slashes that a string
# prefix would not (``//v1/applications`` reaches the same resource as ``/v1/applications``).
STATE_EXEMPT_ATTRIBUTE = "account_state_exempt"
# The resource method that names, for a request method and the route's parameters, the one row
# its responder answers with, read in the authentication's round trip (``UserRead``): it takes
# (method, params) and returns a function of the user id giving the UserRead, or None.
READ_WITH_AUTHENTICATION = "read_with_authentication"


class ClientInfoMiddleware:
    def __init__(self, settings: Settings):
        self.hops = settings.trusted_proxy_hops

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.client = ClientInfo(
            ip=client_ip(req, self.hops), user_agent=req.get_header("User-Agent")
        )


class AuthenticationMiddleware:
    """Resources that set ``auth_required = True`` get ``req.context.current`` and are gated on
    the account's state, except for the methods the resource lists in
    ``account_state_exempt``."""

    def __init__(self, auth: AuthService, settings: Settings):
        self.auth = auth
        self.settings = settings

    def process_resource(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: object,
        params: dict[str, Any],
    ) -> None:
        if req.method == "OPTIONS":  # a CORS preflight never carries the bearer token
            return
        if resource is None or not getattr(resource, "auth_required", False):
            return
        header = req.get_header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise Unauthorized("INVALID_TOKEN", "Use an Authorization: Bearer token.")
        reader = getattr(resource, READ_WITH_AUTHENTICATION, None)
        read = reader(req.method, params) if reader is not None else None
        current = self.auth.authenticate(token.strip() or None, read)
        req.context.current = current
        if req.method in getattr(resource, STATE_EXEMPT_ATTRIBUTE, frozenset()):
            return
        if self.auth.must_change_password(current.user):
            raise AppError(
                403,
                "PASSWORD_CHANGE_REQUIRED",
                "Change your password to continue (POST /v1/auth/password).",
            )
        if self.settings.email_verification_enabled() and current.user.email_verified_at is None:
            raise AppError(403, "EMAIL_NOT_VERIFIED", "Verify your email address to continue.")

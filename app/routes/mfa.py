"""Thin resources for second factors: enrolment under /v1/users/me/mfa, the second step of a
sign-in and step-up under /v1/auth."""

from __future__ import annotations

from typing import Any

import falcon

from app.core.settings import Settings
from app.core.spec import api_spec
from app.routes.auth import BEARER, EVERY_METHOD, STEP_UP_REQUIRED, AuthResources
from app.routes.common import ok, responses
from app.schemas.auth import SessionResponse
from app.schemas.mfa import (
    LoginMfaBody,
    RecoveryCodesResponse,
    StepUpBody,
    TotpCodeBody,
    TotpEnrolmentResponse,
)
from app.services.auth import AuthService
from app.services.mfa import proofs_of

AUTH_TAGS = ["auth"]
MFA_TAGS = ["mfa"]
TICKET_INVALID = (
    401,
    "MFA_TICKET_INVALID: the ticket is unknown, used, expired, from another client, or its "
    "password changed; MFA_CODE_INVALID: the factor is wrong (the ticket allows 5 tries)",
)
MFA_UNAVAILABLE = (503, "MFA_UNAVAILABLE: the second-factor encryption key is not configured")


class LoginMfaResource(AuthResources):
    @api_spec.validate(
        operation_id="completeMfaLogin",
        json=LoginMfaBody,
        resp=responses(200, SessionResponse, TICKET_INVALID, 422, 429, 503),
        tags=AUTH_TAGS,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: LoginMfaBody) -> None:
        """The second step of a sign-in: the `mfa_ticket` from `login` and exactly one of
        `code` (the authenticator's current code) or `recovery_code`, from the client that sent
        the password. The answer is `login`'s: the access token, the `jat_refresh` cookie and
        the device cookie. A wrong factor is 401 `MFA_CODE_INVALID`; after 5 the ticket is
        spent. Failures are also limited per account (429), apart for each known device."""
        fields = self.auth.mfa.proof_fields
        grant = self.auth.complete_login(
            json.mfa_ticket, proofs_of(json, fields), req.context.client
        )
        self.set_refresh_cookie(resp, grant)
        if grant.device_cookie:
            self.set_device_cookie(resp, grant.device_cookie)
        ok(req, resp, self.grant_body(grant))


class StepUpResource(AuthResources):
    auth_required = True
    account_state_exempt = EVERY_METHOD  # a forced password change may need a step-up first

    @api_spec.validate(
        operation_id="stepUp",
        json=StepUpBody,
        resp=responses(
            204,
            None,
            (401, "MFA_CODE_INVALID: the factor is wrong; INVALID_TOKEN: sign in again"),
            422,
            429,
            503,
        ),
        tags=AUTH_TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: StepUpBody) -> None:
        """Prove a factor again: `code` or `recovery_code` for an account with a second factor,
        `password` for one without. For the next 5 minutes this session may disable factors,
        regenerate recovery codes, change the password or the email and delete the account."""
        fields = (*self.auth.mfa.proof_fields, "password")
        self.auth.mfa.step_up(req.context.current, proofs_of(json, fields), req.context.client)
        resp.status = 204


class TotpResource(AuthResources):
    auth_required = True

    @api_spec.validate(
        operation_id="startTotpEnrolment",
        resp=responses(
            200,
            TotpEnrolmentResponse,
            401,
            403,
            (409, "TOTP_ALREADY_ENROLLED: remove the authenticator app first"),
            MFA_UNAVAILABLE,
        ),
        tags=MFA_TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start setting up an authenticator app: a new secret and its `otpauth://` URI (draw
        it as a QR code). Nothing changes for sign-in until `confirmTotpEnrolment` confirms it
        with a current code; starting again replaces a set-up not yet confirmed. The secret is
        never shown again after confirmation."""
        data = self.auth.mfa.start_totp(req.context.current, req.context.client)
        resp.set_header("Cache-Control", "no-store")
        ok(req, resp, data)

    @api_spec.validate(
        operation_id="removeTotp",
        resp=responses(204, None, 401, STEP_UP_REQUIRED, 404),
        tags=MFA_TAGS,
        security=BEARER,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Remove the authenticator app (or a set-up not yet confirmed). Needs a step-up in the
        last 5 minutes. Without another factor left, the recovery codes go too and sign-in
        needs the password only. The account is emailed."""
        self.auth.mfa.remove_totp(req.context.current, req.context.client)
        resp.status = 204


class RecoveryCodesResource(AuthResources):
    auth_required = True

    @api_spec.validate(
        operation_id="regenerateRecoveryCodes",
        resp=responses(
            200,
            RecoveryCodesResponse,
            401,
            STEP_UP_REQUIRED,
            (409, "MFA_NOT_ENROLLED: there is no second factor to back up"),
        ),
        tags=MFA_TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A new set of ten recovery codes, shown this once; every code of the old set stops
        working. Needs a step-up in the last 5 minutes."""
        codes = self.auth.mfa.regenerate_recovery_codes(req.context.current, req.context.client)
        resp.set_header("Cache-Control", "no-store")
        ok(req, resp, {"recovery_codes": codes})


class TotpConfirmResource(AuthResources):
    auth_required = True

    @api_spec.validate(
        operation_id="confirmTotpEnrolment",
        json=TotpCodeBody,
        resp=responses(
            200,
            RecoveryCodesResponse,
            401,
            403,
            (409, "TOTP_NOT_PENDING: no set-up is waiting for confirmation"),
            422,
            429,
            MFA_UNAVAILABLE,
        ),
        tags=MFA_TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: TotpCodeBody) -> None:
        """Confirm the authenticator app with its current code. From now on sign-in asks for a
        second factor. The answer holds ten single-use recovery codes, shown this once."""
        codes = self.auth.mfa.confirm_totp(req.context.current, json.code, req.context.client)
        resp.set_header("Cache-Control", "no-store")
        ok(req, resp, {"recovery_codes": codes})


def add_routes(app: falcon.App[Any, Any], auth: AuthService, settings: Settings) -> None:
    for path, resource in (
        ("/v1/auth/login/mfa", LoginMfaResource),
        ("/v1/auth/step-up", StepUpResource),
        ("/v1/users/me/mfa/totp", TotpResource),
        ("/v1/users/me/mfa/totp/confirm", TotpConfirmResource),
        ("/v1/users/me/mfa/recovery-codes", RecoveryCodesResource),
    ):
        app.add_route(path, resource(auth, settings))

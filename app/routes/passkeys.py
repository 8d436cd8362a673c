"""Thin resources for passkeys: the signed-in account's passkeys (/v1/users/me/mfa/passkeys*)
and the assertion options of a sign-in's second step and of a step-up (/v1/auth/...)."""

from __future__ import annotations

import uuid
from typing import Any

import falcon

from app.core.spec import api_spec
from app.routes.auth import BEARER, EVERY_METHOD
from app.routes.common import ok, responses
from app.schemas.passkeys import (
    AssertionOptionsResponse,
    PasskeyCreate,
    PasskeyListResponse,
    PasskeyLoginOptionsBody,
    PasskeyRename,
    PasskeyResponse,
    RegistrationOptionsResponse,
)
from app.services.mfa import MfaService
from app.services.passkeys import PasskeyService, session_binding, ticket_binding

TAGS = ["passkeys"]
REFUSED_CREDENTIAL = (
    400,
    "PASSKEY_INVALID: the credential fails verification (signature, origin, relying party, "
    "format); PASSKEY_CHALLENGE_INVALID: its challenge is unknown, expired (5 minutes), already "
    "used, or issued to another session; MALFORMED_JSON, BODY_REQUIRED: the body is not JSON",
)
NOT_ENROLLED = (409, "PASSKEY_NOT_ENROLLED: the account has no passkey")


def _binding(req: falcon.Request) -> str:
    current = req.context.current
    return session_binding(current.family_id, current.user.id)


class PasskeyOptionsResource:
    auth_required = True

    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @api_spec.validate(
        operation_id="passkeyRegistrationOptions",
        resp=responses(200, RegistrationOptionsResponse, 401, 403, 429),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """WebAuthn registration options for a new passkey: a challenge valid once, for 5
        minutes, for this session; the relying party is the frontend's host; the account's
        passkeys are excluded; user verification is preferred. Pass them to
        `PublicKeyCredential.parseCreationOptionsFromJSON`, then `navigator.credentials.create`."""
        user = req.context.current.user
        ok(req, resp, self.passkeys.registration_options(user, _binding(req)))


class PasskeysResource:
    auth_required = True

    def __init__(self, passkeys: PasskeyService, mfa: MfaService):
        self.passkeys = passkeys
        self.mfa = mfa

    @api_spec.validate(
        operation_id="listPasskeys",
        resp=responses(200, PasskeyListResponse, 401, 403),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The account's passkeys, oldest first (never their keys)."""
        ok(req, resp, self.passkeys.list(req.context.current.user.id))

    @api_spec.validate(
        operation_id="registerPasskey",
        json=PasskeyCreate,
        resp=responses(
            201,
            PasskeyResponse,
            REFUSED_CREDENTIAL,
            401,
            403,
            (
                409,
                "PASSKEY_ALREADY_REGISTERED: this credential is registered already; "
                "PASSKEY_LIMIT_REACHED: the account holds the most passkeys it may",
            ),
            422,
        ),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, json: PasskeyCreate) -> None:
        """Register a passkey (the account is told by email): `credential` is what
        `navigator.credentials.create` returned, as `credential.toJSON()` serialises it,
        answering options from `POST /v1/users/me/mfa/passkeys/options` of this session.
        `Location` is the passkey's URL."""
        current = req.context.current
        passkey = self.passkeys.register(
            current.user,
            _binding(req),
            json.name,
            json.credential.model_dump(exclude_none=True),
            req.context.client,
            notify=self.mfa.factor_added,
        )
        resp.location = f"/v1/users/me/mfa/passkeys/{passkey['id']}"
        ok(req, resp, passkey, status=201)


class PasskeyResource:
    auth_required = True

    def __init__(self, passkeys: PasskeyService, mfa: MfaService):
        self.passkeys = passkeys
        self.mfa = mfa

    @api_spec.validate(
        operation_id="renamePasskey",
        json=PasskeyRename,
        resp=responses(200, PasskeyResponse, 401, 403, 404, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, passkey_id: uuid.UUID, json: PasskeyRename
    ) -> None:
        """Rename a passkey."""
        current = req.context.current
        ok(
            req,
            resp,
            self.passkeys.rename(current.user.id, passkey_id, json.name, req.context.client),
        )

    @api_spec.validate(
        operation_id="deletePasskey",
        resp=responses(
            204,
            None,
            401,
            (
                403,
                "STEP_UP_REQUIRED: no step-up in the last 5 minutes (POST /v1/auth/step-up); "
                "PASSWORD_CHANGE_REQUIRED, EMAIL_NOT_VERIFIED: the account-state gates",
            ),
            404,
        ),
        tags=TAGS,
        security=BEARER,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, passkey_id: uuid.UUID) -> None:
        """Remove a passkey (the account is told by email). Needs a step-up within the last 5
        minutes (`POST /v1/auth/step-up`, with any factor, this passkey included)."""
        current = req.context.current
        self.mfa.require_step_up(current)
        self.passkeys.remove(
            current.user, passkey_id, req.context.client, notify=self.mfa.factor_removed
        )
        resp.status = 204


class LoginPasskeyOptionsResource:
    auth_required = False

    def __init__(self, passkeys: PasskeyService, mfa: MfaService):
        self.passkeys = passkeys
        self.mfa = mfa

    @api_spec.validate(
        operation_id="loginPasskeyOptions",
        json=PasskeyLoginOptionsBody,
        resp=responses(
            200,
            AssertionOptionsResponse,
            (401, "MFA_TICKET_INVALID: the ticket is unknown, expired, used, or another client's"),
            NOT_ENROLLED,
            422,
            429,
        ),
        tags=TAGS,
    )
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, json: PasskeyLoginOptionsBody
    ) -> None:
        """WebAuthn assertion options for the second step of a sign-in: a challenge bound to
        this MFA ticket, valid once, for 5 minutes, allowing the account's passkeys only. Pass
        them to `PublicKeyCredential.parseRequestOptionsFromJSON`, then
        `navigator.credentials.get`, and send the ticket with `credential` to
        `completeMfaLogin`."""
        ticket = self.mfa.open_ticket(json.mfa_ticket, req.context.client)
        ok(req, resp, self.passkeys.assertion_options(ticket.user_id, ticket_binding(ticket.id)))


class StepUpPasskeyOptionsResource:
    auth_required = True
    account_state_exempt = EVERY_METHOD  # as the step-up itself

    def __init__(self, passkeys: PasskeyService):
        self.passkeys = passkeys

    @api_spec.validate(
        operation_id="stepUpPasskeyOptions",
        resp=responses(200, AssertionOptionsResponse, 401, NOT_ENROLLED, 429),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """WebAuthn assertion options for a step-up: a challenge bound to this session, valid
        once, for 5 minutes, allowing the account's passkeys only. Send the signed answer as
        `credential` to `stepUp`."""
        user = req.context.current.user
        ok(req, resp, self.passkeys.assertion_options(user.id, _binding(req)))


def add_routes(app: falcon.App[Any, Any], passkeys: PasskeyService, mfa: MfaService) -> None:
    app.add_route("/v1/users/me/mfa/passkeys/options", PasskeyOptionsResource(passkeys))
    app.add_route("/v1/users/me/mfa/passkeys", PasskeysResource(passkeys, mfa))
    app.add_route("/v1/users/me/mfa/passkeys/{passkey_id:uuid}", PasskeyResource(passkeys, mfa))
    app.add_route("/v1/auth/login/mfa/passkey-options", LoginPasskeyOptionsResource(passkeys, mfa))
    app.add_route("/v1/auth/step-up/passkey-options", StepUpPasskeyOptionsResource(passkeys))

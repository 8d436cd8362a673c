"""Contracts of the second-factor endpoints: enrolment, the login ticket and step-up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.auth import SessionData, StrictBody, UserOut
from app.schemas.common import SuccessEnvelope
from app.schemas.passkeys import AuthenticationCredentialJSON
from app.schemas.text import single_line


def totp_code_field(default: object = ...) -> Any:
    """Six digits; spaces are allowed (authenticator apps show "123 456") and ignored."""
    return single_line(default, min_length=6, max_length=64, examples=["123456"])


def recovery_code_field(default: object = ...) -> Any:
    return single_line(default, min_length=1, max_length=64, examples=["k7m2q-x9prt"])


class TotpCodeBody(StrictBody):
    code: str = totp_code_field()


class LoginMfaBody(StrictBody):
    """The ticket and exactly one proof: `code` (TOTP), `recovery_code`, or `credential` (a
    passkey's assertion, answering `loginPasskeyOptions` for this ticket)."""

    mfa_ticket: str = single_line(min_length=16, max_length=256)
    code: str | None = totp_code_field(None)
    recovery_code: str | None = recovery_code_field(None)
    credential: AuthenticationCredentialJSON | None = None


class StepUpBody(StrictBody):
    """Exactly one proof: `code` (TOTP), `recovery_code` or `credential` (a passkey's
    assertion, answering `stepUpPasskeyOptions` for this session); `password` only for an
    account without a second factor."""

    code: str | None = totp_code_field(None)
    recovery_code: str | None = recovery_code_field(None)
    credential: AuthenticationCredentialJSON | None = None
    password: str | None = single_line(None, min_length=1, max_length=1024)


class TotpEnrolmentData(BaseModel):
    secret: str = Field(description="base32 shared secret, shown only until confirmation")
    otpauth_uri: str = Field(
        description="`otpauth://totp/...` key URI for the authenticator app's QR code"
    )


class RecoveryCodesData(BaseModel):
    recovery_codes: list[str] = Field(
        description="ten single-use codes, shown this once", min_length=10, max_length=10
    )


class MfaChallengeData(BaseModel):
    mfa_required: Literal[True] = True
    mfa_ticket: str = Field(
        description="single-use, expires in 5 minutes; send it to `completeMfaLogin` from the "
        "same client"
    )
    methods: list[str] = Field(
        description="the factors this account can use: `totp`, `passkey`, `recovery_code`",
        examples=[["totp", "passkey", "recovery_code"]],
    )


class MfaSummary(BaseModel):
    totp: bool = Field(description="an authenticator app is set up and confirmed")
    passkeys: int = Field(ge=0, description="passkeys registered")
    recovery_codes_left: int = Field(ge=0, description="unused recovery codes")


class CurrentUserOut(UserOut):
    mfa: MfaSummary


class TotpEnrolmentResponse(SuccessEnvelope[TotpEnrolmentData]):
    pass


class RecoveryCodesResponse(SuccessEnvelope[RecoveryCodesData]):
    pass


class LoginResponse(SuccessEnvelope[SessionData | MfaChallengeData]):
    pass


class CurrentUserResponse(SuccessEnvelope[CurrentUserOut]):
    pass

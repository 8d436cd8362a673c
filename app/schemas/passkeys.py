"""Contracts of the passkey endpoints.

The options and the ``credential`` bodies follow the WebAuthn Level 3 JSON serialisation
(``PublicKeyCredentialCreationOptionsJSON``, ``PublicKeyCredentialRequestOptionsJSON``,
``RegistrationResponseJSON``, ``AuthenticationResponseJSON``), the form the ``webauthn`` library
reads and writes and the form a browser's ``PublicKeyCredential.toJSON()`` produces. Binary
values travel as base64url without padding.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import SuccessEnvelope
from app.schemas.text import single_line

BASE64URL_PATTERN = r"^[A-Za-z0-9_-]*$"
PasskeyName = single_line(min_length=1, max_length=64, examples=["Laptop fingerprint reader"])


def base64url(
    max_length: int, *, min_length: int = 1, default: Any = ..., description: str = ""
) -> Any:
    return Field(
        default,
        pattern=BASE64URL_PATTERN,
        min_length=min_length,
        max_length=max_length,
        description=description or "base64url, without padding",
    )


# How an authenticator talks to the browser (WebAuthn's AuthenticatorTransport). The list is
# open by the standard, so unknown values are accepted here and left out of storage.
Transport = Annotated[str, Field(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=32)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttestationResponseJSON(StrictModel):
    clientDataJSON: str = base64url(8192)  # noqa: N815 - WebAuthn's JSON member names
    attestationObject: str = base64url(65536)  # noqa: N815
    authenticatorData: str | None = base64url(65536, default=None)  # noqa: N815
    transports: list[Transport] | None = Field(default=None, max_length=16)
    publicKeyAlgorithm: int | None = None  # noqa: N815
    publicKey: str | None = base64url(8192, default=None)  # noqa: N815


class AssertionResponseJSON(StrictModel):
    clientDataJSON: str = base64url(8192)  # noqa: N815
    authenticatorData: str = base64url(65536)  # noqa: N815
    signature: str = base64url(2048)
    userHandle: str | None = base64url(512, min_length=0, default=None)  # noqa: N815


class RegistrationCredentialJSON(StrictModel):
    """What ``navigator.credentials.create()`` returned, as ``credential.toJSON()`` gives it."""

    id: str = base64url(1400)
    rawId: str = base64url(1400)  # noqa: N815
    type: Literal["public-key"]
    response: AttestationResponseJSON
    authenticatorAttachment: Literal["platform", "cross-platform"] | None = None  # noqa: N815
    clientExtensionResults: dict[str, Any] = Field(default_factory=dict)  # noqa: N815


class AuthenticationCredentialJSON(StrictModel):
    """What ``navigator.credentials.get()`` returned, as ``credential.toJSON()`` gives it."""

    id: str = base64url(1400)
    rawId: str = base64url(1400)  # noqa: N815
    type: Literal["public-key"]
    response: AssertionResponseJSON
    authenticatorAttachment: Literal["platform", "cross-platform"] | None = None  # noqa: N815
    clientExtensionResults: dict[str, Any] = Field(default_factory=dict)  # noqa: N815


class PasskeyCreate(StrictModel):
    name: str = PasskeyName
    credential: RegistrationCredentialJSON


class PasskeyRename(StrictModel):
    name: str = PasskeyName


class PasskeyLoginOptionsBody(StrictModel):
    mfa_ticket: str = single_line(min_length=16, max_length=256)


# ----- answers ------------------------------------------------------------------------------


class RelyingPartyJSON(BaseModel):
    id: str = Field(description="the relying party id: FRONTEND_URL's host")
    name: str


class UserEntityJSON(BaseModel):
    id: str = Field(description="the account's opaque user handle, base64url")
    name: str
    displayName: str  # noqa: N815


class CredentialParameterJSON(BaseModel):
    type: Literal["public-key"]
    alg: int = Field(description="a COSE algorithm identifier", examples=[-7])


class CredentialDescriptorJSON(BaseModel):
    id: str = Field(description="a credential id, base64url")
    type: Literal["public-key"]
    transports: list[str] | None = None


class AuthenticatorSelectionJSON(BaseModel):
    residentKey: Literal["discouraged", "preferred", "required"]  # noqa: N815
    requireResidentKey: bool  # noqa: N815
    userVerification: Literal["discouraged", "preferred", "required"]  # noqa: N815


class RegistrationOptionsOut(BaseModel):
    """``PublicKeyCredentialCreationOptionsJSON``: pass to
    ``PublicKeyCredential.parseCreationOptionsFromJSON``, then ``navigator.credentials.create``."""

    rp: RelyingPartyJSON
    user: UserEntityJSON
    challenge: str = Field(description="single use, valid for 5 minutes; base64url")
    pubKeyCredParams: list[CredentialParameterJSON]  # noqa: N815
    timeout: int = Field(description="milliseconds", examples=[300000])
    excludeCredentials: list[CredentialDescriptorJSON] = Field(  # noqa: N815
        description="the account's passkeys, so an authenticator is not registered twice"
    )
    authenticatorSelection: AuthenticatorSelectionJSON  # noqa: N815
    attestation: Literal["none"]


class AssertionOptionsOut(BaseModel):
    """``PublicKeyCredentialRequestOptionsJSON``: pass to
    ``PublicKeyCredential.parseRequestOptionsFromJSON`` and then ``navigator.credentials.get``."""

    challenge: str = Field(description="single use, valid for 5 minutes; base64url")
    timeout: int = Field(description="milliseconds", examples=[300000])
    rpId: str  # noqa: N815
    allowCredentials: list[CredentialDescriptorJSON] = Field(  # noqa: N815
        description="the account's passkeys, and no other"
    )
    userVerification: Literal["discouraged", "preferred", "required"]  # noqa: N815


class PasskeyOut(BaseModel):
    id: uuid.UUID
    name: str
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None


class RegistrationOptionsResponse(SuccessEnvelope[RegistrationOptionsOut]):
    pass


class AssertionOptionsResponse(SuccessEnvelope[AssertionOptionsOut]):
    pass


class PasskeyResponse(SuccessEnvelope[PasskeyOut]):
    pass


class PasskeyListResponse(SuccessEnvelope[list[PasskeyOut]]):
    pass

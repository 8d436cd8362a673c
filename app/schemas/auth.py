"""Contracts of the accounts and sessions endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import SuccessEnvelope
from app.schemas.text import single_line

# Long enough for any passphrase; the byte cap (1024) is enforced by the password policy.
PasswordText = single_line(min_length=1, max_length=1024)


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterBody(StrictBody):
    email: str = single_line(min_length=3, max_length=320, examples=["ada@example.com"])
    password: str = PasswordText


class LoginBody(StrictBody):
    email: str = single_line(min_length=1, max_length=320, examples=["ada@example.com"])
    password: str = PasswordText


class ChangePasswordBody(StrictBody):
    current_password: str = PasswordText
    new_password: str = PasswordText


class TokenBody(StrictBody):
    token: str = single_line(min_length=16, max_length=256)


class PasswordResetBody(StrictBody):
    email: str = single_line(min_length=1, max_length=320)


class PasswordResetConfirmBody(StrictBody):
    token: str = single_line(min_length=16, max_length=256)
    new_password: str = PasswordText


class EmailChangeBody(StrictBody):
    new_email: str = single_line(min_length=3, max_length=320, examples=["ada@example.org"])
    current_password: str = PasswordText


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    must_change_password: bool
    password_changed_at: datetime


class SessionData(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(examples=[900])
    csrf_token: str
    user: UserOut


class CsrfData(BaseModel):
    csrf_token: str


class SessionOut(BaseModel):
    id: uuid.UUID
    started_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class SecurityEventOut(BaseModel):
    id: uuid.UUID
    type: str = Field(examples=["login_succeeded"])
    created_at: datetime
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]


class SecurityEventsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)


class MessageData(BaseModel):
    message: str


class UserResponse(SuccessEnvelope[UserOut]):
    pass


class SessionResponse(SuccessEnvelope[SessionData]):
    pass


class CsrfResponse(SuccessEnvelope[CsrfData]):
    pass


class SessionListResponse(SuccessEnvelope[list[SessionOut]]):
    pass


class SecurityEventListResponse(SuccessEnvelope[list[SecurityEventOut]]):
    pass


class MessageResponse(SuccessEnvelope[MessageData]):
    pass

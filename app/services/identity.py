"""Who is asking: the client of a request, and the signed-in account with its session family.

Shared by the auth and second-factor services (app/services/auth.py, app/services/mfa.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.models import User


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class CurrentUser:
    user: User
    family_id: uuid.UUID | None
    # The row of the route's UserRead, read with the authentication (AuthService.authenticate);
    # None when the route asked for none.
    read: tuple[Any, ...] | None = None

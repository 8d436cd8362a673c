"""Encryption at rest for small payloads the database must hold for a while (queued emails).

AES-256-GCM with a key derived by HKDF-SHA256 from ``JWT_SECRET`` under a label of its own,
so the signing key and this key never coincide, and no further secret has to be provisioned.
Each payload is bound to its row (the row id is the associated data), so a sealed value copied
into another row does not open. During a ``JWT_SECRET`` rotation payloads sealed under the
previous secret still open with ``JWT_PREVIOUS_SECRET``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.settings import Settings

NONCE_BYTES = 12
_LABEL = b"jobapptracker email outbox v1"


class SealError(Exception):
    """A sealed payload could not be opened: wrong key, another row's payload, or tampering."""


def _derive(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret.encode())
    return AESGCM(key)


class PayloadSealer:
    def __init__(self, settings: Settings):
        # Tools that never queue an email (the CLI) may run without JWT_SECRET.
        self._current = _derive(settings.jwt_secret) if settings.jwt_secret else None
        self._previous = (
            _derive(settings.jwt_previous_secret) if settings.jwt_previous_secret else None
        )

    def seal(self, document: dict[str, Any], bound_to: bytes) -> bytes:
        if self._current is None:
            raise SealError("JWT_SECRET is not set: the outbox key is derived from it")
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(document, separators=(",", ":")).encode()
        return nonce + self._current.encrypt(nonce, plain, bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> dict[str, Any]:
        nonce, body = bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:])
        for cipher in (self._current, self._previous):
            if cipher is None:
                continue
            try:
                document = json.loads(cipher.decrypt(nonce, body, bound_to))
            except InvalidTag:
                continue
            if isinstance(document, dict):
                return document
            raise SealError("the payload is not a JSON object")
        raise SealError("the payload does not open with the current or the previous key")

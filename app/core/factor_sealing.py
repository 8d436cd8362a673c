"""Encryption at rest for second-factor secrets (TOTP shared secrets).

AES-256-GCM under a key derived by HKDF-SHA256 from ``MFA_ENCRYPTION_KEY``: a key of its own,
not derived from ``JWT_SECRET``, so rotating or leaking the signing key says nothing about the
factors, and in AWS only the API is given it. Each ciphertext is stored with the id of the key
that sealed it (a fingerprint of the key, never the key), so ``MFA_PREVIOUS_ENCRYPTION_KEY``
still opens what the previous key sealed while a rotation runs, and a row sealed under any other
key is named rather than guessed at. Each ciphertext is bound to its row (the associated data),
so a secret copied into another account's row does not open.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.settings import Settings

NONCE_BYTES = 12
_LABEL = b"jobapptracker second-factor secrets v1"


class FactorKeyMissing(Exception):
    """MFA_ENCRYPTION_KEY is not configured: no factor secret can be sealed or opened."""


class FactorSealError(Exception):
    """A sealed secret did not open: an unknown key id, another row's secret, or tampering."""


def factor_key_id(key: str) -> str:
    """The public name of a key: a fingerprint under a label of its own."""
    return hashlib.sha256(b"jat-mfa-kid:" + key.encode()).hexdigest()[:16]


def _cipher(key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        key.encode()
    )
    return AESGCM(derived)


class FactorSecretCipher:
    def __init__(self, settings: Settings):
        self._keys: dict[str, AESGCM] = {}
        self._current_id: str | None = None
        for key in (settings.mfa_encryption_key, settings.mfa_previous_encryption_key):
            if key:
                self._keys.setdefault(factor_key_id(key), _cipher(key))
        if settings.mfa_encryption_key:
            self._current_id = factor_key_id(settings.mfa_encryption_key)

    @property
    def configured(self) -> bool:
        return self._current_id is not None

    @property
    def current_key_id(self) -> str:
        if self._current_id is None:
            raise FactorKeyMissing("MFA_ENCRYPTION_KEY is not set")
        return self._current_id

    def seal(self, secret: str, bound_to: bytes) -> tuple[bytes, str]:
        """``(nonce + ciphertext, key id)`` of ``secret`` under the current key."""
        key_id = self.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._keys[key_id].encrypt(nonce, secret.encode(), bound_to), key_id

    def open(self, sealed: bytes, key_id: str, bound_to: bytes) -> str:
        cipher = self._keys.get(key_id)
        if cipher is None:
            if not self.configured:
                raise FactorKeyMissing("MFA_ENCRYPTION_KEY is not set")
            raise FactorSealError(
                f"the secret was sealed under key {key_id}, which is neither "
                "MFA_ENCRYPTION_KEY nor MFA_PREVIOUS_ENCRYPTION_KEY"
            )
        data = bytes(sealed)
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], bound_to)
        except InvalidTag as exc:
            raise FactorSealError("the secret does not open: another row's, or altered") from exc
        return plain.decode()

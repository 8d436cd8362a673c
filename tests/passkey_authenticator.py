"""A software WebAuthn authenticator and client for the API tests: it answers the server's
options with real ES256 keys and CBOR, exactly as a browser would serialise them
(``PublicKeyCredential.toJSON()``), and can be told to lie (another origin, another RP id, a
counter that goes backwards) so each server check can be shown to refuse. The browser test
(tests/e2e/test_passkeys_browser.py) does the same with Chromium's own virtual authenticator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_DATA = 0x40


def b64url(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def from_b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator."""

    origin: str
    rp_id: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        return (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + self.sign_count.to_bytes(4, "big")
            + attested
        )

    def register(
        self, options: dict, *, origin: str | None = None, rp_id: str | None = None
    ) -> dict:
        """``navigator.credentials.create(options)``, serialised."""
        client_data = _client_data("webauthn.create", options["challenge"], origin or self.origin)
        attested = (
            bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_public_key()
        )
        flags = FLAG_USER_PRESENT | FLAG_USER_VERIFIED | FLAG_ATTESTED_DATA
        auth_data = self._auth_data(rp_id or self.rp_id, flags, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        encoded_id = b64url(self.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def assert_(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
    ) -> dict:
        """``navigator.credentials.get(options)``, serialised. The counter grows by one per
        assertion unless ``sign_count`` says what to report."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = _client_data("webauthn.get", options["challenge"], origin or self.origin)
        auth_data = self._auth_data(rp_id or self.rp_id, FLAG_USER_PRESENT | FLAG_USER_VERIFIED)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        encoded_id = b64url(self.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }


def for_frontend(frontend_url: str) -> SoftAuthenticator:
    """An authenticator for the page served at ``frontend_url``: its origin, its host as the
    RP id."""
    from urllib.parse import urlsplit

    parts = urlsplit(frontend_url)
    return SoftAuthenticator(origin=f"{parts.scheme}://{parts.netloc}", rp_id=parts.hostname or "")


def register_passkey(browser, name: str = "Laptop", authenticator=None):
    """Options, then registration, over HTTP as the signed-in ``browser``; the authenticator
    and the stored passkey."""
    authenticator = authenticator or for_frontend(browser.settings.frontend_url)
    options = browser.request("POST", "/v1/users/me/mfa/passkeys/options")
    assert options.status_code == 200, options.text
    credential = authenticator.register(options.json["data"])
    created = browser.request(
        "POST", "/v1/users/me/mfa/passkeys", json={"name": name, "credential": credential}
    )
    assert created.status_code == 201, created.text
    return authenticator, created.json["data"]


def step_up_with_passkey(browser, authenticator) -> None:
    """Prove a passkey again for the browser's session (a removal or a deletion needs it)."""
    options = browser.request("POST", "/v1/auth/step-up/passkey-options")
    assert options.status_code == 200, options.text
    credential = authenticator.assert_(options.json["data"])
    stepped = browser.request("POST", "/v1/auth/step-up", json={"credential": credential})
    assert stepped.status_code == 204, stepped.text

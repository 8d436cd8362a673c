"""Passkeys (WebAuthn) as a second factor: registration, assertion, naming and removal.

The ``webauthn`` library does the ceremonies' cryptography and parsing; this module decides
the rest:

- The relying party is ``FRONTEND_URL``: its host is the RP id and its origin the only origin a
  ceremony may come from (``RelyingParty.from_frontend_url``).
- Every challenge is 32 random bytes, stored as its SHA-256 with its account, its purpose
  (registration or assertion) and what it is bound to (the signed-in session, or the MFA ticket
  of a sign-in in progress). It is consumed by one conditional UPDATE before anything is
  verified, so it works once, for that account, purpose and binding, within five minutes, and a
  failed attempt uses it up too.
- An assertion is checked against the account's own passkeys only, and its signature counter
  must grow: a counter that does not increase (unless the authenticator keeps none, both zero)
  is refused and recorded as the security event ``passkey_sign_count_regressed``, because a
  cloned authenticator is the usual cause (WebAuthn §6.1.1).
- ``passkeys`` is an owner table under row-level security: every read and write runs as the
  account (``user_transaction``).

``webauthn`` is imported inside the functions that use it, so an API worker loads it (and its
dependencies: cbor2, pyOpenSSL, asn1crypto) only once a passkey operation runs;
scripts/measure_webauthn_memory.py measures what that costs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import peewee
import structlog

from app.core.clock import Clock
from app.core.database import user_transaction
from app.core.errors import AppError, NotFound
from app.models import Passkey, PasskeyChallenge, SecurityEvent, User
from app.schemas.passkeys import AuthenticationCredentialJSON
from app.services.rate_limit import PASSKEY_OPTIONS_PER_ACCOUNT, RateLimiter

if TYPE_CHECKING:
    from app.services.identity import ClientInfo
    from app.services.mfa import ProofContext

log = structlog.get_logger("app.passkeys")

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
MAX_PASSKEYS_PER_ACCOUNT = 20
RELYING_PARTY_NAME = "Job App Tracker"
PASSKEY_METHOD = "passkey"  # the method's name in the second-factor service
KNOWN_TRANSPORTS = frozenset({"ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"})
DEFAULT_PORTS = {"http": 80, "https": 443}


# The second-factor service's ``factor_added`` / ``factor_removed`` (app/services/mfa.py): the
# event and the notice through the outbox, called inside the change's transaction. Passed per
# call, because that service is built with the passkey method, after this one.
FactorNotice = Callable[[User, str, "ClientInfo | None"], None]


def _locked_passkey(user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey:
    """The account's passkey, locked for the rest of the transaction; 404 for any other id."""
    row: Passkey | None = (
        Passkey.select()
        .where(Passkey.id == passkey_id, Passkey.owner == user_id)
        .for_update()
        .first()
    )
    if row is None:
        raise NotFound("No passkey with this id.")
    return row


class PasskeyRejected(AppError):
    def __init__(self, message: str = "The passkey response could not be verified.") -> None:
        super().__init__(400, "PASSKEY_INVALID", message)


class ChallengeInvalid(AppError):
    def __init__(self) -> None:
        super().__init__(
            400,
            "PASSKEY_CHALLENGE_INVALID",
            "This passkey request has expired or was already used. Ask for new options.",
        )


class SignCountRegressed(AppError):
    def __init__(self) -> None:
        super().__init__(
            400,
            "PASSKEY_SIGN_COUNT_INVALID",
            "This passkey's signature counter did not increase, so it may have been copied. "
            "It was refused; use another factor and review your passkeys.",
        )


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str
    name: str = RELYING_PARTY_NAME

    @classmethod
    def from_frontend_url(cls, frontend_url: str) -> RelyingParty:
        """The RP id is the frontend's host; the expected origin is the frontend's origin as a
        browser serialises it (lower-case host, no default port)."""
        parts = urlsplit(frontend_url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port
        origin = f"{scheme}://{host}"
        if port is not None and port != DEFAULT_PORTS.get(scheme):
            origin += f":{port}"
        return cls(id=host, origin=origin)


def session_binding(family_id: uuid.UUID | None, user_id: uuid.UUID) -> str:
    """A signed-in session's binding: its refresh-token family (the user for a token without
    one)."""
    return f"session:{family_id or user_id}"


def ticket_binding(ticket_id: uuid.UUID | str) -> str:
    """A sign-in's binding: the MFA ticket it holds."""
    return f"ticket:{ticket_id}"


def _b64url_decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise PasskeyRejected("The passkey response is malformed.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PasskeyRejected("The passkey response is malformed.") from exc


def returned_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge inside the credential's clientDataJSON (verified again by the library
    against the stored one)."""
    response = credential.get("response")
    if not isinstance(response, dict):
        raise PasskeyRejected("The passkey response is malformed.")
    try:
        client_data = json.loads(_b64url_decode(response.get("clientDataJSON")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PasskeyRejected("The passkey response is malformed.") from exc
    if not isinstance(client_data, dict):
        raise PasskeyRejected("The passkey response is malformed.")
    return _b64url_decode(client_data.get("challenge"))


def serialise(row: Passkey) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "transports": list(row.transports or []),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


class PasskeyService:
    def __init__(self, frontend_url: str, *, limiter: RateLimiter, clock: Clock) -> None:
        self.rp = RelyingParty.from_frontend_url(frontend_url)
        self.limiter = limiter
        self.clock = clock

    # ----- challenges -----------------------------------------------------------------------

    def _new_challenge(self, user_id: uuid.UUID, purpose: str, binding: str) -> bytes:
        self.limiter.hit(PASSKEY_OPTIONS_PER_ACCOUNT, str(user_id))
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        now = self.clock()
        PasskeyChallenge.create(
            user=user_id,
            purpose=purpose,
            binding=binding,
            challenge_hash=hashlib.sha256(challenge).hexdigest(),
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )
        return challenge

    def _consume_challenge(
        self, user_id: uuid.UUID, purpose: str, binding: str, credential: dict[str, Any]
    ) -> bytes:
        """Mark the challenge the credential answers used, in one conditional UPDATE committed
        before verification starts: a second use, or a use past its expiry, another account's,
        another purpose's or another binding's, finds no row."""
        challenge = returned_challenge(credential)
        now = self.clock()
        consumed = (
            PasskeyChallenge.update(used_at=now)
            .where(
                PasskeyChallenge.challenge_hash == hashlib.sha256(challenge).hexdigest(),
                PasskeyChallenge.user == user_id,
                PasskeyChallenge.purpose == purpose,
                PasskeyChallenge.binding == binding,
                PasskeyChallenge.used_at.is_null(),
                PasskeyChallenge.expires_at > now,
            )
            .execute()
        )
        if consumed != 1:
            raise ChallengeInvalid()
        return challenge

    # ----- registration ---------------------------------------------------------------------

    def registration_options(self, user: User, binding: str) -> dict[str, Any]:
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AttestationConveyancePreference,
            AuthenticatorSelectionCriteria,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        challenge = self._new_challenge(user.id, "registration", binding)
        options = generate_registration_options(
            rp_id=self.rp.id,
            rp_name=self.rp.name,
            user_id=user.id.bytes,
            user_name=user.email,
            user_display_name=user.email,
            challenge=challenge,
            timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=self._descriptors(user.id),
        )
        document: dict[str, Any] = json.loads(options_to_json(options))
        document.setdefault("excludeCredentials", [])
        return document

    def register(
        self,
        user: User,
        binding: str,
        name: str,
        credential: dict[str, Any],
        client: ClientInfo | None,
        notify: FactorNotice | None = None,
    ) -> dict[str, Any]:
        """Verify the attestation and store the passkey; ``notify`` (the new factor's event and
        notice) runs in the same transaction."""
        from webauthn import verify_registration_response

        name = name.strip()
        if not name:
            raise AppError(
                422,
                "VALIDATION_ERROR",
                "The request is not valid.",
                [{"field": "name", "message": "must not be blank"}],
            )
        challenge = self._consume_challenge(user.id, "registration", binding, credential)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=self.rp.origin,
                require_user_verification=False,
            )
        except Exception as exc:  # noqa: BLE001 - any parse or verification failure is the client's
            log.info("passkey_registration_refused", reason=str(exc)[:200])
            raise PasskeyRejected() from exc
        transports = [
            value
            for value in (credential.get("response") or {}).get("transports") or []
            if value in KNOWN_TRANSPORTS
        ]
        now = self.clock()
        try:
            with user_transaction(user.id):
                count = Passkey.select().where(Passkey.owner == user.id).count()
                if count >= MAX_PASSKEYS_PER_ACCOUNT:
                    raise AppError(
                        409,
                        "PASSKEY_LIMIT_REACHED",
                        f"An account holds at most {MAX_PASSKEYS_PER_ACCOUNT} passkeys. "
                        "Remove one first.",
                    )
                row = Passkey.create(
                    owner=user.id,
                    credential_id=verified.credential_id,
                    public_key=verified.credential_public_key,
                    sign_count=verified.sign_count,
                    transports=sorted(set(transports)),
                    name=name,
                    created_at=now,
                )
                self._event(user.id, "passkey_added", client, passkey_id=str(row.id), name=name)
                if notify is not None:
                    notify(user, PASSKEY_METHOD, client)
        except peewee.IntegrityError as exc:
            raise AppError(
                409,
                "PASSKEY_ALREADY_REGISTERED",
                "This passkey is already registered.",
            ) from exc
        return serialise(row)

    # ----- the account's passkeys -----------------------------------------------------------

    def _descriptors(self, user_id: uuid.UUID) -> list[Any]:
        from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

        with user_transaction(user_id):
            rows = list(
                Passkey.select(Passkey.credential_id, Passkey.transports)
                .where(Passkey.owner == user_id)
                .order_by(Passkey.created_at)
            )
        return [
            PublicKeyCredentialDescriptor(
                id=bytes(row.credential_id),
                transports=[AuthenticatorTransport(value) for value in row.transports or []]
                or None,
            )
            for row in rows
        ]

    def list(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        with user_transaction(user_id):
            rows = list(
                Passkey.select().where(Passkey.owner == user_id).order_by(Passkey.created_at)
            )
        return [serialise(row) for row in rows]

    def count(self, user_id: uuid.UUID) -> int:
        with user_transaction(user_id):
            found: int = Passkey.select().where(Passkey.owner == user_id).count()
        return found

    def rename(
        self, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str, client: ClientInfo | None
    ) -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise AppError(
                422,
                "VALIDATION_ERROR",
                "The request is not valid.",
                [{"field": "name", "message": "must not be blank"}],
            )
        with user_transaction(user_id):
            row = _locked_passkey(user_id, passkey_id)
            Passkey.update(name=name).where(Passkey.id == row.id).execute()
            row.name = name
            self._event(user_id, "passkey_renamed", client, passkey_id=str(row.id), name=name)
        return serialise(row)

    def remove(
        self,
        user: User,
        passkey_id: uuid.UUID,
        client: ClientInfo | None,
        notify: FactorNotice | None = None,
    ) -> dict[str, Any]:
        """Delete one passkey; ``notify`` (the removal's event and notice, and the recovery
        codes dropped with the last factor) runs in the same transaction, after the delete."""
        user_id = user.id
        with user_transaction(user_id):
            row = _locked_passkey(user_id, passkey_id)
            Passkey.delete().where(Passkey.id == row.id).execute()
            self._event(user_id, "passkey_removed", client, passkey_id=str(row.id), name=row.name)
            if notify is not None:
                notify(user, PASSKEY_METHOD, client)
        return serialise(row)

    # ----- assertion ------------------------------------------------------------------------

    def assertion_options(self, user_id: uuid.UUID, binding: str) -> dict[str, Any]:
        """Options that allow the account's own passkeys and no other. An account without one
        has nothing to assert with: 409 PASSKEY_NOT_ENROLLED."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import UserVerificationRequirement

        allowed = self._descriptors(user_id)
        if not allowed:
            raise AppError(409, "PASSKEY_NOT_ENROLLED", "This account has no passkey.")
        challenge = self._new_challenge(user_id, "assertion", binding)
        options = generate_authentication_options(
            rp_id=self.rp.id,
            challenge=challenge,
            timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        document: dict[str, Any] = json.loads(options_to_json(options))
        return document

    def verify_assertion(
        self,
        user_id: uuid.UUID,
        binding: str,
        credential: dict[str, Any],
        client: ClientInfo | None,
    ) -> dict[str, Any]:
        """The passkey that signed this challenge, once the signature, the origin, the RP id
        and the counter are right; raises ``ChallengeInvalid``, ``PasskeyRejected`` or
        ``SignCountRegressed`` otherwise."""
        from webauthn import verify_authentication_response

        challenge = self._consume_challenge(user_id, "assertion", binding, credential)
        raw_id = _b64url_decode(credential.get("rawId"))
        with user_transaction(user_id):
            stored = (
                Passkey.select()
                .where(Passkey.owner == user_id, Passkey.credential_id == raw_id)
                .first()
            )
        if stored is None:
            raise PasskeyRejected("This passkey is not registered to this account.")
        try:
            # The counter is checked below, under the row's lock, not by the library: passing
            # 0 here keeps the library from refusing a regression before it is recorded.
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=self.rp.origin,
                credential_public_key=bytes(stored.public_key),
                credential_current_sign_count=0,
                require_user_verification=False,
            )
        except Exception as exc:  # noqa: BLE001 - any parse or verification failure is the client's
            log.info("passkey_assertion_refused", reason=str(exc)[:200])
            raise PasskeyRejected() from exc
        now = self.clock()
        regressed = False
        with user_transaction(user_id):
            row = Passkey.select().where(Passkey.id == stored.id).for_update().first()
            if row is None:  # removed while this assertion was being verified
                raise PasskeyRejected("This passkey is not registered to this account.")
            new_count, known = verified.new_sign_count, row.sign_count
            if (new_count > 0 or known > 0) and new_count <= known:
                regressed = True
                self._event(
                    user_id,
                    "passkey_sign_count_regressed",
                    client,
                    passkey_id=str(row.id),
                    name=row.name,
                    stored_count=known,
                    presented_count=new_count,
                )
            else:
                Passkey.update(sign_count=new_count, last_used_at=now).where(
                    Passkey.id == row.id
                ).execute()
                row.sign_count, row.last_used_at = new_count, now
        if regressed:
            raise SignCountRegressed()
        return serialise(row)

    # ----- account data ---------------------------------------------------------------------

    def _event(
        self, user_id: uuid.UUID, event_type: str, client: ClientInfo | None, **details: Any
    ) -> None:
        SecurityEvent.create(
            user=user_id,
            event_type=event_type,
            created_at=self.clock(),
            ip=client.ip if client else None,
            user_agent=(client.user_agent or "")[:512] if client else None,
            details=details,
        )


class PasskeyMethod:
    """Passkeys as a method of the second-factor service (``SecondFactorMethod`` in
    app/services/mfa.py): ``"passkey"`` in the login answer's ``methods``, proved by
    ``credential`` in ``POST /v1/auth/login/mfa`` and ``POST /v1/auth/step-up``. The challenge
    must have been issued for the same ticket (sign-in) or session family (step-up)."""

    name = PASSKEY_METHOD
    field = "credential"
    primary = True

    def __init__(self, passkeys: PasskeyService) -> None:
        self.passkeys = passkeys

    def enrolled(self, user_id: uuid.UUID) -> bool:
        return self.passkeys.count(user_id) > 0

    def remove_all(self, user_id: uuid.UUID) -> int:
        """Every passkey of the account (the operator's reset of lost factors)."""
        with user_transaction(user_id):
            removed: int = Passkey.delete().where(Passkey.owner == user_id).execute()
        return removed

    def export(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        """The account's passkeys as second factors for its data export: never a key."""
        return [
            {
                "type": "passkey",
                "name": passkey["name"],
                "created_at": passkey["created_at"],
                "confirmed_at": passkey["created_at"],
                "last_used_at": passkey["last_used_at"],
                "remaining": None,
            }
            for passkey in self.passkeys.list(user_id)
        ]

    def verify(self, proof: Any, context: ProofContext) -> bool:
        """True once the assertion checks out; False for any proof that does not (the
        service's refusal is recorded where it matters: a regressed counter's event)."""
        if isinstance(proof, AuthenticationCredentialJSON):
            proof = proof.model_dump(exclude_none=True)
        credential = proof
        if not isinstance(credential, dict):
            return False
        if context.purpose == "login" and context.ticket_id is not None:
            binding = ticket_binding(context.ticket_id)
        else:
            binding = session_binding(context.family_id, context.user.id)
        try:
            self.passkeys.verify_assertion(context.user.id, binding, credential, context.client)
        except (ChallengeInvalid, PasskeyRejected, SignCountRegressed) as refusal:
            log.info("passkey_proof_refused", code=refusal.code, purpose=context.purpose)
            return False
        return True


def purge_expired_challenges(database: peewee.Database, now: datetime) -> int:
    """The outbox drainer's housekeeping: challenges past their expiry are of no use."""
    with database.bind_ctx([PasskeyChallenge]):
        purged: int = PasskeyChallenge.delete().where(PasskeyChallenge.expires_at <= now).execute()
    return purged

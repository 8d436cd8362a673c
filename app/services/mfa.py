"""Second factors: enrolment, proofs, the MFA login ticket and step-up.

**Methods.** A second-factor method is a small object (``SecondFactorMethod``) that says whether
an account has it enrolled and verifies one proof of it. The service holds the registered methods
in order and dispatches over them wherever a factor is asked for: the second step of a sign-in
(``redeem_ticket``) and a step-up (``step_up``). Two are built in:

- ``TotpMethod`` (``"totp"``, proof field ``code``): RFC 6238 with pyotp, six digits, 30-second
  steps; the current step and the one before it are accepted, each step once.
- ``RecoveryCodeMethod`` (``"recovery_code"``, proof field ``recovery_code``): ten single-use
  codes, argon2id hashes through ``PasswordHashing``. Not a factor on its own (``primary`` is
  False): it counts only while the account has a primary factor, and it is dropped with the last.

**Adding a method** (passkeys: ``"passkey"``, proof field ``credential``):

1. Write a class with ``name``, ``field`` and ``primary`` and the four methods of
   ``SecondFactorMethod`` (``enrolled``, ``verify``, ``remove_all`` for the operator's reset,
   ``export`` for the account's data export). ``verify`` must consume what it checks
   atomically (a sign counter, a single-use challenge) inside the caller's transaction, and
   return False for any proof that fails, never raise for one. ``ProofContext`` says why it is
   asked (``"login"`` with the ticket's id, ``"step_up"`` with the session family), so a
   challenge issued for one ticket or session is accepted only for it; ``open_ticket`` gives
   the ticket for a challenge endpoint (``POST /v1/auth/login/mfa/passkey-options``).
2. Pass an instance in ``methods`` where ``app/bootstrap.py`` builds ``MfaService``; its ``name``
   then appears in the login answer's ``methods`` for accounts that have it.
3. Add its proof field to ``LoginMfaBody`` and ``StepUpBody`` (app/schemas/mfa.py). The route
   hands every proof field of the body to the service (``proofs_of``); exactly one must be set.
4. Call ``factor_added`` after an enrolment and ``factor_removed`` after a removal (their security
   events and notices; removing the last primary factor drops the recovery codes), and
   ``require_step_up`` before a removal. ``summary`` counts what an account holds for
   ``GET /v1/users/me``; extend it with the method's count.

**The login ticket.** For an account with a primary factor, a correct password yields a ticket
(256-bit random, only its SHA-256 stored) instead of a session. It is single-use, lives
``TICKET_TTL`` (5 minutes), and is bound to the account, to the password hash that was verified
(a change or reset in between ends it), and to the client that sent the password: the SHA-256 of
its address and user agent (``binding_hash``), so a ticket copied out of that client (a log, a
proxy) does not work elsewhere. Wrong factors are limited per ticket (``TICKET_MAX_FAILURES``,
then the ticket is spent) and per account through the rate limiter on the password step's model:
clients without a device cookie for the account share one budget, a known device spends its own,
so a flood of wrong codes never locks the owner's known devices out.

**Step-up.** ``require_step_up(current)`` is the one call every protected operation makes: when
the account has a primary factor, the session family must have proved one (``POST
/v1/auth/step-up``) within ``STEP_UP_WINDOW`` (5 minutes), else 403 ``STEP_UP_REQUIRED``.
Completing a sign-in with a second factor counts as a step-up of the new session. An account
without a factor steps up with its password; its operations keep asking for the password as
before.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import peewee
import pyotp

from app.core.clock import Clock
from app.core.database import PreparedSelect, UserRead, db, tuples_as_user
from app.core.errors import AppError, NotFound, ValidationFailed
from app.core.factor_sealing import FactorKeyMissing, FactorSealError, FactorSecretCipher
from app.core.security import PasswordHashing, new_opaque_token, token_digest
from app.models import (
    MfaTicket,
    Passkey,
    RecoveryCode,
    SecurityEvent,
    SessionStepUp,
    TotpFactor,
    User,
)
from app.services import rate_limit
from app.services.emails import normalise_email
from app.services.identity import ClientInfo, CurrentUser
from app.services.outbox import OutboxWriter
from app.services.passkeys import PasskeyMethod
from app.services.rate_limit import RateLimiter

TICKET_TTL = timedelta(minutes=5)
TICKET_MAX_FAILURES = 5
STEP_UP_WINDOW = timedelta(minutes=5)
TOTP_INTERVAL_SECONDS = 30
TOTP_DIGITS = 6
# RFC 6238 §5.2: the step before the current one is accepted for clock drift and typing time;
# nothing older, and nothing ahead.
TOTP_ACCEPTED_STEPS = (0, -1)
TOTP_ISSUER = "Job App Tracker"
RECOVERY_CODE_COUNT = 10
# 10 characters of a 31-letter alphabet without 0/o, 1/l/i (about 49 bits), shown xxxxx-xxxxx.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10

Purpose = Literal["login", "step_up"]


class StepUpRequired(AppError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "STEP_UP_REQUIRED",
            "Confirm it is you first: prove a second factor with POST /v1/auth/step-up, then "
            "retry within 5 minutes.",
        )


class MfaUnavailable(AppError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "MFA_UNAVAILABLE",
            "Second factors are not available on this server right now. Try again later.",
            headers={"Retry-After": "60"},
        )


def ticket_invalid() -> AppError:
    return AppError(
        401,
        "MFA_TICKET_INVALID",
        "This sign-in has expired or was already used. Sign in again with your password.",
    )


def factor_invalid(field: str) -> AppError:
    return AppError(
        401,
        "MFA_CODE_INVALID",
        "The second factor is not valid.",
        [{"field": field, "message": "is not valid"}],
    )


@dataclass(frozen=True)
class ProofContext:
    """Why a proof is asked for, and for what: a ticket (sign-in) or a session (step-up)."""

    purpose: Purpose
    user: User
    client: ClientInfo
    ticket_id: uuid.UUID | None = None
    family_id: uuid.UUID | None = None


class SecondFactorMethod(Protocol):
    """One kind of second factor (see the module docstring, "Adding a method")."""

    name: str  # listed in the login answer's ``methods``
    field: str  # the body field that carries a proof of it
    primary: bool  # a factor on its own (recovery codes only back the others up)

    def enrolled(self, user_id: uuid.UUID) -> bool: ...

    def verify(self, proof: Any, context: ProofContext) -> bool: ...

    def remove_all(self, user_id: uuid.UUID) -> int:
        """Delete every factor of this kind the account holds (the operator's reset); the
        number removed."""
        ...

    def export(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        """The account's factors of this kind for its data export: type, name and dates,
        never a secret, a hash or a public key."""
        ...


def _summary_query(user_id: Any) -> peewee.SelectBase:
    """The account's confirmed TOTP factor, passkeys (under row-level security, so read as the
    user) and unused recovery codes, as three scalar subqueries of one SELECT."""
    totp = TotpFactor.select(peewee.fn.COUNT(TotpFactor.id) > 0).where(
        TotpFactor.user == user_id, TotpFactor.confirmed_at.is_null(False)
    )
    passkeys = Passkey.select(peewee.fn.COUNT(Passkey.id)).where(Passkey.owner == user_id)
    codes = RecoveryCode.select(peewee.fn.COUNT(RecoveryCode.id)).where(
        RecoveryCode.user == user_id, RecoveryCode.used_at.is_null()
    )
    return User.select(totp.alias("totp"), passkeys.alias("passkeys"), codes.alias("left")).where(
        User.id == user_id
    )


_SUMMARY = PreparedSelect(_summary_query, arity=1)
# Whether the summary shows a method enrolled, for the built-in methods by name.
_SUMMARY_OF: dict[str, Callable[[dict[str, Any]], bool]] = {
    "totp": lambda summary: bool(summary["totp"]),
    "passkey": lambda summary: summary["passkeys"] > 0,
    "recovery_code": lambda summary: summary["recovery_codes_left"] > 0,
}


# ----- TOTP ---------------------------------------------------------------------------------


def _step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_INTERVAL_SECONDS


def step_start(step: int) -> datetime:
    """When a 30-second step began (the nearest a TOTP factor knows of its last use)."""
    return datetime.fromtimestamp(step * TOTP_INTERVAL_SECONDS, UTC)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL_SECONDS)


def _bound(factor_id: uuid.UUID, user_id: uuid.UUID) -> bytes:
    """The associated data of a sealed secret: its row and its account."""
    return b"totp:" + factor_id.bytes + user_id.bytes


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The accepted step whose code is ``code`` (current or previous), else None. pyotp makes
    each code; its constant-time comparison compares them. Spaces are ignored ("123 456")."""
    code = "".join(code.split())
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp, current = _totp(secret), _step(now)
    for offset in TOTP_ACCEPTED_STEPS:
        if pyotp.utils.strings_equal(code, totp.generate_otp(current + offset)):
            return current + offset
    return None


# Accept the step only if it is later than every step accepted before: one statement, so two
# requests with the same code cannot both pass (the second waits for the first's row lock, then
# re-reads the row and matches nothing).
def _claim_step(factor_id: uuid.UUID, step: int) -> bool:
    claimed: int = (
        TotpFactor.update(last_used_step=step)
        .where(
            TotpFactor.id == factor_id,
            TotpFactor.confirmed_at.is_null(False),
            TotpFactor.last_used_step.is_null() | (TotpFactor.last_used_step < step),
        )
        .execute()
    )
    return claimed == 1


class TotpMethod:
    name = "totp"
    field = "code"
    primary = True

    def __init__(self, cipher: FactorSecretCipher, clock: Clock):
        self.cipher = cipher
        self.clock = clock

    def enrolled(self, user_id: uuid.UUID) -> bool:
        found: bool = (
            TotpFactor.select()
            .where(TotpFactor.user == user_id, TotpFactor.confirmed_at.is_null(False))
            .exists()
        )
        return found

    def secret_of(self, factor: TotpFactor) -> str:
        try:
            return self.cipher.open(
                factor.secret_sealed, factor.key_id, _bound(factor.id, factor.user_id)
            )
        except (FactorKeyMissing, FactorSealError) as exc:
            raise MfaUnavailable() from exc

    def seal(self, factor_id: uuid.UUID, user_id: uuid.UUID, secret: str) -> tuple[bytes, str]:
        try:
            return self.cipher.seal(secret, _bound(factor_id, user_id))
        except FactorKeyMissing as exc:
            raise MfaUnavailable() from exc

    def verify(self, proof: Any, context: ProofContext) -> bool:
        factor = TotpFactor.get_or_none(
            TotpFactor.user == context.user.id, TotpFactor.confirmed_at.is_null(False)
        )
        if factor is None or not isinstance(proof, str):
            return False
        secret = self.secret_of(factor)
        step = matching_step(secret, proof, self.clock())
        if step is None or not _claim_step(factor.id, step):
            return False
        if factor.key_id != self.cipher.current_key_id:
            # Sealed under the previous key: seal it again under the current one, so a rotation
            # completes as accounts sign in.
            sealed, key_id = self.seal(factor.id, factor.user_id, secret)
            TotpFactor.update(secret_sealed=sealed, key_id=key_id).where(
                TotpFactor.id == factor.id
            ).execute()
        return True

    def remove_all(self, user_id: uuid.UUID) -> int:
        removed: int = TotpFactor.delete().where(TotpFactor.user == user_id).execute()
        return removed

    def export(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        factor = TotpFactor.get_or_none(
            TotpFactor.user == user_id, TotpFactor.confirmed_at.is_null(False)
        )
        if factor is None:
            return []
        step = factor.last_used_step
        return [
            {
                "type": "totp",
                "name": "Authenticator app",
                "created_at": factor.created_at,
                "confirmed_at": factor.confirmed_at,
                "last_used_at": None if step is None else step_start(step),
                "remaining": None,
            }
        ]


# ----- recovery codes -----------------------------------------------------------------------


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_recovery_code(code: str) -> str | None:
    """Lower case, without spaces and dashes; None when it cannot be a recovery code."""
    compact = "".join(code.split()).replace("-", "").lower()
    if len(compact) != RECOVERY_CODE_LENGTH or not set(compact) <= set(RECOVERY_ALPHABET):
        return None
    return compact


class RecoveryCodeMethod:
    name = "recovery_code"
    field = "recovery_code"
    primary = False

    def __init__(self, hashing: PasswordHashing, clock: Clock):
        self.hashing = hashing
        self.clock = clock

    def enrolled(self, user_id: uuid.UUID) -> bool:
        found: bool = (
            RecoveryCode.select()
            .where(RecoveryCode.user == user_id, RecoveryCode.used_at.is_null())
            .exists()
        )
        return found

    def verify(self, proof: Any, context: ProofContext) -> bool:
        code = normalise_recovery_code(proof) if isinstance(proof, str) else None
        if code is None:
            return False
        unused = RecoveryCode.select(RecoveryCode.id, RecoveryCode.code_hash).where(
            RecoveryCode.user == context.user.id, RecoveryCode.used_at.is_null()
        )
        for row in unused:
            if self.hashing.verify(row.code_hash, code):
                # Single use, atomically: a concurrent request with the same code matches nothing.
                spent: int = (
                    RecoveryCode.update(used_at=self.clock())
                    .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_null())
                    .execute()
                )
                return spent == 1
        return False

    def new_set(self) -> tuple[list[str], list[str]]:
        """Ten new codes and their hashes; hashed before any transaction opens (each hash is an
        argon2id run)."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        return codes, [self.hashing.hash(code.replace("-", "")) for code in codes]

    def replace_set(self, user: User, hashes: list[str], now: datetime) -> None:
        """Store a new set; the old set (used or not) is gone. Call inside a transaction."""
        RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        RecoveryCode.insert_many(
            [
                {
                    RecoveryCode.id: uuid.uuid4(),
                    RecoveryCode.user: user.id,
                    RecoveryCode.code_hash: code_hash,
                    RecoveryCode.created_at: now,
                }
                for code_hash in hashes
            ]
        ).execute()

    def remove_all(self, user_id: uuid.UUID) -> int:
        removed: int = RecoveryCode.delete().where(RecoveryCode.user == user_id).execute()
        return removed

    def export(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = list(
            RecoveryCode.select(RecoveryCode.created_at, RecoveryCode.used_at).where(
                RecoveryCode.user == user_id
            )
        )
        if not rows:
            return []
        used = [row.used_at for row in rows if row.used_at is not None]
        return [
            {
                "type": "recovery_codes",
                "name": "Recovery codes",
                "created_at": min(row.created_at for row in rows),
                "confirmed_at": None,
                "last_used_at": max(used) if used else None,
                "remaining": len(rows) - len(used),
            }
        ]


# ----- the service --------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """The password step's answer for an account with a second factor."""

    ticket: str
    methods: list[str]


@dataclass(frozen=True)
class Redeemed:
    """A ticket redeemed with a valid factor: who signed in, from which known device, how."""

    user: User
    device: str | None
    method: str


def client_binding(client: ClientInfo) -> str:
    """What a ticket is bound to: the SHA-256 of the client's address and user agent."""
    material = f"mfa-ticket\x00{client.ip or ''}\x00{client.user_agent or ''}"
    return hashlib.sha256(material.encode()).hexdigest()


def password_digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()


def proofs_of(body: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The proof fields a request body sets (the route passes them on as they are)."""
    return {name: getattr(body, name) for name in fields if getattr(body, name, None) is not None}


class MfaService:
    def __init__(
        self,
        *,
        hashing: PasswordHashing,
        limiter: RateLimiter,
        clock: Clock,
        totp: TotpMethod,
        recovery_codes: RecoveryCodeMethod,
        outbox: OutboxWriter,
        methods: Sequence[SecondFactorMethod] = (),
    ):
        self.outbox = outbox
        self.hashing = hashing
        self.limiter = limiter
        self.clock = clock
        self.totp = totp
        self.recovery_codes = recovery_codes
        self.methods: tuple[SecondFactorMethod, ...] = (totp, *methods, recovery_codes)
        self._by_field = {method.field: method for method in self.methods}

    @property
    def proof_fields(self) -> tuple[str, ...]:
        return tuple(self._by_field)

    # ----- what an account has --------------------------------------------------------------

    def has_factor(self, user_id: uuid.UUID) -> bool:
        return any(method.enrolled(user_id) for method in self.methods if method.primary)

    def enrolled_methods(self, user_id: uuid.UUID) -> list[str]:
        """The names of the methods the account can prove now; empty without a primary one.

        Every sign-in asks, so the three built-in methods are read in one round trip, the
        summary's (``_SUMMARY``, prepared once per connection); a method the summary does not
        cover answers for itself (``enrolled``)."""
        rows = tuples_as_user(user_id, *_SUMMARY.statement(str(user_id)))
        summary = self.summary(rows[0] if rows else None)
        names = [
            method.name
            for method in self.methods
            if (
                method.enrolled(user_id)
                if method.name not in _SUMMARY_OF
                else _SUMMARY_OF[method.name](summary)
            )
        ]
        primary = {method.name for method in self.methods if method.primary}
        return names if primary & set(names) else []

    @staticmethod
    def summary_read(user_id: uuid.UUID) -> UserRead:
        """The read behind ``summary``, to go with the request's authentication (``UserRead``):
        "me" asks for it on every call, so it costs no round trip of its own."""
        return _SUMMARY.user_read(str(user_id))

    def summary(self, row: tuple[Any, ...] | None) -> dict[str, Any]:
        """What ``GET /v1/users/me`` shows, from the row ``summary_read`` read: which factors
        are enrolled, never their secrets."""
        totp, passkeys, left = row if row is not None and row[0] is not None else (False, 0, 0)
        if not any(isinstance(method, PasskeyMethod) for method in self.methods):
            passkeys = 0
        return {"totp": bool(totp), "passkeys": int(passkeys), "recovery_codes_left": int(left)}

    def _event(
        self, event_type: str, user: User, client: ClientInfo | None, **details: Any
    ) -> None:
        SecurityEvent.create(
            user=user,
            event_type=event_type,
            created_at=self.clock(),
            ip=client.ip if client else None,
            user_agent=(client.user_agent or "")[:512] if client else None,
            details=details,
        )

    # ----- proofs ---------------------------------------------------------------------------

    def _method_for(self, proofs: Mapping[str, Any]) -> tuple[SecondFactorMethod, Any]:
        given = [(field, value) for field, value in proofs.items() if field in self._by_field]
        if len(given) != 1:
            fields = ", ".join(f"`{field}`" for field in self._by_field)
            raise ValidationFailed(
                [{"field": "body", "message": f"give exactly one of {fields}"}],
            )
        field, value = given[0]
        return self._by_field[field], value

    def _prove(self, method: SecondFactorMethod, proof: Any, context: ProofContext) -> bool:
        """A proof of ``method``, accepted only while the account has a primary factor."""
        if not method.enrolled(context.user.id) or not self.has_factor(context.user.id):
            return False
        return method.verify(proof, context)

    # ----- the login ticket -----------------------------------------------------------------

    def issue_ticket(
        self, user: User, client: ClientInfo, device: str | None, methods: list[str]
    ) -> Challenge:
        ticket = new_opaque_token()
        now = self.clock()
        with db.atomic():
            MfaTicket.create(
                user=user,
                ticket_hash=token_digest(ticket),
                binding_hash=client_binding(client),
                password_hash_digest=password_digest(user.password_hash),
                device=device,
                created_at=now,
                expires_at=now + TICKET_TTL,
            )
            self._event("mfa_challenge_issued", user, client, methods=methods)
        return Challenge(ticket=ticket, methods=methods)

    def open_ticket(self, ticket: str, client: ClientInfo, *, lock: bool = False) -> MfaTicket:
        """The live ticket this client holds, else 401 ``MFA_TICKET_INVALID``."""
        query = MfaTicket.select().where(MfaTicket.ticket_hash == token_digest(ticket or ""))
        row: MfaTicket | None = (query.for_update() if lock else query).first()
        if (
            row is None
            or row.used_at is not None
            or row.expires_at <= self.clock()
            or not secrets.compare_digest(row.binding_hash, client_binding(client))
        ):
            raise ticket_invalid()
        return row

    def _budget(self, ticket: MfaTicket) -> tuple[rate_limit.Limit, str]:
        if ticket.device is None:
            return rate_limit.MFA_FAILURES_PER_ACCOUNT, str(ticket.user_id)
        return rate_limit.MFA_FAILURES_PER_DEVICE, f"{ticket.user_id}:{ticket.device}"

    def redeem_ticket(
        self, ticket: str, proofs: Mapping[str, Any], client: ClientInfo
    ) -> Redeemed | AppError:
        """Check one factor against the ticket; call inside the transaction that then issues
        the session, so the ticket, the factor's use and the session commit together. A refusal
        is returned, not raised, so the caller commits the failure it records and then raises
        it."""
        method, proof = self._method_for(proofs)
        row = self.open_ticket(ticket, client, lock=True)
        user: User | None = User.get_or_none(User.id == row.user_id)
        now = self.clock()
        if (
            user is None
            or not user.is_active
            or password_digest(user.password_hash) != row.password_hash_digest
        ):
            MfaTicket.update(used_at=now).where(MfaTicket.id == row.id).execute()
            return ticket_invalid()
        budget, subject = self._budget(row)
        spent = self.limiter.check(budget, subject)
        context = ProofContext("login", user, client, ticket_id=row.id)
        if self._prove(method, proof, context):
            MfaTicket.update(used_at=now).where(MfaTicket.id == row.id).execute()
            if spent and row.device is not None:
                self.limiter.clear(budget, subject)
            if method is self.recovery_codes:
                self.recovery_code_used(user, client)
            return Redeemed(user=user, device=row.device, method=method.name)
        self.limiter.record_failure(budget, subject)
        failures = row.failed_attempts + 1
        MfaTicket.update(
            failed_attempts=failures,
            used_at=now if failures >= TICKET_MAX_FAILURES else None,
        ).where(MfaTicket.id == row.id).execute()
        self._event("mfa_failed", user, client, method=method.name, ticket_failures=failures)
        return factor_invalid(method.field)

    # ----- step-up --------------------------------------------------------------------------

    def require_step_up(self, current: CurrentUser) -> None:
        """403 ``STEP_UP_REQUIRED`` unless the account has no primary factor, or this session
        proved one within ``STEP_UP_WINDOW``."""
        if not self.has_factor(current.user.id):
            return
        stepped_up_at = self.stepped_up_at(current)
        if stepped_up_at is None or self.clock() - stepped_up_at > STEP_UP_WINDOW:
            raise StepUpRequired()

    def stepped_up_at(self, current: CurrentUser) -> datetime | None:
        if current.family_id is None:
            return None
        row = (
            SessionStepUp.select(SessionStepUp.stepped_up_at)
            .where(
                SessionStepUp.family_id == current.family_id,
                SessionStepUp.user == current.user.id,
            )
            .first()
        )
        return None if row is None else row.stepped_up_at

    def mark_stepped_up(self, user: User, family_id: uuid.UUID, now: datetime) -> None:
        SessionStepUp.insert(family_id=family_id, user=user.id, stepped_up_at=now).on_conflict(
            conflict_target=[SessionStepUp.family_id],
            update={SessionStepUp.stepped_up_at: now},
        ).execute()

    def step_up(self, current: CurrentUser, proofs: Mapping[str, Any], client: ClientInfo) -> None:
        """Prove a factor again (or, for an account without one, the password); the session
        counts as fresh for ``STEP_UP_WINDOW``. Wrong answers are limited per session."""
        user, family_id = current.user, current.family_id
        if family_id is None:
            raise AppError(401, "INVALID_TOKEN", "The access token is no longer valid.")
        session = str(family_id)
        self.limiter.check(rate_limit.STEP_UP_FAILURES_PER_SESSION, session)
        if self.has_factor(user.id):
            if "password" in proofs:
                raise ValidationFailed(
                    [{"field": "password", "message": "this account has a second factor: use it"}]
                )
            method, proof = self._method_for(proofs)
            name, field = method.name, method.field
            context = ProofContext("step_up", user, client, family_id=family_id)

            def attempt() -> bool:
                return self._prove(method, proof, context)

        else:
            password = proofs.get("password")
            if password is None or len(proofs) != 1:
                raise ValidationFailed(
                    [{"field": "password", "message": "is required: no second factor is set up"}]
                )
            name, field = "password", "password"
            matched = self.hashing.verify(user.password_hash, password)  # the slow hash: before

            def attempt() -> bool:
                return matched

        with db.atomic():
            accepted = attempt()
            if accepted:
                self.mark_stepped_up(user, family_id, self.clock())
                self._event("step_up_succeeded", user, client, method=name)
                if name == self.recovery_codes.name:
                    self.recovery_code_used(user, client)
            else:
                self._event("step_up_failed", user, client, method=name)
        if not accepted:
            self.limiter.record_failure(rate_limit.STEP_UP_FAILURES_PER_SESSION, session)
            if name == "password":
                raise ValidationFailed([{"field": field, "message": "is not your password"}])
            raise factor_invalid(field)

    def recovery_code_used(self, user: User, client: ClientInfo) -> None:
        """The event of a spent recovery code, with how many are left."""
        left: int = (
            RecoveryCode.select()
            .where(RecoveryCode.user == user.id, RecoveryCode.used_at.is_null())
            .count()
        )
        self._event("recovery_code_used", user, client, recovery_codes_left=left)
        self.outbox.enqueue_notice(
            "mfa_recovery_code_used", user.email, user.id, {"left": str(left)}
        )

    def factor_added(self, user: User, method: str, client: ClientInfo | None) -> None:
        """The event and the notice of a new factor; call in the enrolment's transaction."""
        self._event("mfa_factor_added", user, client, method=method)
        self.outbox.enqueue_notice("mfa_factor_added", user.email, user.id, {"method": method})

    def factor_removed(self, user: User, method: str, client: ClientInfo | None) -> None:
        """The event and the notice of a removed factor; when no primary factor is left, the
        recovery codes go too (they only back a factor up). Call in the removal's
        transaction."""
        dropped = 0 if self.has_factor(user.id) else self.recovery_codes.remove_all(user.id)
        self._event(
            "mfa_factor_removed", user, client, method=method, recovery_codes_dropped=dropped
        )
        self.outbox.enqueue_notice("mfa_factor_removed", user.email, user.id, {"method": method})

    def export(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every factor of the account for its data export, primary methods first."""
        return [entry for method in self.methods for entry in method.export(user_id)]

    # ----- TOTP enrolment -------------------------------------------------------------------

    def start_totp(self, current: CurrentUser, client: ClientInfo) -> dict[str, str]:
        """A new pending secret (any earlier pending one is replaced). Shown this once."""
        user = current.user
        if self.totp.enrolled(user.id):
            raise AppError(
                409,
                "TOTP_ALREADY_ENROLLED",
                "An authenticator app is already set up. Remove it first to set up another.",
            )
        secret = pyotp.random_base32()
        factor_id = uuid.uuid4()
        sealed, key_id = self.totp.seal(factor_id, user.id, secret)
        with db.atomic():
            TotpFactor.delete().where(
                TotpFactor.user == user.id, TotpFactor.confirmed_at.is_null()
            ).execute()
            try:
                TotpFactor.insert(
                    id=factor_id,
                    user=user.id,
                    secret_sealed=sealed,
                    key_id=key_id,
                    created_at=self.clock(),
                ).execute()
            except peewee.IntegrityError as exc:  # a concurrent enrolment won
                raise AppError(
                    409, "TOTP_ENROLMENT_CONFLICT", "Another enrolment is in progress. Retry."
                ) from exc
            self._event("totp_enrolment_started", user, client)
        uri = _totp(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
        return {"secret": secret, "otpauth_uri": uri}

    def confirm_totp(self, current: CurrentUser, code: str, client: ClientInfo) -> list[str]:
        """A current code confirms the pending secret; the answer is the first set of recovery
        codes (shown this once)."""
        user = current.user
        session = str(current.family_id or user.id)
        self.limiter.check(rate_limit.TOTP_CONFIRM_FAILURES_PER_SESSION, session)
        factor = TotpFactor.get_or_none(TotpFactor.user == user.id)
        if factor is None or factor.confirmed_at is not None:
            raise AppError(
                409,
                "TOTP_NOT_PENDING",
                "No authenticator set-up is waiting for confirmation. Start one with "
                "POST /v1/users/me/mfa/totp.",
            )
        now = self.clock()
        step = matching_step(self.totp.secret_of(factor), code, now)
        if step is not None:
            codes, hashes = self.recovery_codes.new_set()
        else:
            self.limiter.record_failure(rate_limit.TOTP_CONFIRM_FAILURES_PER_SESSION, session)
            raise ValidationFailed(
                [{"field": "code", "message": "is not the authenticator's current code"}]
            )
        with db.atomic():
            confirmed: int = (
                TotpFactor.update(confirmed_at=now, last_used_step=step)
                .where(TotpFactor.id == factor.id, TotpFactor.confirmed_at.is_null())
                .execute()
            )
            if confirmed != 1:
                raise AppError(
                    409, "TOTP_NOT_PENDING", "This set-up was confirmed or replaced meanwhile."
                )
            self.recovery_codes.replace_set(user, hashes, now)
            self.factor_added(user, self.totp.name, client)
            if current.family_id is not None:
                self.mark_stepped_up(user, current.family_id, now)
        return codes

    def remove_totp(self, current: CurrentUser, client: ClientInfo) -> None:
        """Remove the authenticator app (a set-up not yet confirmed, too). Needs a fresh
        step-up."""
        self.require_step_up(current)
        user = current.user
        with db.atomic():
            factor = TotpFactor.get_or_none(TotpFactor.user == user.id)
            if factor is None:
                raise NotFound("No authenticator app is set up.")
            TotpFactor.delete().where(TotpFactor.id == factor.id).execute()
            if factor.confirmed_at is not None:
                self.factor_removed(user, self.totp.name, client)

    def regenerate_recovery_codes(self, current: CurrentUser, client: ClientInfo) -> list[str]:
        """A new set of ten codes; every code of the old set stops working. Needs a fresh
        step-up, and a primary factor for the codes to back up."""
        self.require_step_up(current)
        user = current.user
        if not self.has_factor(user.id):
            raise AppError(
                409,
                "MFA_NOT_ENROLLED",
                "Recovery codes back up a second factor: set one up first.",
            )
        codes, hashes = self.recovery_codes.new_set()
        with db.atomic():
            self.recovery_codes.replace_set(user, hashes, self.clock())
            self._event("recovery_codes_regenerated", user, client)
        return codes

    def reset_factors(self, email: str, revoke_sessions: Callable[[User], int]) -> User:
        """The operator's recovery, after the identity checks of docs/operations.md: every factor
        of every method goes, every session ends (``revoke_sessions``, under the account's
        session lock), a security event records it and the account is emailed. The factors go
        before the account's lock is taken: the order a sign-in's second step takes them in."""
        user: User | None = User.get_or_none(User.email == normalise_email(email))
        if user is None:
            raise NotFound("No account with this email.")
        with db.atomic():
            removed = {method.name: method.remove_all(user.id) for method in self.methods}
            revoked = revoke_sessions(user)
            self._event(
                "mfa_factors_reset", user, None, factors_removed=removed, sessions_revoked=revoked
            )
            self.outbox.enqueue_notice("mfa_factors_reset", user.email, user.id, {})
        return user


_PURGE_TICKETS = "DELETE FROM mfa_tickets WHERE expires_at <= %(now)s OR used_at IS NOT NULL"
_PURGE_STEP_UPS = "DELETE FROM session_step_ups WHERE stepped_up_at <= %(stale_before)s"


def purge_spent(database: peewee.Database, now: datetime) -> int:
    """The outbox drainer's housekeeping: tickets that can no longer be redeemed and step-ups
    past their window go (the security events keep the history)."""
    tickets = database.execute_sql(_PURGE_TICKETS, {"now": now})  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
    step_ups = database.execute_sql(  # type: ignore[no-untyped-call]  # peewee's stubs leaves Database.execute_sql unannotated
        _PURGE_STEP_UPS, {"stale_before": now - STEP_UP_WINDOW}
    )
    purged: int = tickets.rowcount + step_ups.rowcount
    return purged


__all__ = [
    "Challenge",
    "MfaService",
    "ProofContext",
    "RecoveryCodeMethod",
    "Redeemed",
    "SecondFactorMethod",
    "StepUpRequired",
    "TotpMethod",
    "proofs_of",
    "purge_spent",
]

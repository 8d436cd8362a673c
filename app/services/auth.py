"""Accounts and sessions: the only place that decides who someone is and what they may do next.

Refresh tokens form families: login starts one; each refresh marks the presented token used and
issues its child. Presenting a used token again means it was stolen or replayed, so the whole
family is revoked, except for a second tab that sent the same token within a short grace (see
``refresh``). Rotation and every revocation take the account's session lock first
(``auth_sessions``), so a revocation never misses a token a concurrent rotation minted.
Access tokens name their family (``sid``), and every authenticated request re-reads the user and
the family in one query, so revocation, deactivation and forced password changes take effect at
once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import peewee

from app.core.clock import Clock
from app.core.database import (
    ModelRow,
    PreparedSelect,
    UserRead,
    db,
    execute_as_user,
    execute_prepared,
)
from app.core.errors import AppError, NotFound, ValidationFailed
from app.core.metrics import LOGINS, REFRESH_REUSE, REFRESH_ROTATIONS, Metrics, NullMetrics
from app.core.security import (
    AccessTokens,
    CsrfTokens,
    DeviceCookies,
    PasswordHashing,
    new_opaque_token,
)
from app.core.security import token_digest as digest
from app.core.settings import Settings
from app.models import EmailToken, RefreshToken, SecurityEvent, User
from app.services import auth_sessions, rate_limit
from app.services.emails import normalise_email, valid_email
from app.services.identity import ClientInfo as ClientInfo  # re-exported: callers name it here
from app.services.identity import CurrentUser as CurrentUser  # re-exported: callers name it here
from app.services.mfa import Challenge, MfaService, Redeemed
from app.services.outbox import OutboxWriter
from app.services.passwords import check_password
from app.services.rate_limit import RateLimiter

VERIFY_EMAIL_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(hours=1)
EMAIL_CHANGE_TTL = timedelta(hours=1)
# What an email-change request answers, whether or not the new address is free.
EMAIL_CHANGE_ACCEPTED = (
    "If the new address can be used, a confirmation link is on its way to it. The address "
    "changes once the link is used, within an hour."
)


# A sign-in's session and security event, stored only while the account still has the hash
# that was verified, under the account's session lock (app/services/auth_sessions.py).
_SIGNED_IN_SESSION = """
WITH account AS (
    SELECT id FROM users WHERE id = %s AND password_hash = %s AND is_active
    FOR NO KEY UPDATE
), new_session AS (
    INSERT INTO sessions
        (id, user_id, family_id, parent_id, token_hash, created_at, expires_at, user_agent, ip)
    SELECT %s, account.id, %s, NULL, %s, %s, %s, %s, %s FROM account
    RETURNING user_id
)
INSERT INTO security_events (id, user_id, event_type, created_at, ip, user_agent, details)
SELECT %s, new_session.user_id, %s, %s, %s, %s, %s FROM new_session
RETURNING id
"""


# authenticate's query: every column of the user's row, in the model's field order (ModelRow
# builds the user from them), then whether the token's session family is still live, then the
# columns of the route's UserRead when it has one, joined LATERAL to the user's row. Written once
# here: it runs on every authenticated request.
_USER_COLUMNS = ", ".join(f'"u"."{field.column_name}"' for field in User._meta.sorted_fields)
_SESSION_LIVE = (
    'EXISTS (SELECT 1 FROM "sessions" AS "s" '
    'WHERE "s"."family_id" = %s AND "s"."revoked_at" IS NULL) AS "session_live"'
)
# The column names come from the model, every value is a parameter.
_CURRENT_USER = f'SELECT {_USER_COLUMNS}, {_SESSION_LIVE} FROM "users" AS "u" WHERE "u"."id" = %s'  # noqa: S608
# ... with a route's read: the first part, the read's SELECT, then the rest.
_WITH_READ = (
    f'SELECT {_USER_COLUMNS}, {_SESSION_LIVE}, "read".* FROM "users" AS "u" LEFT JOIN LATERAL (',  # noqa: S608
    ') AS "read" ON true WHERE "u"."id" = %s',
)
_USER_ROW = ModelRow(User)
# The sign-in's own reads, built once (every sign-in runs them): the account by its address,
# and whether it has signed in before.
_USER_BY_EMAIL = PreparedSelect(
    lambda email: User.select().where(User.email == email).limit(1), arity=1
)
_SIGNED_IN = PreparedSelect(
    lambda user_id: (
        SecurityEvent.select(SecurityEvent.id)
        .where(SecurityEvent.user == user_id, SecurityEvent.event_type == "login_succeeded")
        .limit(1)
    ),
    arity=1,
)


class Unauthorized(AppError):
    def __init__(self, code: str, message: str):
        super().__init__(401, code, message)


class Forbidden(AppError):
    def __init__(self, code: str, message: str):
        super().__init__(403, code, message)


def _when(moment: datetime) -> str:
    """A moment as a notice states it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class RefreshRace(AppError):
    """Another request (a second tab sharing the cookie jar) rotated this token a moment ago."""

    def __init__(self) -> None:
        super().__init__(
            409,
            "REFRESH_RACE",
            "This session was refreshed by another request a moment ago. Retry with the "
            "current refresh cookie.",
        )


@dataclass(frozen=True)
class SessionGrant:
    """What login and refresh hand to the route: the body fields plus the new cookie value."""

    access_token: str
    expires_in: int
    csrf_token: str
    refresh_token: str
    refresh_expires_at: datetime
    family_id: uuid.UUID
    user: User
    # Login only: the device cookie to set (docs/security.md, "Throttling model").
    device_cookie: str | None = None


def account_subject(email: str) -> str:
    """Rate-limit key for an account, without storing the address itself in the counters."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


class AuthService:
    def __init__(
        self,
        settings: Settings,
        *,
        hashing: PasswordHashing,
        limiter: RateLimiter,
        outbox: OutboxWriter,
        clock: Clock,
        mfa: MfaService,
        metrics: Metrics | None = None,
    ):
        self.settings = settings
        self.mfa = mfa
        self.hashing = hashing
        self.tokens = AccessTokens(settings, clock)
        self.csrf = CsrfTokens(settings)
        self.devices = DeviceCookies(settings)
        self.limiter = limiter
        self.outbox = outbox
        self.clock = clock
        self.metrics = metrics or NullMetrics()

    # ----- state --------------------------------------------------------------------------

    def must_change_password(self, user: User, now: datetime | None = None) -> bool:
        if user.force_password_change:
            return True
        max_age = self.settings.password_max_age_days
        if max_age == 0:
            return False
        expires: datetime = user.password_changed_at + timedelta(days=max_age)
        return expires <= (now or self.clock())

    def describe(self, user: User) -> dict[str, Any]:
        return {
            "id": str(user.id),
            "email": user.email,
            "email_verified": user.email_verified_at is not None,
            "must_change_password": self.must_change_password(user),
            "password_changed_at": user.password_changed_at,
        }

    def _event(
        self, event_type: str, user: User | None, client: ClientInfo | None, **details: Any
    ) -> None:
        SecurityEvent.create(
            user=user,
            event_type=event_type,
            created_at=self.clock(),
            ip=client.ip if client else None,
            user_agent=(client.user_agent or "")[:512] if client else None,
            details=details,
        )

    # ----- registration and login ---------------------------------------------------------

    def register(self, email: str, password: str, client: ClientInfo) -> User:
        self.limiter.hit(rate_limit.REGISTER_PER_IP, client.ip or "unknown")
        email = normalise_email(email)
        if not valid_email(email):
            raise ValidationFailed([{"field": "email", "message": "is not a valid email address"}])
        password = check_password(
            password, email=email, min_length=self.settings.password_min_length
        )
        if User.select().where(User.email == email).exists():
            raise AppError(409, "EMAIL_TAKEN", "An account with this email already exists.")
        password_hash = self.hashing.hash(password)
        now = self.clock()
        try:
            with db.atomic():
                user = User.create(
                    email=email,
                    password_hash=password_hash,
                    password_changed_at=now,
                    created_at=now,
                    updated_at=now,
                )
                self._event("register", user, client)
                if self.settings.email_verification_enabled():
                    self._queue_token_email(user.email, "verify_email", VERIFY_EMAIL_TTL)
        except peewee.IntegrityError as exc:  # lost a race with the same email
            raise AppError(
                409, "EMAIL_TAKEN", "An account with this email already exists."
            ) from exc
        return user

    def login(
        self, email: str, password: str, client: ClientInfo, device_cookie: str | None = None
    ) -> SessionGrant | Challenge:
        """Failures are charged to the device's own budget when the client presents a valid
        device cookie for this account, else to the budget every unknown client shares. For an
        account with a second factor, a correct password yields a ``Challenge`` (the MFA ticket)
        and no session: ``complete_login`` finishes the sign-in."""
        email = normalise_email(email)
        subject = account_subject(email)
        device = self.devices.device(subject, device_cookie, self.clock())
        if device is None:
            budget, budget_subject = rate_limit.LOGIN_FAILURES_PER_ACCOUNT, subject
        else:
            budget, budget_subject = rate_limit.LOGIN_FAILURES_PER_DEVICE, f"{subject}:{device}"
        try:
            failures = self.limiter.hit_then_check(
                rate_limit.LOGIN_PER_IP, client.ip or "unknown", budget, budget_subject
            )
        except rate_limit.RateLimited:
            self.metrics.record(LOGINS, Outcome="throttled")
            raise
        found = _USER_ROW.first(execute_prepared(*_USER_BY_EMAIL.statement(email)))
        user = found[0] if found is not None else None
        # Unknown accounts still cost one full verify, so timing does not reveal them.
        matched = self.hashing.verify(user.password_hash if user else None, password)
        if user is None or not matched or not user.is_active:
            self.limiter.record_failure(budget, budget_subject)
            self._event("login_failed", user, client, reason="credentials")
            self.metrics.record(LOGINS, Outcome="failed")
            raise Unauthorized("INVALID_CREDENTIALS", "The email or password is incorrect.")
        if failures and device is not None:
            # A known device's success restores its own budget; the shared budget only decays
            # (or is cleared by a completed reset), so the owner signing in never gives an
            # attacker fresh guesses.
            self.limiter.clear(budget, budget_subject)
        if self.hashing.needs_rehash(user.password_hash):
            user.password_hash = self.hashing.hash(password)
            User.update(password_hash=user.password_hash).where(User.id == user.id).execute()
        methods = self.mfa.enrolled_methods(user.id)
        if methods:
            return self.mfa.issue_ticket(user, client, device, methods)
        return self._signed_in(user, client, subject, device)

    def _signed_in(
        self,
        user: User,
        client: ClientInfo,
        subject: str,
        device: str | None,
        *,
        method: str | None = None,
    ) -> SessionGrant:
        """The session of a completed sign-in, and the device cookie to set."""
        now = self.clock()
        expires_at = now + timedelta(days=self.settings.refresh_token_ttl_days)
        # A client without a valid device cookie for the account is a new device: the account
        # is told, in the sign-in's own transaction, unless this is its first sign-in ever.
        notify = device is None and self._signed_in_before(user)
        family_id = uuid.uuid4()
        try:
            # The session and its event are one statement, atomic on its own; a notice joins
            # them in one transaction.
            with db.atomic() if notify else contextlib.nullcontext():
                grant = self._issue(
                    user, family_id, None, expires_at, client, now, event="login_succeeded"
                )
                if notify:
                    self.notify_new_device(user, client, now)
        except Unauthorized:
            self.metrics.record(LOGINS, Outcome="failed")
            raise
        if method is not None:
            # A second factor was just proved: the new session starts stepped up.
            self.mfa.mark_stepped_up(user, family_id, now)
            self._event("mfa_succeeded", user, client, method=method, family_id=str(family_id))
        self.metrics.record(LOGINS, Outcome="succeeded")
        return replace(grant, device_cookie=self.devices.issue(subject, device, now))

    @staticmethod
    def _signed_in_before(user: User) -> bool:
        """Whether the account has a sign-in on record (security events are never purged)."""
        return execute_prepared(*_SIGNED_IN.statement(str(user.id))).fetchone() is not None

    def notify_new_device(self, user: User, client: ClientInfo, now: datetime) -> None:
        """Queue the new-device notice to the account's address (inside the sign-in's
        transaction)."""
        self.outbox.enqueue_notice(
            "new_device_sign_in",
            user.email,
            user.id,
            {
                "signed_in_at": _when(now),
                "ip": client.ip or "",
                "user_agent": (client.user_agent or "")[:200],
            },
        )

    def complete_login(
        self, ticket: str, proofs: dict[str, Any], client: ClientInfo
    ) -> SessionGrant:
        """The second step of a sign-in: the ticket and one factor. The ticket, the factor's
        use and the session commit together, or none of them."""
        self.limiter.hit(rate_limit.MFA_PER_IP, client.ip or "unknown")
        with db.atomic():
            outcome = self.mfa.redeem_ticket(ticket, proofs, client)
            if isinstance(outcome, Redeemed):
                user = outcome.user
                return self._signed_in(
                    user, client, account_subject(user.email), outcome.device, method=outcome.method
                )
        self.metrics.record(LOGINS, Outcome="failed")
        raise outcome

    def _issue(
        self,
        user: User,
        family_id: uuid.UUID,
        parent: RefreshToken | None,
        expires_at: datetime,
        client: ClientInfo,
        now: datetime,
        event: str | None = None,
    ) -> SessionGrant:
        """Store the new refresh token and mint the access token. A rotation (``parent``)
        runs under the account's session lock already. A sign-in stores its session and its
        security event in one statement that takes the same lock and inserts only while the
        password hash is still the one just verified: a password change or reset that
        committed after the check wins, and the sign-in is refused."""
        token = new_opaque_token()
        values: dict[peewee.Field, Any] = {
            RefreshToken.id: uuid.uuid4(),
            RefreshToken.user: user.id,
            RefreshToken.family_id: family_id,
            RefreshToken.parent: parent.id if parent else None,
            RefreshToken.token_hash: digest(token),
            RefreshToken.created_at: now,
            RefreshToken.expires_at: expires_at,
            RefreshToken.user_agent: (client.user_agent or "")[:512] or None,
            RefreshToken.ip: client.ip,
        }
        if event is None:
            RefreshToken.insert(values).execute()
        elif not self._insert_signed_in_session(user, values, event, now):
            raise Unauthorized("INVALID_CREDENTIALS", "The email or password is incorrect.")
        access_token, expires_in = self.tokens.issue(user.id, family_id, now)
        return SessionGrant(
            access_token=access_token,
            expires_in=expires_in,
            csrf_token=self.csrf.issue(family_id),
            refresh_token=token,
            refresh_expires_at=expires_at,
            family_id=family_id,
            user=user,
        )

    @staticmethod
    def _insert_signed_in_session(
        user: User, values: dict[peewee.Field, Any], event: str, now: datetime
    ) -> bool:
        """The account's row, locked FOR NO KEY UPDATE and matched on the verified hash
        (READ COMMITTED re-checks the match on the newest version once a concurrent change
        commits); the session inserted from it; the event inserted from the session: both or
        neither, in one round trip. False when the account no longer matches."""
        cursor = execute_prepared(
            _SIGNED_IN_SESSION,
            (
                str(user.id),
                user.password_hash,
                str(values[RefreshToken.id]),
                str(values[RefreshToken.family_id]),
                values[RefreshToken.token_hash],
                now,
                values[RefreshToken.expires_at],
                values[RefreshToken.user_agent],
                values[RefreshToken.ip],
                str(uuid.uuid4()),
                event,
                now,
                values[RefreshToken.ip],
                values[RefreshToken.user_agent],
                json.dumps({"family_id": str(values[RefreshToken.family_id])}),
            ),
        )
        return cursor.fetchone() is not None

    # ----- refresh, CSRF and logout -------------------------------------------------------

    def _token_row(self, refresh_token: str | None) -> RefreshToken:
        if not refresh_token:
            raise Unauthorized("REFRESH_TOKEN_MISSING", "No refresh token was presented.")
        row = RefreshToken.select().where(RefreshToken.token_hash == digest(refresh_token)).first()
        if row is None:
            raise Unauthorized("REFRESH_TOKEN_INVALID", "The refresh token is not valid.")
        token: RefreshToken = row
        return token

    def _check_csrf(self, row: RefreshToken, csrf_token: str | None) -> None:
        if not self.csrf.check(row.family_id, csrf_token):
            raise Forbidden("CSRF_FAILED", "The CSRF token is missing or does not match.")

    def refresh(
        self, refresh_token: str | None, csrf_token: str | None, client: ClientInfo
    ) -> SessionGrant:
        self.limiter.hit(rate_limit.REFRESH_PER_IP, client.ip or "unknown")
        now = self.clock()
        reused = False
        with db.atomic():
            # The account's session lock comes first, and the token is read after it: a
            # rotation runs wholly before or wholly after any revocation of the account, and
            # two refreshes of one token run one after the other.
            user = auth_sessions.lock_account_of_token(digest(refresh_token or ""))
            row = self._token_row(refresh_token)
            if user is None:  # a token's account is locked with it; none means no such token
                raise Unauthorized("REFRESH_TOKEN_INVALID", "The refresh token is not valid.")
            self._check_csrf(row, csrf_token)
            if row.revoked_at is not None:
                raise Unauthorized("SESSION_REVOKED", "This session has been signed out.")
            if row.used_at is not None:
                if self._sibling_just_rotated(row, now):
                    raise RefreshRace()
                reused = True
                auth_sessions.revoke_family(row.family_id, now)
                self._event("refresh_token_reused", user, client, family_id=str(row.family_id))
                self.metrics.record(REFRESH_REUSE)
            elif row.expires_at <= now:
                raise Unauthorized("SESSION_EXPIRED", "This session has expired. Sign in again.")
            elif not user.is_active:
                auth_sessions.revoke_family(row.family_id, now)
            else:
                RefreshToken.update(used_at=now).where(RefreshToken.id == row.id).execute()
                grant = self._issue(user, row.family_id, row, row.expires_at, client, now)
                self.metrics.record(REFRESH_ROTATIONS)
                return grant
        if reused:
            raise Unauthorized(
                "REFRESH_TOKEN_REUSED",
                "This refresh token was already used. Every session of this sign-in was ended.",
            )
        raise Unauthorized("ACCOUNT_DISABLED", "This account is disabled.")

    def _sibling_just_rotated(self, row: RefreshToken, now: datetime) -> bool:
        """Two tabs share one cookie jar, so both may send the same token at once. The one that
        waited behind the other's rotation is not a thief when the token was rotated less than
        ``REFRESH_GRACE_SECONDS`` ago and its child has not been used yet (once the child is
        used, the legitimate client has moved on and a replay is reuse). The family is live
        here: a revoked token was refused before this is asked."""
        grace = timedelta(seconds=self.settings.refresh_grace_seconds)
        if not grace or now - row.used_at > grace:
            return False
        child = (
            RefreshToken.select(RefreshToken.used_at, RefreshToken.revoked_at)
            .where(RefreshToken.parent == row.id)
            .first()
        )
        return child is not None and child.used_at is None and child.revoked_at is None

    def csrf_for(self, refresh_token: str | None) -> str:
        row = self._token_row(refresh_token)
        if row.revoked_at is not None or row.used_at is not None or row.expires_at <= self.clock():
            raise Unauthorized("REFRESH_TOKEN_INVALID", "The refresh token is not valid.")
        return self.csrf.issue(row.family_id)

    def logout(self, refresh_token: str | None, csrf_token: str | None, client: ClientInfo) -> None:
        if not refresh_token:
            return  # nothing to end; the route still clears the cookie
        try:
            row = self._token_row(refresh_token)
        except Unauthorized:
            return
        self._check_csrf(row, csrf_token)
        with db.atomic():
            user = auth_sessions.lock_account(row.user_id)
            if auth_sessions.revoke_family(row.family_id, self.clock()):
                self._event("session_revoked", user, client, family_id=str(row.family_id))

    def logout_all(self, current: CurrentUser, client: ClientInfo) -> int:
        """Every session and every open password-reset link of the account ends."""
        with db.atomic():
            count = auth_sessions.revoke_everything(current.user, self.clock())
            self._event("sessions_revoked_all", current.user, client, tokens=count)
        return count

    # ----- authenticated requests ---------------------------------------------------------

    def authenticate(
        self, bearer: str | None, read: Callable[[uuid.UUID], UserRead] | None = None
    ) -> CurrentUser:
        """One query: the user's current state and whether the token's family is still live.

        ``read``, given the token's user id, names the one row the route will answer with
        (``UserRead``): it goes in the same message, as that user, and its columns come back
        as ``CurrentUser.read``, so a route that reads one row costs one round trip instead of
        two. The state is checked exactly as without it; when the check fails the row is
        dropped unseen."""
        if not bearer:
            raise Unauthorized("AUTHENTICATION_REQUIRED", "Sign in to continue.")
        claims = self.tokens.verify(bearer)
        family = None if claims.family_id is None else str(claims.family_id)
        user_id = str(claims.user_id)
        if read is None:
            cursor = execute_prepared(_CURRENT_USER, (family, user_id))
        else:
            extra = read(claims.user_id)
            sql = _WITH_READ[0] + extra.sql + _WITH_READ[1]
            cursor = execute_as_user(user_id, sql, (family, *extra.params, user_id), prepare=True)
        found = _USER_ROW.first(cursor)
        if found is None or not found[0].is_active or not found[1][0]:  # [1][0]: session_live
            raise Unauthorized("INVALID_TOKEN", "The access token is no longer valid.")
        user, (_, *columns) = found
        return CurrentUser(
            user=user,
            family_id=claims.family_id,
            read=tuple(columns) if read is not None else None,
        )

    # ----- sessions -----------------------------------------------------------------------

    def list_sessions(self, current: CurrentUser) -> list[dict[str, Any]]:
        now = self.clock()
        # peewee's stubs types the rows of .dicts() as model instances; they are dicts.
        rows = cast(
            "Iterable[dict[str, Any]]",
            RefreshToken.select(
                RefreshToken.family_id,
                peewee.fn.MIN(RefreshToken.created_at).alias("started_at"),
                peewee.fn.MAX(RefreshToken.created_at).alias("last_used_at"),
                peewee.fn.MAX(RefreshToken.expires_at).alias("expires_at"),
                peewee.SQL("(array_agg(user_agent ORDER BY created_at DESC))[1]").alias("ua"),
                peewee.SQL("(array_agg(ip ORDER BY created_at DESC))[1]").alias("last_ip"),
            )
            .where(
                RefreshToken.user == current.user,
                RefreshToken.revoked_at.is_null(),
                RefreshToken.expires_at > now,
            )
            .group_by(RefreshToken.family_id)
            .order_by(peewee.SQL("last_used_at DESC"))
            .dicts(),
        )
        return [
            {
                "id": str(row["family_id"]),
                "started_at": row["started_at"],
                "last_used_at": row["last_used_at"],
                "expires_at": row["expires_at"],
                "user_agent": row["ua"],
                "ip": row["last_ip"],
                "current": row["family_id"] == current.family_id,
            }
            for row in rows
        ]

    def revoke_session(
        self, current: CurrentUser, family_id: uuid.UUID, client: ClientInfo
    ) -> None:
        with db.atomic():
            auth_sessions.lock_account(current.user.id)
            owned = (
                RefreshToken.select()
                .where(RefreshToken.family_id == family_id, RefreshToken.user == current.user)
                .exists()
            )
            if not owned or not auth_sessions.revoke_family(family_id, self.clock()):
                raise NotFound("No active session with this id.")
            self._event("session_revoked", current.user, client, family_id=str(family_id))

    # ----- passwords ----------------------------------------------------------------------

    def _reauthenticate(
        self, current: CurrentUser, password: str, field: str, message: str
    ) -> None:
        """The current password again, for destructive actions. Wrong answers are limited per
        signed-in session, apart from the login budgets, so failed logins by others never
        block the owner's own session."""
        session = str(current.family_id or current.user.id)
        self.limiter.check(rate_limit.REAUTH_FAILURES_PER_SESSION, session)
        if not self.hashing.verify(current.user.password_hash, password):
            self.limiter.record_failure(rate_limit.REAUTH_FAILURES_PER_SESSION, session)
            raise ValidationFailed([{"field": field, "message": message}])

    def confirm_password(self, current: CurrentUser, password: str) -> None:
        self._reauthenticate(current, password, "password", "is not your password")

    def change_password(
        self,
        current: CurrentUser,
        current_password: str,
        new_password: str,
        client: ClientInfo,
    ) -> None:
        user = current.user
        self.mfa.require_step_up(current)
        self._reauthenticate(
            current, current_password, "current_password", "is not your current password"
        )
        new_password = check_password(
            new_password,
            email=user.email,
            min_length=self.settings.password_min_length,
            field="new_password",
        )
        if self.hashing.verify(user.password_hash, new_password):
            raise ValidationFailed(
                [{"field": "new_password", "message": "must differ from the current password"}]
            )
        password_hash = self.hashing.hash(new_password)
        self._set_password(user, password_hash, client, "password_changed", keep=current.family_id)

    def _set_password(
        self,
        user: User,
        password_hash: str,
        client: ClientInfo,
        event: str,
        keep: uuid.UUID | None = None,
    ) -> None:
        """Store the new hash and end every other session and every open reset link, under the
        account's session lock (the hash is computed before, so the lock is held briefly)."""
        now = self.clock()
        with db.atomic():
            auth_sessions.lock_account(user.id)
            User.update(
                password_hash=password_hash,
                password_changed_at=now,
                force_password_change=False,
                updated_at=now,
            ).where(User.id == user.id).execute()
            revoked = auth_sessions.revoke_everything(user, now, keep=keep)
            self._event(event, user, client, sessions_revoked=revoked)

    def request_password_reset(self, email: str, client: ClientInfo) -> None:
        """Always succeeds from the caller's point of view: nothing reveals whether the
        account exists. Known and unknown addresses run the same statements: the per-account
        limit, and in one transaction a token insert that matches zero or one active account
        and an outbox row; the drainer later sends only if the token row exists."""
        self.limiter.hit(rate_limit.RESET_PER_IP, client.ip or "unknown")
        email = normalise_email(email)
        try:
            self.limiter.hit(rate_limit.RESET_PER_ACCOUNT, account_subject(email))
        except rate_limit.RateLimited:
            return  # quietly: a 429 here would confirm the account exists
        with db.atomic():
            self._queue_token_email(email, "password_reset", PASSWORD_RESET_TTL)

    def confirm_password_reset(self, token: str, new_password: str, client: ClientInfo) -> None:
        row = self._consume_email_token(token, "password_reset", peek=True)
        user = row.user
        new_password = check_password(
            new_password,
            email=user.email,
            min_length=self.settings.password_min_length,
            field="new_password",
        )
        password_hash = self.hashing.hash(new_password)
        with db.atomic():
            # The account's lock before the token's row: the order every path takes, so two
            # confirmations (or a confirmation and a change) never wait on each other in a cycle.
            auth_sessions.lock_account(user.id)
            self._consume_email_token(token, "password_reset")
            self._set_password(user, password_hash, client, "password_reset")
        # The owner proved control of the mailbox: the account's login budgets start afresh.
        subject = account_subject(user.email)
        self.limiter.clear(rate_limit.LOGIN_FAILURES_PER_ACCOUNT, subject)
        self.limiter.clear(rate_limit.LOGIN_FAILURES_PER_DEVICE, subject, with_children=True)

    # ----- email verification -------------------------------------------------------------

    def _queue_token_email(self, email: str, purpose: str, ttl: timedelta) -> None:
        """A new email token for the active account with this address, if there is one, and
        the email carrying it in the outbox; call inside a transaction."""
        token = new_opaque_token()
        token_id = uuid.uuid4()
        now = self.clock()
        account = User.select(
            peewee.Value(token_id),
            User.id,
            peewee.Value(purpose),
            peewee.Value(digest(token)),
            peewee.Value(now),
            peewee.Value(now + ttl),
        ).where(User.email == email, User.is_active)
        EmailToken.insert_from(
            account,
            [
                EmailToken.id,
                EmailToken.user,
                EmailToken.purpose,
                EmailToken.token_hash,
                EmailToken.created_at,
                EmailToken.expires_at,
            ],
        ).execute()
        self.outbox.enqueue_token_email(purpose, token_id, token)

    def _consume_email_token(self, token: str, purpose: str, *, peek: bool = False) -> EmailToken:
        now = self.clock()
        query = EmailToken.select().where(
            EmailToken.token_hash == digest(token or ""), EmailToken.purpose == purpose
        )
        row = (query if peek else query.for_update()).first()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise AppError(
                400, "TOKEN_INVALID", "This link is invalid or has expired. Ask for a new one."
            )
        if not peek:
            EmailToken.update(used_at=now).where(EmailToken.id == row.id).execute()
        found: EmailToken = row
        return found

    def verify_email(self, token: str, client: ClientInfo) -> User:
        with db.atomic():
            row = self._consume_email_token(token, "verify_email")
            user = row.user
            if user.email_verified_at is None:
                now = self.clock()
                User.update(email_verified_at=now, updated_at=now).where(
                    User.id == user.id
                ).execute()
                user.email_verified_at = now
                self._event("email_verified", user, client)
        return user

    def resend_verification(self, current: CurrentUser) -> None:
        user = current.user
        if user.email_verified_at is not None:
            return
        self.limiter.hit(rate_limit.RESEND_PER_USER, str(user.id))
        with db.atomic():
            self._queue_token_email(user.email, "verify_email", VERIFY_EMAIL_TTL)

    # ----- email change -------------------------------------------------------------------

    def request_email_change(
        self, current: CurrentUser, new_email: str, current_password: str, client: ClientInfo
    ) -> None:
        """Queue a link to ``new_email`` and a notice to the current address. Whether another
        account holds ``new_email`` is never asked here: every request runs the same statements
        and gets the same answer, and the outbox drainer, off the request path, sends the
        holder a notice instead of the link (app/services/outbox.py)."""
        user = current.user
        new_email = normalise_email(new_email, field="new_email")
        if not valid_email(new_email):
            raise ValidationFailed(
                [{"field": "new_email", "message": "is not a valid email address"}]
            )
        if new_email == user.email:
            raise ValidationFailed(
                [{"field": "new_email", "message": "is already this account's email address"}]
            )
        # An account with a second factor proves one within the last 5 minutes first.
        self.mfa.require_step_up(current)
        self._reauthenticate(
            current, current_password, "current_password", "is not your current password"
        )
        self.limiter.hit(rate_limit.EMAIL_CHANGE_PER_USER, str(user.id))
        token = new_opaque_token()
        token_id = uuid.uuid4()
        now = self.clock()
        with db.atomic():
            locked = auth_sessions.lock_account(user.id)
            if locked is None or locked.password_hash != user.password_hash:
                # The password changed while this request checked it: the link must not
                # outlive that change.
                raise ValidationFailed(
                    [{"field": "current_password", "message": "is not your current password"}]
                )
            # One pending change at a time: an earlier link dies.
            EmailToken.update(used_at=now).where(
                EmailToken.user == user.id,
                EmailToken.purpose == "email_change",
                EmailToken.used_at.is_null(),
            ).execute()
            EmailToken.insert(
                id=token_id,
                user=user.id,
                purpose="email_change",
                token_hash=digest(token),
                created_at=now,
                expires_at=now + EMAIL_CHANGE_TTL,
                new_email=new_email,
            ).execute()
            self.outbox.enqueue_token_email("email_change", token_id, token)
            self.outbox.enqueue_notice(
                "email_change_requested",
                user.email,
                user.id,
                {"new_email": new_email, "requested_at": _when(now)},
            )
            self._event("email_change_requested", user, client, new_email=new_email)

    def confirm_email_change(
        self,
        token: str,
        client: ClientInfo,
        current: CurrentUser | None = None,
        device_cookie: str | None = None,
    ) -> tuple[User, str | None]:
        """Move the account to the link's address: the link is used up, the address counts as
        verified, every session but the confirming one (``current``, when it is the same
        account's) and every open link ends, the old address gets a final notice, and the
        event is recorded, all in one transaction. An address another account took since the
        link was sent: 409 EMAIL_TAKEN, the link is used up and nothing else changes. Returns
        the account and, when ``device_cookie`` was a device cookie of the old address, the
        same device's cookie for the new one."""
        peeked = self._consume_email_token(token, "email_change", peek=True)
        taken = False
        with db.atomic():
            # The account's lock before the token's row, as every path takes them: two
            # confirmations of one link run one after the other, and the second finds it used.
            user = auth_sessions.lock_account(peeked.user_id)
            row = self._consume_email_token(token, "email_change")
            if user is None or not user.is_active:
                raise AppError(
                    400, "TOKEN_INVALID", "This link is invalid or has expired. Ask for a new one."
                )
            now = self.clock()
            old_email, new_email = user.email, str(row.new_email)
            try:
                with db.atomic():  # a savepoint: a lost race on the unique address rolls back
                    User.update(email=new_email, email_verified_at=now, updated_at=now).where(
                        User.id == user.id
                    ).execute()
            except peewee.IntegrityError:
                taken = True
            if taken:
                self._event("email_change_failed", user, client, new_email=new_email)
            else:
                keep = current.family_id if current and current.user.id == user.id else None
                revoked = auth_sessions.revoke_everything(user, now, keep=keep)
                user.email, user.email_verified_at, user.updated_at = new_email, now, now
                self._event(
                    "email_changed",
                    user,
                    client,
                    old_email=old_email,
                    new_email=new_email,
                    sessions_revoked=revoked,
                )
                self.outbox.enqueue_notice(
                    "email_changed",
                    old_email,
                    user.id,
                    {"new_email": new_email, "changed_at": _when(now)},
                )
        if taken:
            raise AppError(
                409,
                "EMAIL_TAKEN",
                "Another account took this address after the link was sent, so the address was "
                "not changed. The link can no longer be used.",
            )
        device = self.devices.device(account_subject(old_email), device_cookie, now)
        moved = self.devices.issue(account_subject(new_email), device, now) if device else None
        return user, moved

    # ----- security events ----------------------------------------------------------------

    def security_events(self, current: CurrentUser, limit: int) -> list[dict[str, Any]]:
        rows = (
            SecurityEvent.select()
            .where(SecurityEvent.user == current.user)
            .order_by(SecurityEvent.created_at.desc())
            .limit(limit)
        )
        return [
            {
                "id": str(row.id),
                "type": row.event_type,
                "created_at": row.created_at,
                "ip": row.ip,
                "user_agent": row.user_agent,
                "details": row.details,
            }
            for row in rows
        ]


def force_password_change(email: str, clock: Clock) -> User:
    """Require a new password at the next use and end every session and reset link (the
    operator command). Needs the database only: no signing key, no email provider."""
    user = User.get_or_none(User.email == normalise_email(email))
    if user is None:
        raise NotFound("No account with this email.")
    now = clock()
    with db.atomic():
        auth_sessions.lock_account(user.id)
        User.update(force_password_change=True, updated_at=now).where(User.id == user.id).execute()
        revoked = auth_sessions.revoke_everything(user, now)
        SecurityEvent.create(
            user=user,
            event_type="password_change_forced",
            created_at=now,
            details={"sessions_revoked": revoked},
        )
    return user

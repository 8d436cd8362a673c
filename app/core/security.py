"""Password hashing (argon2id), access tokens (JWT), refresh tokens and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core.clock import Clock, system_clock
from app.core.errors import AppError
from app.core.settings import Settings

JWT_ALGORITHMS = ["HS256"]  # fixed allow-list: never taken from the token
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
REFRESH_TOKEN_BYTES = 32  # 256 bits


class HashingBusy(AppError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "HASHING_BUSY",
            "The service is busy. Try again in a moment.",
            headers={"Retry-After": "1"},
        )


class InvalidToken(AppError):
    def __init__(self, message: str = "The access token is missing, invalid or expired."):
        super().__init__(
            401, "INVALID_TOKEN", message, headers={"WWW-Authenticate": 'Bearer realm="api"'}
        )


def normalise_password(password: str) -> str:
    """The one form a password is hashed and verified in: NFKC (NIST SP 800-63B), so a password
    typed with a ligature or full-width characters matches the one it was set with."""
    return unicodedata.normalize("NFKC", password)


class PasswordHashing:
    """argon2id with parameters from settings, and a per-process bound on concurrent hashes:
    each hash holds ``memory_kib`` of RAM, so a flood of logins waits for a slot (then gets a
    fast 503) instead of exhausting memory."""

    def __init__(self, settings: Settings):
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._slots = threading.BoundedSemaphore(settings.hash_concurrency or os.cpu_count() or 1)
        self._wait = settings.hash_wait_seconds
        self._dummy_hash: str | None = None

    def _slot(self) -> _Release:
        if not self._slots.acquire(timeout=self._wait):
            raise HashingBusy()
        return _Release(self._slots)

    def hash(self, password: str) -> str:
        with self._slot():
            return self._hasher.hash(normalise_password(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not the account exists: an unknown account verifies
        against a dummy hash with the same parameters."""
        target = password_hash or self._dummy()
        with self._slot():
            matched: bool
            try:
                matched = self._hasher.verify(target, normalise_password(password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                matched = False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        return self._dummy_hash


class _Release:
    def __init__(self, semaphore: threading.BoundedSemaphore):
        self._semaphore = semaphore

    def __enter__(self) -> _Release:
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()


def key_id(secret: str) -> str:
    """A key's public name: a fingerprint, so rotating JWT_SECRET changes the kid."""
    return hashlib.sha256(b"jat-kid:" + secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    family_id: uuid.UUID | None
    expires_at: int


class AccessTokens:
    """HS256 access tokens. ``JWT_SECRET`` signs; ``JWT_PREVIOUS_SECRET`` still verifies while
    a rotation is under way. The kid in the header picks the key; an unknown kid is refused.

    A token whose signature and claims verified is remembered (up to ``VERIFIED_CACHE_SIZE``
    tokens per instance, about 0.5 MB, the oldest forgotten first) with the claims read from
    it, so its next requests skip the signature check and the claim parsing. The cache holds
    only what the token itself says, which never changes: its expiry is checked against the
    clock on every use, and whether the session is live and the account active and current is
    read from the database on every request (``AuthService.authenticate``), so a sign-out, a
    deactivation or a forced password change takes effect on the next request. A token that
    failed is never remembered.
    """

    LEEWAY_SECONDS = 5
    VERIFIED_CACHE_SIZE = 1024

    def __init__(
        self, settings: Settings, clock: Clock = system_clock, *, cache_size: int | None = None
    ):
        if not settings.jwt_secret:
            raise ValueError("JWT_SECRET is required to issue access tokens")
        self._clock = clock
        self._signing = (key_id(settings.jwt_secret), settings.jwt_secret)
        self._keys = {key_id(settings.jwt_secret): settings.jwt_secret}
        if settings.jwt_previous_secret:
            self._keys[key_id(settings.jwt_previous_secret)] = settings.jwt_previous_secret
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl_seconds
        self._cache_size = cache_size or self.VERIFIED_CACHE_SIZE
        self._verified: dict[str, AccessClaims] = {}
        self._remembering = threading.Lock()

    def issue(self, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime) -> tuple[str, int]:
        issued = int(now.timestamp())
        payload = {
            "sub": str(user_id),
            "sid": str(family_id),
            "iat": issued,
            "exp": issued + self.ttl,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
        }
        kid, secret = self._signing
        token = jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})
        return token, self.ttl

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token)
            with self._remembering:
                if len(self._verified) >= self._cache_size:
                    del self._verified[next(iter(self._verified))]
                self._verified[token] = claims
        elif claims.expires_at <= self._clock().timestamp() - self.LEEWAY_SECONDS:
            raise InvalidToken()
        return claims

    def _verify_signed(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken() from exc
        kid = header.get("kid")
        # PyJWT already refuses a kid that is not a string; a non-string names no key here.
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None or header.get("alg") not in JWT_ALGORITHMS:
            raise InvalidToken()
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=JWT_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                # Expiry is checked below against the application's clock, not the host's.
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
            now = self._clock().timestamp()
            if not isinstance(claims["exp"], int) or claims["exp"] <= now - self.LEEWAY_SECONDS:
                raise jwt.ExpiredSignatureError("expired")
            if not isinstance(claims["iat"], int) or claims["iat"] > now + self.LEEWAY_SECONDS:
                raise jwt.ImmatureSignatureError("issued in the future")
            user_id = uuid.UUID(claims["sub"])
            family_id = uuid.UUID(claims["sid"]) if claims.get("sid") else None
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc
        return AccessClaims(user_id=user_id, family_id=family_id, expires_at=claims["exp"])


def new_opaque_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What is stored for refresh and email tokens: they are 256-bit random, so a fast hash is
    enough (no dictionary to attack), and a database leak yields nothing usable."""
    return hashlib.sha256(token.encode()).hexdigest()


class CsrfTokens:
    """CSRF tokens bound to the refresh-token family: HMAC(key, family id). A sibling subdomain
    that can plant cookies still cannot forge one without the server's key."""

    def __init__(self, settings: Settings):
        secrets_in_use = [settings.jwt_secret, settings.jwt_previous_secret]
        self._keys = [self._derive(secret) for secret in secrets_in_use if secret]

    @staticmethod
    def _derive(secret: str) -> bytes:
        return hmac.new(secret.encode(), b"jat-csrf-key", hashlib.sha256).digest()

    def _token(self, key: bytes, family_id: uuid.UUID) -> str:
        mac = hmac.new(key, b"csrf:" + str(family_id).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def issue(self, family_id: uuid.UUID) -> str:
        return self._token(self._keys[0], family_id)

    def check(self, family_id: uuid.UUID, presented: str | None) -> bool:
        if not presented:
            return False
        return any(
            hmac.compare_digest(self._token(key, family_id), presented) for key in self._keys
        )


def expires_in(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)


DEVICE_COOKIE_TTL = timedelta(days=90)


class DeviceCookies:
    """OWASP's device cookie against brute force: ``<device id>.<issued>.<mac>``, where the MAC
    (HMAC-SHA256 under a key derived from the JWT secret) covers the account it was issued for,
    the device id and the issue time. A cookie is valid only for that account and only for
    ``DEVICE_COOKIE_TTL``; a cookie planted from another account, edited or expired is ignored,
    and the client counts as unknown."""

    def __init__(self, settings: Settings):
        secrets_in_use = [settings.jwt_secret, settings.jwt_previous_secret]
        self._keys = [self._derive(secret) for secret in secrets_in_use if secret]

    @staticmethod
    def _derive(secret: str) -> bytes:
        return hmac.new(secret.encode(), b"jat-device-key", hashlib.sha256).digest()

    @staticmethod
    def _mac(key: bytes, account: str, device_id: str, issued: int) -> str:
        message = f"device:{account}:{device_id}:{issued}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, account: str, device_id: str | None, now: datetime) -> str:
        """A cookie for ``account``; the device keeps its id across sign-ins."""
        device_id = device_id or secrets.token_urlsafe(16)
        issued = int(now.timestamp())
        return f"{device_id}.{issued}.{self._mac(self._keys[0], account, device_id, issued)}"

    def device(self, account: str, cookie: str | None, now: datetime) -> str | None:
        """The device id when ``cookie`` is a valid device cookie for ``account``, else None."""
        parts = (cookie or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
            return None
        device_id, issued_text, presented = parts
        issued = int(issued_text)
        if not 0 <= now.timestamp() - issued <= DEVICE_COOKIE_TTL.total_seconds():
            return None
        valid = any(
            hmac.compare_digest(self._mac(key, account, device_id, issued), presented)
            for key in self._keys
        )
        return device_id if valid else None

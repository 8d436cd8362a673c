"""Access-token attacks and key rotation, and the bound on concurrent hashing."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.security import AccessTokens, HashingBusy, InvalidToken, PasswordHashing, key_id
from app.core.settings import Settings

SECRET = "k" * 48
PREVIOUS = "p" * 48


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({"JWT_SECRET": SECRET})


def claims(settings: Settings, **overrides) -> dict:
    now = int(time.time())
    body = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_we_issued_verifies(settings):
    tokens = AccessTokens(settings)
    user, family = uuid.uuid4(), uuid.uuid4()
    token, ttl = tokens.issue(user, family, datetime.now(UTC))
    verified = tokens.verify(token)
    assert (verified.user_id, verified.family_id, ttl) == (user, family, 900)
    assert jwt.get_unverified_header(token)["kid"] == key_id(SECRET)


def test_alg_none_is_refused(settings):
    token = (
        b64({"alg": "none", "typ": "JWT", "kid": key_id(SECRET)})
        + "."
        + b64(claims(settings))
        + "."
    )
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(token)


def test_rs256_token_is_refused_even_with_our_kid(settings):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        claims(settings), private, algorithm="RS256", headers={"kid": key_id(SECRET)}
    )
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(token)


def test_hs256_signed_with_a_public_key_is_refused(settings):
    """The classic confusion: HS256 keyed with an RSA public key the attacker knows."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(SECRET)}
    signing_input = f"{b64(header)}.{b64(claims(settings))}".encode()
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(signing_input.decode() + "." + signature.decode())


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 120},
        {"aud": None},
        {"iss": None},
        {"exp": None},
        {"iat": None},
        {"sub": None},
        {"sub": "not-a-uuid"},
    ],
    ids=[
        "wrong-aud",
        "wrong-iss",
        "expired",
        "no-aud",
        "no-iss",
        "no-exp",
        "no-iat",
        "no-sub",
        "bad-sub",
    ],
)
def test_bad_claims_are_refused(settings, override):
    token = jwt.encode(
        claims(settings, **override), SECRET, algorithm="HS256", headers={"kid": key_id(SECRET)}
    )
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(token)


def test_tampered_signature_is_refused(settings):
    token, _ = AccessTokens(settings).issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(f"{head}.{body}.{flipped}")
    forged_body = b64(
        {**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": str(uuid.uuid4())}
    )
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(f"{head}.{forged_body}.{signature}")


def test_unknown_kid_is_refused(settings):
    token = jwt.encode(claims(settings), SECRET, algorithm="HS256", headers={"kid": "unknown"})
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(token)


@pytest.mark.parametrize("kid", [["a"], {"k": "v"}, 7, None])
def test_a_kid_that_is_not_a_string_is_refused(settings, kid):
    """Written by hand: PyJWT will not encode such a header, but a client can send one."""
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'kid': kid})}.{b64(claims(settings))}".encode()
    signature = base64.urlsafe_b64encode(
        hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    with pytest.raises(InvalidToken):
        AccessTokens(settings).verify(signing_input.decode() + "." + signature.decode())


def test_expired_by_the_clock_it_was_issued_with(settings):
    tokens = AccessTokens(settings)
    token, _ = tokens.issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_rotation_overlap_previous_key_still_verifies():
    old = AccessTokens(Settings.from_env({"JWT_SECRET": PREVIOUS}))
    token, _ = old.issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    rotating = AccessTokens(
        Settings.from_env({"JWT_SECRET": SECRET, "JWT_PREVIOUS_SECRET": PREVIOUS})
    )
    assert rotating.verify(token)
    new_token, _ = rotating.issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(SECRET)  # new key signs
    rotated = AccessTokens(Settings.from_env({"JWT_SECRET": SECRET}))
    with pytest.raises(InvalidToken):
        rotated.verify(token)  # once the previous key is dropped, old tokens die


def test_concurrent_hashing_is_bounded_and_overflow_fails_fast(settings):
    config = replace(
        settings,
        hash_concurrency=1,
        hash_wait_seconds=1,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
    )
    hashing = PasswordHashing(config)
    release = threading.Event()
    held = threading.Event()

    def hold_the_only_slot():
        with hashing._slot():
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    held.wait(5)
    started = time.monotonic()
    with pytest.raises(HashingBusy) as caught:
        hashing.hash("a-password-to-hash")
    assert caught.value.status == 503
    assert 0.9 <= time.monotonic() - started < 3
    release.set()
    holder.join()
    assert hashing.verify(hashing.hash("a-password-to-hash"), "a-password-to-hash")


def test_verify_against_no_hash_is_false_but_does_the_work(settings):
    hashing = PasswordHashing(replace(settings, argon2_time_cost=1, argon2_memory_kib=8192))
    assert hashing.verify(None, "anything") is False
    assert hashing._dummy_hash is not None


def test_expiry_follows_the_application_clock(settings):
    from tests.helpers import FakeClock

    clock = FakeClock()
    tokens = AccessTokens(settings, clock)
    token, ttl = tokens.issue(uuid.uuid4(), uuid.uuid4(), clock())
    clock.advance(seconds=ttl - 10)
    assert tokens.verify(token)
    clock.advance(seconds=20)
    with pytest.raises(InvalidToken):
        tokens.verify(token)

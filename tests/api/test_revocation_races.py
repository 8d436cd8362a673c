"""Revocation against rotation, with real threads on the real PostgreSQL.

A stolen session refreshes in a tight loop in one thread while the owner revokes it in another
(logout-all, password change, password reset, the forced-change command). Once the revocation
has answered, no token of a revoked family may work: no live row is left in the database, and
neither the thief's newest refresh token nor its newest access token is accepted afterwards.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field

import pytest

from app.core.security import token_digest
from app.models import RefreshToken, User
from app.services.auth import force_password_change
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email

TRIALS = 50
NEW_PASSWORD = "rotated-after-theft-2026"


@pytest.fixture(scope="module")
def race_env(settings):
    # Limits are scaled up (every trial signs in and refreshes many times), and argon2 is as
    # cheap as it goes: the trials measure ordering, not hashing.
    config = fast_settings(
        settings, rate_limit_scale=1000, argon2_memory_kib=64, argon2_time_cost=1
    )
    app, clock, outbox = build(config)
    return config, app, clock, outbox


def family_of(browser: Browser):
    return (
        RefreshToken.select(RefreshToken.family_id)
        .where(RefreshToken.token_hash == token_digest(browser.cookies["jat_refresh"]))
        .scalar()
    )


@dataclass
class Trial:
    owner: Browser
    thief: Browser
    email: str
    kept_family: object = None
    reset_token: str | None = None
    statuses: list[int] = field(default_factory=list)


def start_trial(race_env, kind: str) -> Trial:
    config, app, _, _ = race_env
    email = unique_email(f"race-{kind}")
    owner = Browser(app, config)
    assert owner.register(email).status_code == 201
    assert owner.login(email).status_code == 200
    thief = Browser(app, config)
    assert thief.login(email).status_code == 200
    return Trial(owner=owner, thief=thief, email=email)


def revoke(race_env, kind: str, trial: Trial) -> None:
    """One revocation of the given kind, returning once it has answered."""
    config, app, clock, outbox = race_env
    if kind == "logout_all":
        assert trial.owner.request("POST", "/v1/auth/logout-all").status_code == 204
    elif kind == "change_password":
        trial.kept_family = family_of(trial.owner)
        changed = trial.owner.request(
            "POST",
            "/v1/auth/password",
            json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 204, changed.text
    elif kind == "reset":
        token = trial.reset_token
        confirmed = Browser(app, config).request(
            "POST",
            "/v1/auth/password-reset/confirm",
            json={"token": token, "new_password": NEW_PASSWORD},
        )
        assert confirmed.status_code == 204, confirmed.text
    elif kind == "cli_force_change":
        # What `python -m app.cli users force-password-change EMAIL` runs.
        force_password_change(trial.email, clock)
    else:  # pragma: no cover - a typo in the parametrisation
        raise AssertionError(kind)


def live_tokens(trial: Trial) -> int:
    query = RefreshToken.select().where(
        RefreshToken.user == User.get(User.email == trial.email).id,
        RefreshToken.revoked_at.is_null(),
    )
    if trial.kept_family is not None:
        query = query.where(RefreshToken.family_id != trial.kept_family)
    return query.count()


def run_trial(race_env, kind: str, rng: random.Random) -> bool:
    """True when a token of a revoked family survived the revocation."""
    config, app, _, outbox = race_env
    trial = start_trial(race_env, kind)
    if kind == "reset":
        asked = Browser(app, config).request(
            "POST", "/v1/auth/password-reset", json={"email": trial.email}
        )
        assert asked.status_code == 202
        trial.reset_token = outbox.token_for(trial.email)

    rotating = threading.Event()
    stop = threading.Event()

    def refresh_loop():
        while not stop.is_set():
            status = trial.thief.refresh().status_code
            trial.statuses.append(status)
            if status != 200:
                return
            rotating.set()

    thief = threading.Thread(target=refresh_loop)
    thief.start()
    try:
        assert rotating.wait(30), f"the thief never refreshed: {trial.statuses}"
        threading.Event().wait(rng.random() * 0.004)  # land anywhere in a rotation
        revoke(race_env, kind, trial)
        survivors_at_answer = live_tokens(trial)
    finally:
        stop.set()
        thief.join(30)
    assert not thief.is_alive()
    late_refresh = trial.thief.refresh().status_code
    late_access = trial.thief.request("GET", "/v1/users/me").status_code
    return bool(survivors_at_answer or live_tokens(trial) or 200 in (late_refresh, late_access))


@pytest.mark.parametrize("kind", ["logout_all", "change_password", "reset", "cli_force_change"])
def test_no_token_of_a_revoked_family_survives_a_concurrent_refresh(race_env, kind):
    rng = random.Random(f"revocation-{kind}")
    survivors = sum(run_trial(race_env, kind, rng) for _ in range(TRIALS))
    assert survivors == 0, f"{kind}: {survivors} of {TRIALS} trials left a live token"


def test_a_sign_in_racing_a_password_change_leaves_no_session_of_the_old_password(race_env):
    """A sign-in checks the old password, then a password change commits, then the sign-in
    stores its session: that session must not survive the change. Sign-ins with the old
    password loop in one thread while the owner changes the password in another."""
    config, app, _, _ = race_env
    rng = random.Random("sign-in-race")
    survivors = 0
    for _ in range(TRIALS):
        trial = start_trial(race_env, "sign_in")
        trial.kept_family = family_of(trial.owner)
        signed_in = threading.Event()
        stop = threading.Event()

        def sign_in_loop(trial=trial, signed_in=signed_in, stop=stop):
            while not stop.is_set():
                status = Browser(app, config).login(trial.email).status_code
                trial.statuses.append(status)
                if status != 200:
                    return
                signed_in.set()

        thief = threading.Thread(target=sign_in_loop)
        thief.start()
        try:
            assert signed_in.wait(30), f"the sign-in loop never signed in: {trial.statuses}"
            threading.Event().wait(rng.random() * 0.004)
            changed = trial.owner.request(
                "POST",
                "/v1/auth/password",
                json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
            )
            assert changed.status_code == 204, changed.text
            at_answer = live_tokens(trial)
        finally:
            stop.set()
            thief.join(30)
        survivors += bool(at_answer or live_tokens(trial))
    assert survivors == 0, f"{survivors} of {TRIALS} trials kept a session of the old password"


def test_the_session_lock_refuses_to_run_outside_a_transaction(race_env):
    """Outside a transaction the row lock would be released with its own statement and order
    nothing; the check is explicit so it survives ``python -O``."""
    from app.services import auth_sessions

    with pytest.raises(RuntimeError, match="inside a transaction"):
        auth_sessions.lock_account(uuid.uuid4())

"""Passkeys (WebAuthn) as a second factor, over HTTP and through the service, on the real
PostgreSQL, answered by a software authenticator (tests/passkey_authenticator.py) that can be
told to lie. Chromium's own virtual authenticator: tests/e2e/test_passkeys_browser.py."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.core.database import make_database, user_transaction
from app.core.errors import AppError
from app.models import Passkey, PasskeyChallenge, SecurityEvent, User
from app.services import rate_limit
from app.services.passkeys import (
    ChallengeInvalid,
    PasskeyRejected,
    PasskeyService,
    RelyingParty,
    SignCountRegressed,
    purge_expired_challenges,
    ticket_binding,
)
from app.services.rate_limit import RateLimiter
from tests.helpers import STRONG_PASSWORD, Browser, FakeClock, build, fast_settings, unique_email
from tests.passkey_authenticator import (
    SoftAuthenticator,
    b64url,
    for_frontend,
    from_b64url,
    register_passkey,
    step_up_with_passkey,
)

pytestmark = pytest.mark.postgres

OPTIONS = "/v1/users/me/mfa/passkeys/options"
PASSKEYS = "/v1/users/me/mfa/passkeys"


@pytest.fixture
def env(settings):
    config = fast_settings(settings)
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    app, clock, outbox = build(config, clock=clock)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock, e.outbox = config, app, clock, outbox
    e.browser = lambda: Browser(app, config)
    limiter = RateLimiter(
        make_database(config.database_url, config, application_name="passkey-tests"),
        clock,
        scale=1,
        fail_closed=False,
    )
    e.service = PasskeyService(config.frontend_url, limiter=limiter, clock=clock)
    return e


def signed_in(env, browser=None, email=None):
    browser = browser or env.browser()
    email = email or unique_email("passkey")
    assert browser.register(email).status_code in (201, 409)
    assert browser.login(email).status_code == 200
    browser.email = email
    browser.user_id = uuid.UUID(browser.request("GET", "/v1/users/me").json["data"]["id"])
    return browser


def error_code(result, status: int) -> str:
    assert result.status_code == status, result.text
    assert result.json["success"] is False
    return result.json["error"]["code"]


def events(user_id, event_type: str) -> list[SecurityEvent]:
    return list(
        SecurityEvent.select().where(
            SecurityEvent.user == user_id, SecurityEvent.event_type == event_type
        )
    )


# ----- the relying party --------------------------------------------------------------------


@pytest.mark.parametrize(
    "frontend_url,rp_id,origin",
    [
        ("http://localhost:5173", "localhost", "http://localhost:5173"),
        ("https://App.Example.com", "app.example.com", "https://app.example.com"),
        ("https://app.example.com:443", "app.example.com", "https://app.example.com"),
        ("https://app.jat.test:8443", "app.jat.test", "https://app.jat.test:8443"),
    ],
)
def test_relying_party_comes_from_the_frontend_url(frontend_url, rp_id, origin):
    party = RelyingParty.from_frontend_url(frontend_url)
    assert (party.id, party.origin) == (rp_id, origin)


# ----- registration -------------------------------------------------------------------------


def test_registration_options_name_the_frontend_and_prefer_user_verification(env):
    alice = signed_in(env)
    result = alice.request("POST", OPTIONS)
    assert result.status_code == 200, result.text
    options = result.json["data"]
    assert options["rp"] == {"id": "localhost", "name": "Job App Tracker"}
    assert from_b64url(options["user"]["id"]) == alice.user_id.bytes
    assert options["user"]["name"] == alice.email
    assert len(from_b64url(options["challenge"])) == 32
    assert options["timeout"] == 300_000
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["excludeCredentials"] == []
    # Each call is a new challenge.
    again = alice.request("POST", OPTIONS).json["data"]
    assert again["challenge"] != options["challenge"]


def test_register_list_rename_and_remove_several_passkeys(env):
    alice = signed_in(env)
    laptop, first = register_passkey(alice, "Laptop")
    assert first["name"] == "Laptop"
    assert first["transports"] == ["internal"]
    assert first["last_used_at"] is None
    assert set(first) == {"id", "name", "transports", "created_at", "last_used_at"}
    _, second = register_passkey(alice, "Phone")

    listed = alice.request("GET", PASSKEYS)
    assert listed.status_code == 200, listed.text
    assert [p["name"] for p in listed.json["data"]] == ["Laptop", "Phone"]

    # Already-registered credentials are excluded from new options.
    options = alice.request("POST", OPTIONS).json["data"]
    assert len(options["excludeCredentials"]) == 2
    assert {
        "id": b64url(laptop.credential_id),
        "type": "public-key",
        "transports": ["internal"],
    } in (options["excludeCredentials"])

    renamed = alice.request("PATCH", f"{PASSKEYS}/{first['id']}", json={"name": "Work laptop"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json["data"]["name"] == "Work laptop"
    step_up_with_passkey(alice, laptop)
    removed = alice.request("DELETE", f"{PASSKEYS}/{second['id']}")
    assert removed.status_code == 204, removed.text
    assert [p["name"] for p in alice.request("GET", PASSKEYS).json["data"]] == ["Work laptop"]
    assert error_code(alice.request("DELETE", f"{PASSKEYS}/{second['id']}"), 404) == "NOT_FOUND"

    kinds = [
        e.event_type for e in SecurityEvent.select().where(SecurityEvent.user == alice.user_id)
    ]
    assert kinds.count("passkey_added") == 2
    assert "passkey_renamed" in kinds and "passkey_removed" in kinds


def test_another_accounts_passkey_cannot_be_seen_renamed_or_removed(env):
    alice, bob = signed_in(env), signed_in(env)
    _, passkey = register_passkey(alice)
    assert bob.request("GET", PASSKEYS).json["data"] == []
    path = f"{PASSKEYS}/{passkey['id']}"
    assert error_code(bob.request("PATCH", path, json={"name": "mine"}), 404) == "NOT_FOUND"
    assert error_code(bob.request("DELETE", path), 404) == "NOT_FOUND"
    assert [p["name"] for p in alice.request("GET", PASSKEYS).json["data"]] == ["Laptop"]


def test_a_registration_challenge_works_once(env):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    first, second = for_frontend(env.settings.frontend_url), for_frontend(env.settings.frontend_url)
    ok = alice.request(
        "POST", PASSKEYS, json={"name": "One", "credential": first.register(options)}
    )
    assert ok.status_code == 201, ok.text
    replay = alice.request(
        "POST", PASSKEYS, json={"name": "Two", "credential": second.register(options)}
    )
    assert error_code(replay, 400) == "PASSKEY_CHALLENGE_INVALID"
    assert [p["name"] for p in alice.request("GET", PASSKEYS).json["data"]] == ["One"]


@pytest.mark.parametrize("seconds,status", [(299, 201), (301, 400)])
def test_a_registration_challenge_expires_after_five_minutes(env, seconds, status):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    env.clock.advance(seconds=seconds)
    credential = for_frontend(env.settings.frontend_url).register(options)
    result = alice.request("POST", PASSKEYS, json={"name": "Late", "credential": credential})
    assert result.status_code == status, result.text
    if status == 400:
        assert result.json["error"]["code"] == "PASSKEY_CHALLENGE_INVALID"


def test_a_registration_challenge_belongs_to_its_session_and_account(env):
    alice = signed_in(env)
    other_tab = signed_in(env, email=alice.email)  # the same account, another sign-in
    bob = signed_in(env)
    for thief in (other_tab, bob):
        options = alice.request("POST", OPTIONS).json["data"]
        credential = for_frontend(env.settings.frontend_url).register(options)
        result = thief.request("POST", PASSKEYS, json={"name": "x", "credential": credential})
        assert error_code(result, 400) == "PASSKEY_CHALLENGE_INVALID"


@pytest.mark.parametrize(
    "lie",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost:5174"},
        {"rp_id": "evil.example"},
        {"rp_id": "example.com"},
    ],
)
def test_registration_from_another_origin_or_for_another_rp_is_refused(env, lie):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    credential = for_frontend(env.settings.frontend_url).register(options, **lie)
    result = alice.request("POST", PASSKEYS, json={"name": "x", "credential": credential})
    assert error_code(result, 400) == "PASSKEY_INVALID"
    assert alice.request("GET", PASSKEYS).json["data"] == []
    # The refused attempt used the challenge up.
    retry = for_frontend(env.settings.frontend_url).register(options)
    again = alice.request("POST", PASSKEYS, json={"name": "x", "credential": retry})
    assert error_code(again, 400) == "PASSKEY_CHALLENGE_INVALID"


def _tampered(credential: dict, path: tuple[str, ...], value) -> dict:
    changed = copy.deepcopy(credential)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    "path,value",
    [
        (("response", "attestationObject"), "AAAA"),
        (("response", "attestationObject"), b64url(b"\xff" * 40)),
        (("response", "clientDataJSON"), "bm90IGpzb24"),
        (("response", "clientDataJSON"), b64url(b"[1, 2]")),
        (("response", "clientDataJSON"), b64url(b'{"challenge": 7}')),
        (("response", "clientDataJSON"), "A"),
        (("rawId",), b64url(b"another id")),
    ],
)
def test_malformed_credentials_get_a_clear_400(env, path, value):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    credential = for_frontend(env.settings.frontend_url).register(options)
    result = alice.request(
        "POST", PASSKEYS, json={"name": "x", "credential": _tampered(credential, path, value)}
    )
    assert error_code(result, 400) in {"PASSKEY_INVALID", "PASSKEY_CHALLENGE_INVALID"}


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x"}, "credential"),
        ({"name": "", "credential": {}}, "name"),
        ({"name": "x" * 65, "credential": {}}, "name"),
        ({"name": "a\u0000b", "credential": {}}, "name"),
        (
            {"name": "x", "credential": {"id": "a", "rawId": "a", "type": "secret-key"}},
            "credential",
        ),
        (
            {"name": "x", "credential": {"id": "not base64!", "rawId": "a", "type": "public-key"}},
            "credential",
        ),
    ],
)
def test_registration_bodies_are_validated(env, body, field):
    alice = signed_in(env)
    result = alice.request("POST", PASSKEYS, json=body)
    assert error_code(result, 422) == "VALIDATION_ERROR"
    assert any(d["field"].split(".")[0] == field for d in result.json["error"]["details"])


def test_a_blank_name_is_refused(env):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    credential = for_frontend(env.settings.frontend_url).register(options)
    result = alice.request("POST", PASSKEYS, json={"name": "   ", "credential": credential})
    assert error_code(result, 422) == "VALIDATION_ERROR"
    _, passkey = register_passkey(alice)
    renamed = alice.request("PATCH", f"{PASSKEYS}/{passkey['id']}", json={"name": " "})
    assert error_code(renamed, 422) == "VALIDATION_ERROR"


def test_one_credential_registers_once_across_accounts(env):
    alice, bob = signed_in(env), signed_in(env)
    authenticator, _ = register_passkey(alice)
    for who in (alice, bob):
        options = who.request("POST", OPTIONS).json["data"]
        again = who.request(
            "POST", PASSKEYS, json={"name": "again", "credential": authenticator.register(options)}
        )
        assert error_code(again, 409) == "PASSKEY_ALREADY_REGISTERED"
    assert bob.request("GET", PASSKEYS).json["data"] == []


def test_passkeys_need_a_signed_in_user(env):
    anonymous = env.browser()
    assert error_code(anonymous.request("POST", OPTIONS), 401) == "AUTHENTICATION_REQUIRED"
    assert error_code(anonymous.request("GET", PASSKEYS), 401) == "AUTHENTICATION_REQUIRED"


# ----- assertion ----------------------------------------------------------------------------


def test_assertion_allows_only_the_accounts_passkeys_and_counts_each_use(env):
    alice, bob = signed_in(env), signed_in(env)
    laptop, passkey = register_passkey(alice, "Laptop")
    register_passkey(bob, "Bob's")
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(laptop.credential_id)]
    used = env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options), None)
    assert used["id"] == passkey["id"]
    assert used["last_used_at"] == env.clock.now
    with user_transaction(alice.user_id):  # row-level security: only as the owner
        assert Passkey.get_by_id(uuid.UUID(passkey["id"])).sign_count == 1
    listed = alice.request("GET", PASSKEYS).json["data"]
    assert listed[0]["last_used_at"] is not None


def test_an_account_without_passkeys_gets_no_assertion_options(env):
    alice = signed_in(env)
    with pytest.raises(AppError) as refused:
        env.service.assertion_options(alice.user_id, ticket_binding(uuid.uuid4()))
    assert (refused.value.status, refused.value.code) == (409, "PASSKEY_NOT_ENROLLED")


def test_an_assertion_challenge_works_once(env):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    assertion = laptop.assert_(options)
    env.service.verify_assertion(alice.user_id, binding, assertion, None)
    with pytest.raises(ChallengeInvalid):
        env.service.verify_assertion(alice.user_id, binding, assertion, None)
    # A fresh signature over the used challenge is refused as well.
    with pytest.raises(ChallengeInvalid):
        env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options), None)


@pytest.mark.parametrize("seconds,accepted", [(299, True), (301, False)])
def test_an_assertion_challenge_expires_after_five_minutes(env, seconds, accepted):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    env.clock.advance(seconds=seconds)
    if accepted:
        env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options), None)
    else:
        with pytest.raises(ChallengeInvalid):
            env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options), None)


def test_an_assertion_challenge_is_bound_to_its_ticket_and_purpose(env):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    options = env.service.assertion_options(alice.user_id, ticket_binding(uuid.uuid4()))
    with pytest.raises(ChallengeInvalid):
        env.service.verify_assertion(
            alice.user_id, ticket_binding(uuid.uuid4()), laptop.assert_(options), None
        )
    # A registration challenge is no assertion challenge, even with the same binding.
    binding = ticket_binding(uuid.uuid4())
    registration = env.service.registration_options(User.get_by_id(alice.user_id), binding)
    with pytest.raises(ChallengeInvalid):
        env.service.verify_assertion(alice.user_id, binding, laptop.assert_(registration), None)


def test_another_accounts_passkey_is_refused_for_this_account(env):
    alice, bob = signed_in(env), signed_in(env)
    register_passkey(alice)
    bobs, _ = register_passkey(bob)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    with pytest.raises(PasskeyRejected, match="not registered to this account"):
        env.service.verify_assertion(alice.user_id, binding, bobs.assert_(options), None)


@pytest.mark.parametrize("lie", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_an_assertion_from_another_origin_or_for_another_rp_is_refused(env, lie):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    with pytest.raises(PasskeyRejected):
        env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options, **lie), None)


def test_a_forged_signature_is_refused(env):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    impostor = SoftAuthenticator(
        origin=laptop.origin, rp_id=laptop.rp_id, credential_id=laptop.credential_id
    )
    with pytest.raises(PasskeyRejected):
        env.service.verify_assertion(alice.user_id, binding, impostor.assert_(options), None)


@pytest.mark.parametrize("presented", [5, 3])
def test_a_counter_that_does_not_increase_is_refused_and_recorded(env, presented):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    env.service.verify_assertion(
        alice.user_id, binding, laptop.assert_(options, sign_count=5), None
    )
    options = env.service.assertion_options(alice.user_id, binding)
    with pytest.raises(SignCountRegressed):
        env.service.verify_assertion(
            alice.user_id, binding, laptop.assert_(options, sign_count=presented), None
        )
    recorded = events(alice.user_id, "passkey_sign_count_regressed")
    assert len(recorded) == 1
    assert recorded[0].details == {
        "passkey_id": passkey["id"],
        "name": "Laptop",
        "stored_count": 5,
        "presented_count": presented,
    }
    # The stored counter did not move back.
    options = env.service.assertion_options(alice.user_id, binding)
    env.service.verify_assertion(
        alice.user_id, binding, laptop.assert_(options, sign_count=6), None
    )


def test_an_authenticator_without_a_counter_stays_usable(env):
    """Both counters zero: the authenticator keeps no counter (WebAuthn §6.1.1)."""
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    binding = ticket_binding(uuid.uuid4())
    for _ in range(2):
        options = env.service.assertion_options(alice.user_id, binding)
        env.service.verify_assertion(
            alice.user_id, binding, laptop.assert_(options, sign_count=0), None
        )
    assert events(alice.user_id, "passkey_sign_count_regressed") == []


def test_a_removed_passkey_no_longer_asserts(env):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice)
    register_passkey(alice, "Phone")
    binding = ticket_binding(uuid.uuid4())
    options = env.service.assertion_options(alice.user_id, binding)
    step_up_with_passkey(alice, laptop)
    assert alice.request("DELETE", f"{PASSKEYS}/{passkey['id']}").status_code == 204
    with pytest.raises(PasskeyRejected):
        env.service.verify_assertion(alice.user_id, binding, laptop.assert_(options), None)


# ----- challenges: limits and housekeeping ---------------------------------------------------


def test_options_are_rate_limited_per_account(env):
    alice = signed_in(env)
    allowed = rate_limit.PASSKEY_OPTIONS_PER_ACCOUNT.limit
    for _ in range(allowed):
        assert alice.request("POST", OPTIONS).status_code == 200
    refused = alice.request("POST", OPTIONS)
    assert error_code(refused, 429) == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) > 0


def test_expired_challenges_are_purged_by_the_housekeeping(env):
    alice = signed_in(env)
    alice.request("POST", OPTIONS)
    mine = PasskeyChallenge.select().where(PasskeyChallenge.user == alice.user_id)
    assert mine.count() == 1
    from app.core.database import db

    assert purge_expired_challenges(db.obj, env.clock.now) >= 0
    assert mine.count() == 1
    env.clock.advance(minutes=5)
    assert purge_expired_challenges(db.obj, env.clock.now) >= 1
    assert mine.count() == 0


def test_the_database_refuses_a_challenge_living_longer_than_five_minutes(env):
    import peewee

    from app.core.database import db

    alice = signed_in(env)
    now = env.clock.now
    with pytest.raises(peewee.IntegrityError), db.atomic():
        PasskeyChallenge.create(
            user=alice.user_id,
            purpose="assertion",
            binding="session:x",
            challenge_hash="0" * 64,
            created_at=now,
            expires_at=now + timedelta(minutes=5, seconds=1),
        )


# ----- the second factor: sign-in and step-up -----------------------------------------------

LOGIN_OPTIONS = "/v1/auth/login/mfa/passkey-options"
STEP_UP_OPTIONS = "/v1/auth/step-up/passkey-options"


def password_step(browser, email: str) -> dict:
    result = browser.request(
        "POST", "/v1/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert result.status_code == 200, result.text
    data = result.json["data"]
    assert data["mfa_required"] is True, data
    assert "access_token" not in data and not result.cookies
    return data


def sign_in_with(browser, ticket: str, credential: dict):
    result = browser.request(
        "POST", "/v1/auth/login/mfa", json={"mfa_ticket": ticket, "credential": credential}
    )
    if result.status_code == 200:
        browser.access_token = result.json["data"]["access_token"]
        browser.csrf = result.json["data"]["csrf_token"]
    return result


def login_options(browser, ticket: str) -> dict:
    result = browser.request("POST", LOGIN_OPTIONS, json={"mfa_ticket": ticket})
    assert result.status_code == 200, result.text
    return result.json["data"]


def test_a_full_sign_in_with_a_passkey_as_the_second_factor(env):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice)
    register_passkey(signed_in(env), "Bob's")  # another account's passkey is never offered
    me = alice.request("GET", "/v1/users/me").json["data"]
    assert me["mfa"]["passkeys"] == 1

    browser = env.browser()
    challenge = password_step(browser, alice.email)
    assert challenge["methods"] == ["passkey"]
    options = login_options(browser, challenge["mfa_ticket"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(laptop.credential_id)]
    assert options["rpId"] == "localhost"
    done = sign_in_with(browser, challenge["mfa_ticket"], laptop.assert_(options))
    assert done.status_code == 200, done.text
    assert done.json["data"]["user"]["id"] == str(alice.user_id)
    assert browser.cookies.get("jat_refresh")
    assert browser.request("GET", "/v1/users/me").status_code == 200
    assert browser.refresh().status_code == 200  # a refresh never asks again
    succeeded = events(alice.user_id, "mfa_succeeded")
    assert [e.details["method"] for e in succeeded] == ["passkey"]
    listed = alice.request("GET", PASSKEYS).json["data"]
    assert listed[0]["id"] == passkey["id"] and listed[0]["last_used_at"] is not None


def test_the_ticket_and_the_assertion_are_single_use_and_bound_together(env):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    browser = env.browser()
    first = password_step(browser, alice.email)
    second = password_step(browser, alice.email)
    options = login_options(browser, first["mfa_ticket"])
    assertion = laptop.assert_(options)
    # The first ticket's challenge answers nothing for the second ticket.
    refused = sign_in_with(browser, second["mfa_ticket"], assertion)
    assert error_code(refused, 401) == "MFA_CODE_INVALID"
    assert sign_in_with(browser, first["mfa_ticket"], assertion).status_code == 200
    # Neither the ticket nor the assertion works again.
    again = sign_in_with(browser, first["mfa_ticket"], assertion)
    assert error_code(again, 401) == "MFA_TICKET_INVALID"


def test_passkey_options_need_a_live_ticket_of_this_client(env):
    alice = signed_in(env)
    register_passkey(alice)
    browser = env.browser()
    ticket = password_step(browser, alice.email)["mfa_ticket"]
    unknown = browser.request("POST", LOGIN_OPTIONS, json={"mfa_ticket": "x" * 43})
    assert error_code(unknown, 401) == "MFA_TICKET_INVALID"
    elsewhere = env.browser().request("POST", LOGIN_OPTIONS, json={"mfa_ticket": ticket})
    assert error_code(elsewhere, 401) == "MFA_TICKET_INVALID"
    env.clock.advance(minutes=5, seconds=1)
    late = browser.request("POST", LOGIN_OPTIONS, json={"mfa_ticket": ticket})
    assert error_code(late, 401) == "MFA_TICKET_INVALID"


@pytest.mark.parametrize(
    "lie", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"sign_count": 0}]
)
def test_a_lying_assertion_does_not_sign_in(env, lie):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    browser = env.browser()
    if "sign_count" in lie:  # the counter has moved past zero once
        ticket = password_step(browser, alice.email)["mfa_ticket"]
        options = login_options(browser, ticket)
        assert sign_in_with(browser, ticket, laptop.assert_(options)).status_code == 200
    ticket = password_step(browser, alice.email)["mfa_ticket"]
    options = login_options(browser, ticket)
    refused = sign_in_with(browser, ticket, laptop.assert_(options, **lie))
    assert error_code(refused, 401) == "MFA_CODE_INVALID"
    assert refused.json["error"]["details"] == [{"field": "credential", "message": "is not valid"}]
    if "sign_count" in lie:
        assert len(events(alice.user_id, "passkey_sign_count_regressed")) == 1


def test_another_accounts_passkey_does_not_sign_in(env):
    alice, bob = signed_in(env), signed_in(env)
    register_passkey(alice)
    bobs, _ = register_passkey(bob)
    browser = env.browser()
    ticket = password_step(browser, alice.email)["mfa_ticket"]
    options = login_options(browser, ticket)
    refused = sign_in_with(browser, ticket, bobs.assert_(options))
    assert error_code(refused, 401) == "MFA_CODE_INVALID"


def test_removing_a_passkey_needs_a_step_up_and_a_passkey_gives_one(env):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice)
    path = f"{PASSKEYS}/{passkey['id']}"
    refused = alice.request("DELETE", path)
    assert error_code(refused, 403) == "STEP_UP_REQUIRED"
    assert len(alice.request("GET", PASSKEYS).json["data"]) == 1

    options = alice.request("POST", STEP_UP_OPTIONS)
    assert options.status_code == 200, options.text
    stepped = alice.request(
        "POST", "/v1/auth/step-up", json={"credential": laptop.assert_(options.json["data"])}
    )
    assert stepped.status_code == 204, stepped.text
    assert alice.request("DELETE", path).status_code == 204
    assert alice.request("GET", PASSKEYS).json["data"] == []
    assert alice.request("GET", "/v1/users/me").json["data"]["mfa"]["passkeys"] == 0
    # Without a factor left, the next sign-in is the password alone again.
    again = env.browser().login(alice.email)
    assert again.status_code == 200 and again.json["data"]["access_token"]


def test_a_step_up_challenge_belongs_to_its_session(env):
    alice = signed_in(env)
    laptop, _ = register_passkey(alice)
    # Alice's other session (a second sign-in, through the passkey).
    other = env.browser()
    ticket = password_step(other, alice.email)["mfa_ticket"]
    assert (
        sign_in_with(other, ticket, laptop.assert_(login_options(other, ticket))).status_code == 200
    )
    options = alice.request("POST", STEP_UP_OPTIONS).json["data"]
    refused = other.request(
        "POST", "/v1/auth/step-up", json={"credential": laptop.assert_(options)}
    )
    assert error_code(refused, 401) == "MFA_CODE_INVALID"
    # A sign-in ticket's challenge is no step-up challenge either.
    stranger = env.browser()
    ticket = password_step(stranger, alice.email)["mfa_ticket"]
    signed = laptop.assert_(login_options(stranger, ticket))
    refused = alice.request("POST", "/v1/auth/step-up", json={"credential": signed})
    assert error_code(refused, 401) == "MFA_CODE_INVALID"


def test_a_step_up_expires_after_five_minutes(env):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice)
    _, second = register_passkey(alice, "Phone")
    options = alice.request("POST", STEP_UP_OPTIONS).json["data"]
    stepped = alice.request(
        "POST", "/v1/auth/step-up", json={"credential": laptop.assert_(options)}
    )
    assert stepped.status_code == 204, stepped.text
    env.clock.advance(minutes=5, seconds=1)
    late = alice.request("DELETE", f"{PASSKEYS}/{second['id']}")
    assert error_code(late, 403) == "STEP_UP_REQUIRED"


def test_no_passkey_no_options(env):
    alice = signed_in(env)
    result = alice.request("POST", STEP_UP_OPTIONS)
    assert error_code(result, 409) == "PASSKEY_NOT_ENROLLED"


def test_the_method_exports_names_and_dates_and_removes_everything(env):
    from app.services.passkeys import PasskeyMethod

    alice = signed_in(env)
    register_passkey(alice, "Laptop")
    register_passkey(alice, "Phone")
    method = PasskeyMethod(env.service)
    exported = method.export(alice.user_id)
    assert [(e["type"], e["name"]) for e in exported] == [
        ("passkey", "Laptop"),
        ("passkey", "Phone"),
    ]
    assert all(
        set(e) == {"type", "name", "created_at", "confirmed_at", "last_used_at", "remaining"}
        for e in exported
    )
    assert method.enrolled(alice.user_id)
    assert method.remove_all(alice.user_id) == 2
    assert not method.enrolled(alice.user_id)
    assert alice.request("GET", PASSKEYS).json["data"] == []


# ----- notices ------------------------------------------------------------------------------


def mfa_notices(outbox, email: str) -> list[tuple[str, str]]:
    return [
        (m.tags["category"], m.text)
        for m in outbox.messages
        if m.to == email and m.tags.get("category", "").startswith("mfa_factor")
    ]


def test_adding_and_removing_a_passkey_each_send_a_notice_through_the_outbox(env):
    alice = signed_in(env)
    laptop, passkey = register_passkey(alice, "Laptop")
    # The request only queued it: nothing reached the provider before the drainer ran.
    assert all(m.to != alice.email for m in env.outbox.sent)
    added = mfa_notices(env.outbox, alice.email)
    assert [category for category, _ in added] == ["mfa_factor_added"]
    assert "a passkey" in added[0][1]
    assert [e.details for e in events(alice.user_id, "mfa_factor_added")] == [{"method": "passkey"}]

    step_up_with_passkey(alice, laptop)
    assert alice.request("DELETE", f"{PASSKEYS}/{passkey['id']}").status_code == 204
    notices = mfa_notices(env.outbox, alice.email)
    assert [category for category, _ in notices] == ["mfa_factor_added", "mfa_factor_removed"]
    assert "a passkey" in notices[1][1]
    removed = events(alice.user_id, "mfa_factor_removed")
    assert [e.details["method"] for e in removed] == ["passkey"]


def test_a_refused_registration_or_removal_sends_no_notice(env):
    alice = signed_in(env)
    options = alice.request("POST", OPTIONS).json["data"]
    lying = for_frontend(env.settings.frontend_url).register(options, origin="https://evil.example")
    assert (
        alice.request("POST", PASSKEYS, json={"name": "x", "credential": lying}).status_code == 400
    )
    _, passkey = register_passkey(alice)
    assert alice.request("DELETE", f"{PASSKEYS}/{passkey['id']}").status_code == 403
    assert [c for c, _ in mfa_notices(env.outbox, alice.email)] == ["mfa_factor_added"]

"""Unicode in credentials: passwords compare in one normal form wherever they are checked, and
email addresses that only look like another account's are refused on every path."""

from __future__ import annotations

import pytest

from tests.helpers import Browser, Outbox, build, fast_settings, unique_email

# U+FB01 (the "fi" ligature) and full-width Latin letters: NFKC folds both to ASCII.
LIGATURE_PASSWORD = "\ufb01nancial-\uff50\uff41\uff53\uff53-2026"
LIGATURE_FOLDED = "financial-pass-2026"
FULL_WIDTH_PASSWORD = "\uff4e\uff45\uff57-\uff53\uff45\uff43\uff52\uff45\uff54-\uff17\uff17!"
FULL_WIDTH_FOLDED = "new-secret-77!"


@pytest.fixture
def env(settings):
    config = fast_settings(settings)
    outbox = Outbox()
    app, _, _ = build(config, outbox=outbox)
    return app, config, outbox


def test_a_password_set_with_ligatures_signs_in_as_typed_and_as_folded(env):
    app, config, _ = env
    browser, email = Browser(app, config), unique_email()
    assert browser.register(email, LIGATURE_PASSWORD).status_code == 201
    assert Browser(app, config).login(email, LIGATURE_PASSWORD).status_code == 200
    assert Browser(app, config).login(email, LIGATURE_FOLDED).status_code == 200
    assert Browser(app, config).login(email, "financial-pass-2027").status_code == 401


def test_change_password_and_delete_check_the_normal_form(env):
    app, config, _ = env
    browser, email = Browser(app, config), unique_email()
    browser.register(email, LIGATURE_PASSWORD)
    assert browser.login(email, LIGATURE_PASSWORD).status_code == 200
    changed = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": LIGATURE_PASSWORD, "new_password": FULL_WIDTH_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert Browser(app, config).login(email, FULL_WIDTH_FOLDED).status_code == 200
    same = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": FULL_WIDTH_FOLDED, "new_password": FULL_WIDTH_PASSWORD},
    )
    assert same.status_code == 422
    assert same.json["error"]["details"] == [
        {"field": "new_password", "message": "must differ from the current password"}
    ]
    deleted = browser.request("DELETE", "/v1/users/me", json={"password": FULL_WIDTH_FOLDED})
    assert deleted.status_code == 204, deleted.text


def test_reset_confirm_sets_a_password_that_signs_in_as_typed(env):
    app, config, outbox = env
    email = unique_email()
    Browser(app, config).register(email)
    Browser(app, config).request("POST", "/v1/auth/password-reset", json={"email": email})
    token = outbox.token_for(email)
    confirmed = Browser(app, config).request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": FULL_WIDTH_PASSWORD},
    )
    assert confirmed.status_code == 204, confirmed.text
    assert Browser(app, config).login(email, FULL_WIDTH_PASSWORD).status_code == 200
    assert Browser(app, config).login(email, FULL_WIDTH_FOLDED).status_code == 200


LOOK_ALIKES = {
    "zero-width space": (
        "victim\u200b@{domain}",
        "must not contain invisible formatting characters",
    ),
    "zero-width joiner": (
        "vic\u200dtim@{domain}",
        "must not contain invisible formatting characters",
    ),
    "right-to-left override": (
        "\u202evictim@{domain}",
        "must not contain invisible formatting characters",
    ),
    "byte order mark": (
        "victim\ufeff@{domain}",
        "must not contain invisible formatting characters",
    ),
    "soft hyphen": ("vic\u00adtim@{domain}", "must not contain invisible formatting characters"),
    "combining enclosing circle": ("victim\u20dd@{domain}", "must not contain combining marks"),
    "combining dot below on x": ("x\u0323victim@{domain}", "must not contain combining marks"),
    "no-break space": ("victim\u00a0x@{domain}", "must not contain spaces"),
    "ideographic space": ("victim\u3000x@{domain}", "must not contain spaces"),
    "trailing dot": ("victim@{domain}.", "must not end with a dot"),
}


@pytest.mark.parametrize("kind", sorted(LOOK_ALIKES))
def test_look_alike_addresses_cannot_register_beside_the_real_one(env, kind):
    app, config, _ = env
    domain = unique_email("d").split("@")[0] + ".example.com"
    assert Browser(app, config).register(f"victim@{domain}").status_code == 201
    spelling, message = LOOK_ALIKES[kind]
    result = Browser(app, config).register(spelling.format(domain=domain))
    assert result.status_code == 422, result.text
    assert {"field": "email", "message": message} in result.json["error"]["details"]


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/password-reset"])
def test_every_path_taking_an_email_refuses_look_alikes(env, path):
    app, config, outbox = env
    email = unique_email()
    Browser(app, config).register(email)
    local, domain = email.split("@")
    for spelling in (f"{local}\u200b@{domain}", f"{email}.", f"{local}\u20dd@{domain}"):
        body = {"email": spelling, "password": "correct-horse-battery-staple-42"}
        if path.endswith("password-reset"):
            body.pop("password")
        result = Browser(app, config).request("POST", path, json=body)
        assert result.status_code == 422, (spelling, result.text)
        assert [d["field"] for d in result.json["error"]["details"]] == ["email"]
    assert outbox.messages == []


def test_full_width_spelling_is_the_same_account(env):
    app, config, _ = env
    local = unique_email("w").split("@")[0]
    assert Browser(app, config).register(f"{local}@example.com").status_code == 201
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local)
    again = Browser(app, config).register(f"{full_width}@example.com")
    assert again.status_code == 409 and again.json["error"]["code"] == "EMAIL_TAKEN"

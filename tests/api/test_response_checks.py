"""Responses are held to their documented model, undeclared fields included, wherever
CHECK_RESPONSES is on (every test here); production skips the check per request, so the
explicit serialisers are what keep a field such as a password hash out of a response."""

from __future__ import annotations

import falcon
import pytest
from falcon import testing
from pydantic import BaseModel

from app.core import spec
from app.core.spec import api_spec, undeclared_fields
from app.routes.common import ok, responses
from app.schemas.auth import UserResponse
from tests.helpers import Browser, build, fast_settings, unique_email


class Inner(BaseModel):
    name: str


class Outer(BaseModel):
    items: list[Inner]
    counts: dict[str, int]


def test_undeclared_fields_are_found_at_any_depth():
    payload = {"items": [{"name": "a"}, {"name": "b", "secret": 1}], "counts": {"x": 1}, "z": 0}
    assert undeclared_fields(payload, Outer.model_validate(payload)) == ["items.1.secret", "z"]
    clean = {"items": [{"name": "a"}], "counts": {"any": 2}}
    assert undeclared_fields(clean, Outer.model_validate(clean)) == []


class LeakyResource:
    """Answers /v1/users/me's contract with one field too many."""

    @api_spec.validate(resp=responses(200, UserResponse), tags=["test"])
    def on_get(self, req, resp):
        ok(
            req,
            resp,
            {
                "id": "0b8e5a7e-3f4c-4d1e-9a55-6f1f2b7c9d10",
                "email": "ada@example.com",
                "email_verified": True,
                "must_change_password": False,
                "password_changed_at": "2025-03-14T09:30:00Z",
                "password_hash": "$argon2id$v=19$...",
            },
        )


@pytest.fixture
def leaky():
    app = falcon.App()
    app.add_route("/leaky", LeakyResource())
    yield testing.TestClient(app)
    spec.check_responses(True)


def test_an_undeclared_field_fails_the_check(leaky):
    spec.check_responses(True)
    result = leaky.simulate_get("/leaky")
    assert result.status_code == 500
    assert ["data", "password_hash"] in [each["loc"] for each in result.json]


def test_without_the_check_the_response_goes_out_as_built(leaky):
    spec.check_responses(False)
    result = leaky.simulate_get("/leaky")
    assert result.status_code == 200
    assert "password_hash" in result.json["data"]


def test_the_app_applies_its_setting(settings):
    build(fast_settings(settings, check_responses=False))
    assert api_spec.backend.check_responses is False
    build(fast_settings(settings))
    assert api_spec.backend.check_responses is True


def test_every_response_of_a_session_is_identical_with_and_without_the_check(settings):
    """The check changes nothing in a response that passes it: the same bodies either way."""
    bodies = {}
    for checked in (True, False):
        config = fast_settings(settings, check_responses=checked)
        app, _, _ = build(config)
        browser = Browser(app, config)
        email = unique_email()
        browser.register(email)
        browser.login(email)
        created = browser.request(
            "POST", "/v1/applications", json={"company": "Acme", "role_title": "Engineer"}
        ).json["data"]
        listed = browser.request("GET", "/v1/applications").json["data"]
        one = browser.request("GET", f"/v1/applications/{created['id']}").json["data"]
        me = browser.request("GET", "/v1/users/me").json["data"]
        assert listed == [created] and one == created
        bodies[checked] = (sorted(created), sorted(me))
    assert bodies[True] == bodies[False]

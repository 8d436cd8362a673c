"""Property-based: no input reaches a 5xx, and every answer is the envelope.

schemathesis generates requests for every operation of the committed OpenAPI document (which
`make policy` holds equal to the generated one), both inputs the schema allows and inputs it
refuses, and sends them to the app in process, signed in as a real user whose application and
attachment ids are mixed into the paths so operations are exercised past the auth check and the
404. Fixed seed (derandomized) and a capped number of examples per operation keep it repeatable
and within `make test`'s budget; docs/security.md records its running time.
"""

from __future__ import annotations

import itertools
import json
import secrets
from pathlib import Path

import falcon.testing
import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from app.core.database import user_transaction
from app.models import Passkey
from tests.helpers import STRONG_PASSWORD, build, fast_settings, unique_email

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 40


def without_patterns(node):
    """The document with every ``pattern`` dropped: generated strings then include the control
    characters the patterns forbid, so the server's own refusal is what is tested."""
    if isinstance(node, dict):
        return {key: without_patterns(value) for key, value in node.items() if key != "pattern"}
    if isinstance(node, list):
        return [without_patterns(item) for item in node]
    return node


SCHEMA = schemathesis.openapi.from_dict(without_patterns(json.loads(DOCUMENT.read_text())))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Operations that end the fuzzing user's sessions when they succeed: sign in again after them.
ADDRESSES = itertools.count()
SESSION_ENDING = {("POST", "/v1/auth/logout-all"), ("DELETE", "/v1/auth/sessions/{session_id}")}


class FuzzUser:
    """A real, verified account with one application and one attachment. Each sign-in comes from
    a fresh address, so neither the fuzzed logins' limits nor its own repeated sign-ins (after
    every fuzzed logout-all) can block it."""

    def __init__(self, app, config):
        self.app = app
        self.frontend = config.frontend_url
        self.client = falcon.testing.TestClient(app)
        self.email = unique_email("fuzz")
        self.token = ""
        credentials = {"email": self.email, "password": STRONG_PASSWORD}
        registered = self._send("POST", "/v1/auth/register", credentials)
        assert registered.status_code == 201, registered.text
        self.user_id = registered.json["data"]["id"]
        self.sign_in()
        self.create_resources()

    def create_resources(self) -> None:
        """An application with an attachment, again after a fuzzed DELETE removed them."""
        application = {"company": "Acme", "role_title": "Engineer"}
        created = self._send("POST", "/v1/applications", application)
        assert created.status_code == 201, created.text
        self.application_id = created.json["data"]["id"]
        upload = {"filename": "cv.txt", "content_type": "text/plain", "size": 5}
        started = self._send("POST", f"/v1/applications/{self.application_id}/attachments", upload)
        assert started.status_code == 201, started.text
        self.attachment_id = started.json["data"]["attachment"]["id"]

    def store_passkey(self) -> str:
        """A passkey row written directly: registering one over HTTP spends options, which are
        rate limited, and the fuzzing spends them all."""
        with user_transaction(self.user_id):
            row = Passkey.create(
                owner=self.user_id,
                credential_id=secrets.token_bytes(32),
                public_key=b"\xa0",
                name="Fuzz",
            )
        return str(row.id)

    def _send(self, method: str, path: str, body: dict):
        number = next(ADDRESSES)
        return self.client.simulate_request(
            method,
            path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            remote_addr=f"198.18.{number // 250}.{number % 250 + 1}",
        )

    def sign_in(self) -> None:
        """With the password alone: a passkey would make it an MFA challenge, so the account's
        passkey goes first and comes back once the session exists."""
        with user_transaction(self.user_id):
            Passkey.delete().where(Passkey.owner == self.user_id).execute()
        credentials = {"email": self.email, "password": STRONG_PASSWORD}
        result = self._send("POST", "/v1/auth/login", credentials)
        assert result.status_code == 200, result.text
        self.token = result.json["data"]["access_token"]
        self.passkey_id = self.store_passkey()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Origin": self.frontend}

    def owned_ids(self) -> dict[str, str]:
        return {
            "application_id": self.application_id,
            "attachment_id": self.attachment_id,
            "passkey_id": self.passkey_id,
        }


@pytest.fixture(scope="module")
def fuzz_user(db_env, tmp_path_factory):
    from app.core.settings import Settings

    config = fast_settings(
        Settings.from_env(db_env),
        storage_backend="local",
        scanner="local",
        local_storage_dir=str(tmp_path_factory.mktemp("fuzz-uploads")),
    )
    app, _, _ = build(config)
    return FuzzUser(app, config)


def requests_for(operation, user: FuzzUser):
    """Generated requests, valid and invalid, some aimed at the user's own resources."""
    owned = {
        name: value
        for name, value in user.owned_ids().items()
        if "{" + name + "}" in operation.path
    }
    strategies = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if owned:
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=owned)
        )
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=owned)
        )
    return st.one_of(strategies)


def assert_envelope(response, case) -> None:
    where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.text}"
    if response.status_code in (204, 302):
        assert not response.content, where
        return
    content_type = {name.lower(): values for name, values in response.headers.items()}
    assert content_type["content-type"][0].startswith("application/json"), where
    body = response.json()
    if response.status_code >= 400:
        assert body["success"] is False, where
        error = body["error"]
        assert isinstance(error["code"], str) and error["code"].isupper(), where
        assert isinstance(error["message"], str) and isinstance(error["details"], list), where
    else:
        assert body["success"] is True and "data" in body, where
    assert "request_id" in body["meta"], where


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_generated_request_gets_a_5xx_or_leaves_the_envelope(fuzz_user, operation):
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=requests_for(operation, fuzz_user))
    def sent(case):
        response = case.call(app=fuzz_user.app, headers=fuzz_user.headers())
        assert_envelope(response, case)
        if response.status_code < 300 and (case.method.upper(), operation.path) in SESSION_ENDING:
            fuzz_user.sign_in()
        if response.status_code < 300 and case.method.upper() == "DELETE":
            fuzz_user.create_resources()

    sent()

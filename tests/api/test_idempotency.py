"""Idempotency-Key on the operations that create: a retry answers the first result and creates
nothing; a key is the user's own, refuses a different request, and expires after 24 hours."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.database import user_transaction
from app.models import Application, Attachment, IdempotencyKey
from app.services.idempotency import IDEMPOTENT_OPERATIONS
from tests.helpers import Browser, FakeClock, build, fast_settings, unique_email


class Env:
    def __init__(self, settings, clock=None):
        self.settings = fast_settings(settings)
        self.app, self.clock, self.provider = build(self.settings, clock=clock)

    def user(self) -> Browser:
        browser = Browser(self.app, self.settings)
        email = unique_email()
        assert browser.register(email).status_code == 201
        assert browser.login(email).status_code == 200
        browser.email = email
        browser.user_id = browser.request("GET", "/v1/users/me").json["data"]["id"]
        return browser


@pytest.fixture
def env(settings):
    return Env(settings)


def post(browser, body, key, path="/v1/applications"):
    return browser.request("POST", path, json=body, headers={"Idempotency-Key": key})


def count_applications(company: str, *owners: Browser) -> int:
    """Rows as PostgreSQL holds them, read as each owner (row-level security)."""
    total = 0
    for owner in owners:
        with user_transaction(owner.user_id):
            total += Application.select().where(Application.company == company).count()
    return total


def keys_of(owner: Browser) -> set[str]:
    with user_transaction(owner.user_id):
        return {row.key for row in IdempotencyKey.select(IdempotencyKey.key)}


def test_a_retry_with_the_key_answers_the_first_result_and_creates_nothing(env):
    browser = env.user()
    company = f"Replay {uuid.uuid4()}"
    body = {"company": company, "role_title": "Engineer", "notes": "first"}
    key = str(uuid.uuid4())
    first = post(browser, body, key)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # The same JSON in another order and spacing is the same request.
    again = browser.request(
        "POST",
        "/v1/applications",
        body=f'{{"notes": "first",  "role_title": "Engineer", "company": "{company}"}}',
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["data"] == first.json["data"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert count_applications(company, browser) == 1


def test_without_a_key_each_request_creates(env):
    browser = env.user()
    company = f"No key {uuid.uuid4()}"
    for _ in range(2):
        result = browser.request(
            "POST", "/v1/applications", json={"company": company, "role_title": "x"}
        )
        assert result.status_code == 201
    assert count_applications(company, browser) == 2


def test_the_same_key_with_a_different_request_is_refused(env):
    browser = env.user()
    key = str(uuid.uuid4())
    assert post(browser, {"company": "A", "role_title": "x"}, key).status_code == 201
    other = post(browser, {"company": "B", "role_title": "x"}, key)
    assert other.status_code == 422
    assert other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    application_id = post(browser, {"company": "A", "role_title": "x"}, key).json["data"]["id"]
    elsewhere = post(
        browser,
        {"filename": "cv.txt", "content_type": "text/plain", "size": 3},
        key,
        path=f"/v1/applications/{application_id}/attachments",
    )
    assert elsewhere.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey", "caf\u00e9"])
def test_a_malformed_key_is_a_field_error(env, key):
    browser = env.user()
    result = post(browser, {"company": "Bad key", "role_title": "x"}, key)
    assert result.status_code == 422
    assert result.json["error"]["details"][0]["field"] == "Idempotency-Key"


def test_keys_belong_to_their_user(env):
    alice, bob = env.user(), env.user()
    key = str(uuid.uuid4())
    company = f"Shared key {uuid.uuid4()}"
    body = {"company": company, "role_title": "x"}
    first = post(alice, body, key)
    second = post(bob, body, key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second.headers
    assert first.json["data"]["id"] != second.json["data"]["id"]
    assert count_applications(company, alice) == 1
    assert count_applications(company, bob) == 1


def test_concurrent_requests_with_one_key_create_one_row(env):
    browser = env.user()
    company = f"Race {uuid.uuid4()}"
    key = str(uuid.uuid4())
    results, barrier = [], threading.Barrier(6)

    def attempt():
        client = Browser(env.app, env.settings)
        client.access_token = browser.access_token
        barrier.wait()
        results.append(post(client, {"company": company, "role_title": "x"}, key))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [result.status_code for result in results] == [201] * 6
    assert len({result.json["data"]["id"] for result in results}) == 1
    assert sum(result.headers.get("Idempotent-Replayed") == "true" for result in results) == 5
    assert count_applications(company, browser) == 1


def test_a_failed_create_keeps_no_key(env):
    browser = env.user()
    key = str(uuid.uuid4())
    missing = f"/v1/applications/{uuid.uuid4()}/attachments"
    body = {"filename": "cv.txt", "content_type": "text/plain", "size": 3}
    assert post(browser, body, key, path=missing).status_code == 404
    assert post(browser, body, key, path=missing).status_code == 404  # not a replay, not 422
    assert key not in keys_of(browser)


def test_an_attachment_create_is_replayed_too(env):
    browser = env.user()
    application_id = browser.request(
        "POST", "/v1/applications", json={"company": "Files", "role_title": "x"}
    ).json["data"]["id"]
    path = f"/v1/applications/{application_id}/attachments"
    body = {"filename": "cv.txt", "content_type": "text/plain", "size": 3}
    key = str(uuid.uuid4())
    first, again = post(browser, body, key, path=path), post(browser, body, key, path=path)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json["data"] == first.json["data"]
    with user_transaction(browser.user_id):
        assert Attachment.select().where(Attachment.application == application_id).count() == 1


def test_a_key_expires_after_24_hours(env):
    browser = env.user()
    key = str(uuid.uuid4())
    assert post(browser, {"company": "Day one", "role_title": "x"}, key).status_code == 201
    env.clock.advance(hours=23, minutes=59)
    assert browser.login(browser.email).status_code == 200
    assert post(browser, {"company": "Day two", "role_title": "x"}, key).status_code == 422
    env.clock.advance(minutes=1)
    later = post(browser, {"company": "Day two", "role_title": "x"}, key)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers


def test_housekeeping_deletes_expired_keys_only(settings):
    # Keys made a little over a day ago (the clock starts in the past) have expired by the
    # database's own clock, which the purge policy checks.
    past = Env(settings, clock=FakeClock(datetime.now(UTC) - timedelta(hours=25)))
    browser = past.user()
    old_key, new_key = str(uuid.uuid4()), str(uuid.uuid4())
    assert post(browser, {"company": "Old", "role_title": "x"}, old_key).status_code == 201
    past.clock.advance(hours=25)
    assert browser.login(browser.email).status_code == 200
    assert post(browser, {"company": "New", "role_title": "x"}, new_key).status_code == 201
    assert {old_key, new_key} <= keys_of(browser)
    past.provider.drainer.housekeeping()
    assert keys_of(browser) == {new_key}


def test_the_document_declares_the_header_on_exactly_the_honouring_operations():
    # The committed document (make policy keeps it equal to the generated one): building a
    # second document in this process would disturb the document tests.
    document = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text()
    )
    declared = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get("parameters", [])
    }
    assert declared == IDEMPOTENT_OPERATIONS
    assert document["components"]["parameters"]["IdempotencyKey"]["in"] == "header"

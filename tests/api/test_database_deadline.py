"""The database deadline against a frozen PostgreSQL (SIGSTOP), on a server of its own so the
session's server is never stopped: writes, reads and readiness answer 503 within the deadline,
and a write retried with its Idempotency-Key leaves exactly one row, even when the first attempt's
COMMIT outlived the deadline and persisted."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import falcon.testing
import psutil
import psycopg2
import pytest

from app.core.database import db
from app.core.local_postgres import LocalPostgres, start_local_database
from app.core.settings import Settings
from app.main import create_app
from tests.api.test_gunicorn import Gunicorn
from tests.conftest import api_environment
from tests.helpers import STRONG_PASSWORD, unique_email

DEADLINE_SECONDS = 2.0
# The machine running the suite is shared and loaded: the margin is generous on purpose.
MARGIN_SECONDS = 3.0


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory):
    database = start_local_database(
        tmp_path_factory.mktemp("deadline-pg"),
        api_environment(
            DB_REQUEST_DEADLINE_MS=str(int(DEADLINE_SECONDS * 1000)),
            READY_TIMEOUT_SECONDS="2",
            ARGON2_TIME_COST="1",
            ARGON2_MEMORY_KIB="8192",
        ),
    )
    yield database.server, database.environment
    database.server.destroy()


@contextlib.contextmanager
def frozen(server: LocalPostgres):
    """Every process of the server stopped (SIGSTOP) for the block, then continued."""
    postmaster = psutil.Process(int((server.data_dir / "postmaster.pid").read_text().split()[0]))
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


def json_request(server: Gunicorn, method: str, path: str, body=None, headers=None):
    sent = {"Content-Type": "application/json", **(headers or {})}
    started = time.monotonic()
    status, document, response = server.request(
        method, path, body=None if body is None else json.dumps(body), headers=sent, timeout=30
    )
    return status, document, response, time.monotonic() - started


def signed_in(server: Gunicorn) -> dict[str, str]:
    email = unique_email()
    credentials = {"email": email, "password": STRONG_PASSWORD}
    assert json_request(server, "POST", "/v1/auth/register", credentials)[0] == 201
    status, document, _, _ = json_request(server, "POST", "/v1/auth/login", credentials)
    assert status == 200, document
    return {"Authorization": f"Bearer {document['data']['access_token']}"}


def companies(server: Gunicorn, auth: dict[str, str], company: str) -> list[dict]:
    status, document, _, _ = json_request(server, "GET", "/v1/applications?limit=100", None, auth)
    assert status == 200, document
    return [item for item in document["data"] if item["company"] == company]


def test_a_frozen_database_answers_503_within_the_deadline_and_a_keyed_retry_writes_once(own_pg):
    pg, env = own_pg
    server = Gunicorn(env)
    try:
        auth = signed_in(server)
        key = {"Idempotency-Key": f"frozen-{uuid.uuid4()}"}
        body = {"company": "Frozen Ltd", "role_title": "Engineer"}
        with frozen(pg):
            status, document, response, elapsed = json_request(
                server, "POST", "/v1/applications", body, {**auth, **key}
            )
            assert status == 503, document
            assert document["error"]["code"] == "DATABASE_UNAVAILABLE"
            assert response.getheader("Retry-After")
            assert elapsed < DEADLINE_SECONDS + MARGIN_SECONDS

            status, document, _, elapsed = json_request(
                server, "GET", "/v1/applications", None, auth
            )
            assert (status, document["error"]["code"]) == (503, "DATABASE_UNAVAILABLE")
            assert elapsed < DEADLINE_SECONDS + MARGIN_SECONDS

            status, document, _, elapsed = json_request(server, "GET", "/health/ready")
            assert (status, document["error"]["code"]) == (503, "DATABASE_UNAVAILABLE")
            assert elapsed < 2 + MARGIN_SECONDS
            assert json_request(server, "GET", "/health")[0] == 200  # liveness never waits

        first = json_request(server, "POST", "/v1/applications", body, {**auth, **key})
        assert first[0] == 201, first[1]
        again = json_request(server, "POST", "/v1/applications", body, {**auth, **key})
        assert again[0] == 201
        assert again[1]["data"]["id"] == first[1]["data"]["id"]
        assert again[2].getheader("Idempotent-Replayed") == "true"
        assert len(companies(server, auth, "Frozen Ltd")) == 1
        assert json_request(server, "GET", "/health/ready")[0] == 200
    finally:
        server.stop()


@pytest.fixture
def slow_commit(own_pg):
    """A deferred trigger that makes the COMMIT of one company's insert outlast the deadline:
    the server commits after the client has given up."""
    pg, env = own_pg
    url = Settings.from_env(env).migrations_database_url
    statements = (
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_sleep({DEADLINE_SECONDS + 1}); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON applications "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "WHEN (NEW.company = 'Slow Commit Ltd') EXECUTE FUNCTION slow_commit()",
    )
    with contextlib.closing(psycopg2.connect(url)) as connection, connection:
        for statement in statements:
            connection.cursor().execute(statement)
    yield env
    with contextlib.closing(psycopg2.connect(url)) as connection, connection:
        connection.cursor().execute("DROP TRIGGER slow_commit ON applications")
        connection.cursor().execute("DROP FUNCTION slow_commit()")


def test_a_commit_that_outlives_the_deadline_is_replayed_not_written_twice(slow_commit):
    settings = Settings.from_env(slow_commit)
    http = falcon.testing.TestClient(create_app(settings))
    email = unique_email()
    credentials = {"email": email, "password": STRONG_PASSWORD}
    assert http.simulate_post("/v1/auth/register", json=credentials).status_code == 201
    token = http.simulate_post("/v1/auth/login", json=credentials).json["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"slow-{uuid.uuid4()}"}
    body = {"company": "Slow Commit Ltd", "role_title": "Engineer"}

    started = time.monotonic()
    first = http.simulate_post("/v1/applications", json=body, headers=headers)
    assert first.status_code == 503 and first.json["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert time.monotonic() - started < DEADLINE_SECONDS + MARGIN_SECONDS
    # The connection that met the deadline was closed and is not back in the pool.
    assert all(not connection.closed for *_, connection in db.obj._connections)

    # The server finishes the COMMIT the client gave up on (the trigger sleeps a second past
    # the deadline); wait for it as long as a loaded machine may need, not a fixed time.
    persisted: list[dict] = []
    give_up = time.monotonic() + DEADLINE_SECONDS + 1 + 15
    while not persisted and time.monotonic() < give_up:
        time.sleep(0.2)
        listed = http.simulate_get("/v1/applications", headers=headers).json["data"]
        persisted = [item for item in listed if item["company"] == "Slow Commit Ltd"]
    assert len(persisted) == 1, "the write behind the 503 should have persisted"

    retry = http.simulate_post("/v1/applications", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json["data"]["id"] == persisted[0]["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    listed = http.simulate_get("/v1/applications", headers=headers).json["data"]
    assert [item["id"] for item in listed if item["company"] == "Slow Commit Ltd"] == [
        persisted[0]["id"]
    ]

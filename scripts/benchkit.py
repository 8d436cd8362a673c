"""Shared pieces of the benchmarks: a throw-away PostgreSQL with the roles and migrations,
seeded accounts, and the API (or any WSGI app) served by gunicorn with app/gunicorn_conf.py."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
from argon2 import PasswordHasher, Type

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.core.local_gunicorn import API, LocalGunicorn  # noqa: E402
from app.core.local_postgres import LocalPostgres, free_port, start_local_database  # noqa: E402
from app.core.memory import GLIBC_TUNABLES  # noqa: E402
from app.core.settings import Settings  # noqa: E402

PASSWORD = "correct-horse-battery-staple-42"

__all__ = [
    "GLIBC_TUNABLES",
    "PASSWORD",
    "REPO",
    "Database",
    "default_hasher",
    "free_port",
    "gunicorn",
    "local_database",
    "add_autogroup_option",
    "login",
    "scheduler_autogroup",
    "seed",
    "tree_rss",
]

AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")
AUTOGROUP_NOTE = (
    "the kernel schedules each session as one group (kernel.sched_autogroup_enabled): pg_ctl "
    "starts PostgreSQL in a session of its own, so on a machine shared with the load generator "
    "and the API its backends can wait 100 ms and more for a CPU, and those waits land in the "
    "API's tail latency; --no-autogroup (as root) turns the grouping off for the run"
)


@dataclass
class Database:
    server: LocalPostgres
    env: dict[str, str]
    config: Settings


def add_autogroup_option(parser: argparse.ArgumentParser) -> None:
    """``--no-autogroup``, the benchmarks' switch for ``scheduler_autogroup``."""
    parser.add_argument(
        "--no-autogroup",
        action="store_true",
        help="turn the kernel's per-session scheduling groups off for the run and back on "
        "after (root; see benchkit.scheduler_autogroup)",
    )


@contextlib.contextmanager
def scheduler_autogroup(turn_off: bool) -> Iterator[str]:
    """Yield how the kernel groups sessions for scheduling during the run, as a phrase for the
    report; with ``turn_off``, turn the grouping off for the run and restore it after.

    With autogroup on, every session (``setsid``) competes for the CPUs as one group. pg_ctl
    starts PostgreSQL in a session of its own, while the load generator and the API share the
    benchmark's: on a small machine the PostgreSQL group's share of a core can fall so low that
    a backend waits 100 to 850 ms on the run queue with its answer half done (docs/benchmarks.md,
    "PostgreSQL's run-queue waits"). In production the database has its own machine, so that
    wait is the benchmark's, not the API's."""
    if not AUTOGROUP.exists():
        yield "not in this kernel"
        return
    before = AUTOGROUP.read_text().strip()
    if before == "0":
        yield "off"
        return
    if not turn_off:
        yield "on"
        return
    try:
        AUTOGROUP.write_text("0")
    except OSError as error:
        yield f"on (it could not be turned off: {error.strerror})"
        return
    # A run stopped with SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C does, so the
    # setting comes back then too; only SIGKILL leaves it off.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield "off for the run (on before it, and on again after)"
    finally:
        AUTOGROUP.write_text(before)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def default_hasher() -> tuple[Settings, PasswordHasher]:
    """The production argon2 parameters (settings' defaults) and a hasher using them."""
    defaults = Settings.from_env({})
    hasher = PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
        type=Type.ID,
    )
    return defaults, hasher


@contextlib.contextmanager
def local_database(workers: int, threads: int, *, log_level: str = "WARNING") -> Iterator[Database]:
    """A throw-away PostgreSQL with the roles bootstrapped and the migrations applied, and the
    environment the API runs with against it (rate limits raised with RATE_LIMIT_SCALE)."""
    with tempfile.TemporaryDirectory() as scratch:
        environment = {
            "APP_ENV": "test",
            "JWT_SECRET": "b" * 48,
            "EMAIL_PROVIDER": "console",
            "RATE_LIMIT_SCALE": "1000",
            "LOG_LEVEL": log_level,
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "TRUSTED_PROXY_HOPS": "1",
            "PATH": os.environ["PATH"],
            "GLIBC_TUNABLES": GLIBC_TUNABLES,
        }
        database = start_local_database(Path(scratch) / "pg", environment)
        try:
            yield Database(database.server, database.environment, database.settings)
        finally:
            database.server.destroy()


def seed(url: str, hasher: PasswordHasher, count: int) -> list[str]:
    """``count`` active accounts sharing one precomputed hash of PASSWORD; their emails."""
    encoded = hasher.hash(PASSWORD)
    emails = [f"bench-{uuid.uuid4().hex[:10]}@example.com" for _ in range(count)]
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        for email in emails:
            cursor.execute(
                "INSERT INTO users (id, email, password_hash, password_changed_at, "
                "force_password_change, is_active, created_at, updated_at) "
                "VALUES (%s, %s, %s, now(), false, true, now(), now())",
                (str(uuid.uuid4()), email, encoded),
            )
    return emails


def gunicorn(
    port: int, env: dict[str, str], target: str = API, *options: str
) -> subprocess.Popen[bytes]:
    """``target`` served by gunicorn with the project's configuration module; ``options`` are
    gunicorn command-line settings, which override that module's."""
    return LocalGunicorn(env, *options, target=target, port=port, output=subprocess.DEVNULL).process


def wait_until(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def login(
    port: int, email: str, connection: http.client.HTTPConnection | None = None
) -> tuple[int, float]:
    status, elapsed, _ = login_body(port, email, connection)
    return status, elapsed


def login_body(
    port: int, email: str, connection: http.client.HTTPConnection | None = None
) -> tuple[int, float, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"email": email, "password": PASSWORD})
    started = time.perf_counter()
    connection.request(
        "POST",
        "/v1/auth/login",
        body=body,
        headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.7"},
    )
    response = connection.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    if own:
        connection.close()
    return response.status, elapsed, payload


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total

"""`make dev` as a new user meets it: the CLI commands share its PostgreSQL without stopping it, a
ready banner (localhost URLs, /docs, /openapi.json, where the credentials are) comes only once
/health/ready answers, PORT is honoured, a busy port is one line, and `.env.example` copied or
sourced unchanged gives the same local set-up.

The commands run exactly as `python -m app.cli` does, with the local data folder (normally
`var/`) moved into the test's temporary directory."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from app.core.local_postgres import LocalPostgres, free_port
from tests.helpers import STRONG_PASSWORD, unique_email

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 300  # initdb, migrations and gunicorn's first worker on a loaded machine

# app.cli with its var/ folder in ``sys.argv[1]``; the remaining arguments are the CLI's own.
CLI_IN = (
    "import sys; from pathlib import Path; import app.cli as cli; "
    "root = Path(sys.argv[1]); cli.LOCAL_DB_DIR = root / 'postgres'; "
    "cli.DEV_SECRETS_FILE = root / 'dev-secrets.json'; cli.DOTENV_FILE = root / '.env'; "
    "sys.exit(cli.main(sys.argv[2:]))"
)


def base_env(var: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "LOCAL_STORAGE_DIR": str(var / "uploads"),
        "WEB_CONCURRENCY": "1",
        **extra,
    }


def cli_command(var: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", CLI_IN, str(var), *args]


def run_cli(var: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 180):
    return subprocess.run(
        cli_command(var, *args),
        cwd=REPO,
        env=env or base_env(var),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ready(port: int) -> int:
    return requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=30).status_code


class Console:
    """The dev server's merged stdout/stderr, read line by line on a thread."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process):
        for line in process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line; console so far:\n" + "\n".join(self.lines))

    def drain(self, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                return
            self.lines.append(line)


@pytest.fixture
def dev_server():
    # Not under pytest's own temporary root: every pytest run resets that to mode 700, which
    # would lock the unprivileged server user out of its data directory mid-test.
    var = Path(tempfile.mkdtemp(prefix="jat-dev-server-"))
    port = free_port()
    process = subprocess.Popen(
        cli_command(var, "dev"),
        cwd=REPO,
        env=base_env(var, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(process)
    try:
        yield var, port, process, console
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
        LocalPostgres(var / "postgres").stop()
        shutil.rmtree(var, ignore_errors=True)


def test_cli_commands_leave_the_dev_server_running(dev_server, tmp_path):
    var, port, process, console = dev_server
    console.wait_for("ready:", READY_TIMEOUT)
    console.wait_for("  Ctrl-C", 10)
    banner = "\n".join(console.lines)

    # the banner: only after /health/ready answers, and nothing claimed "Listening" before it
    assert not any("Listening" in line for line in console.lines), banner
    base = f"http://localhost:{port}"
    assert f"ready: the API answers on {base}" in banner
    assert f"{base}/docs" in banner and f"{base}/openapi.json" in banner
    assert f"credentials in {var / 'postgres' / 'credentials.json'}" in banner
    urls = re.findall(r"https?://[^\s;,)]+", banner)
    assert urls and {urlsplit(u).hostname for u in urls} == {"localhost"}, urls
    assert ready(port) == 200

    # upload URLs use localhost and the port served, as API_URL does
    api = requests.Session()
    email = unique_email("dev")
    body = {"email": email, "password": STRONG_PASSWORD}
    assert api.post(f"{base}/v1/auth/register", json=body, timeout=60).status_code == 201
    login = api.post(f"{base}/v1/auth/login", json=body, timeout=60)
    assert login.status_code == 200, login.text
    api.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
    created = api.post(
        f"{base}/v1/applications", json={"company": "Acme", "role_title": "Dev"}, timeout=30
    )
    assert created.status_code == 201, created.text
    attachment = api.post(
        f"{base}/v1/applications/{created.json()['data']['id']}/attachments",
        json={"filename": "cv.txt", "content_type": "text/plain", "size": 5},
        timeout=30,
    )
    assert attachment.status_code == 201, attachment.text
    upload = urlsplit(attachment.json()["data"]["upload"]["url"])
    assert (upload.hostname, upload.port) == ("localhost", port)

    migrations = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    commands = [
        ("db", "status"),
        ("db", "migrate"),
        ("db", "generate", "nothing_changed", "--dir", str(migrations)),
        ("db", "bootstrap-roles"),
        ("users", "force-password-change", email),
    ]
    secrets = json.loads((var / "dev-secrets.json").read_text())
    for command in commands:
        result = run_cli(var, *command, env=base_env(var, **secrets))
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert LocalPostgres(var / "postgres").is_running(), command
        assert ready(port) == 200, command
    assert process.poll() is None

    # Ctrl-C's SIGTERM path: the server make dev started is stopped with it
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0
    console.drain()
    assert "local PostgreSQL stopped" in console.lines
    assert not LocalPostgres(var / "postgres").is_running()

    # alone, a command starts the local server and stops the one it started
    result = run_cli(var, "db", "status")
    assert result.returncode == 0 and "[x] 001_baseline" in result.stdout, result.stderr
    assert not LocalPostgres(var / "postgres").is_running()


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("how", ["argument", "PORT"])
def test_busy_port_is_one_line_naming_it_and_the_way_out(busy_port, tmp_path, how):
    var = tmp_path / "var"
    args, extra = (
        (("dev", "--port", str(busy_port)), {})
        if how == "argument"
        else (
            ("dev",),
            {"PORT": str(busy_port)},
        )
    )
    result = run_cli(var, *args, env=base_env(var, **extra), timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {busy_port} is in use" in lines[0] and "make dev PORT=" in lines[0]
    assert not (var / "postgres").exists()  # refused before anything started


def test_bootstrap_roles_against_an_unreachable_admin_url_is_one_line(tmp_path):
    var = tmp_path / "var"
    closed = free_port()
    password = "never-printed-0123456789"
    env = base_env(
        var, DB_MIGRATOR_PASSWORD="m" * 20, DB_APP_PASSWORD="a" * 20, DB_JOBS_PASSWORD="j" * 20
    )
    result = run_cli(
        var,
        "db",
        "bootstrap-roles",
        "--admin-url",
        f"postgresql://admin:{password}@127.0.0.1:{closed}/postgres",
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{closed} as admin" in lines[0]
    assert password not in result.stderr + result.stdout


# ----- .env.example ------------------------------------------------------------------------------

# Prints the settings the API would run with in `make dev` (port 8000), and whether the embedded
# database would be used, under whatever environment this runs in.
SETTINGS_OF_DEV = """
import dataclasses, json, sys
from pathlib import Path
import app.cli as cli
from app.core.local_postgres import LocalCredentials, LocalPostgres
from app.core.settings import Settings, database_variables_present
root = Path(sys.argv[1])
cli.DEV_SECRETS_FILE = root / "dev-secrets.json"
cli.DOTENV_FILE = root / ".env"
cli.load_dotenv_file()
local = LocalPostgres(root / "postgres")
passwords = {role: role * 8 for role in ("migrator", "app", "jobs")}
local.credentials = LocalCredentials(54321, "superuser", "admin", passwords)
settings = Settings.from_env(cli.dev_environment(local, cli.development_port()), component="api")
values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
values.pop("environ", None)
values["local_storage_dir"] = str(Path(values["local_storage_dir"]).resolve())  # cwd: the repo
print(json.dumps({"local": not database_variables_present(), "settings": values}, default=str))
"""


def settings_of_dev(var: Path, *, source: Path | None = None) -> dict:
    prelude = f'set -a; . "{source}"; set +a; ' if source else ""
    result = subprocess.run(
        ["bash", "-c", prelude + 'exec "$@"', "bash", sys.executable, "-c", SETTINGS_OF_DEV, var],
        cwd=REPO,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_env_example_copied_or_sourced_gives_the_local_set_up(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    plain = settings_of_dev(var)
    assert plain["local"] is True
    expected = plain["settings"]
    assert expected["db_host"] == "127.0.0.1" and expected["db_port"] == 54321
    assert expected["api_url"] == "http://localhost:8000"

    sourced = settings_of_dev(var, source=REPO / ".env.example")
    shutil.copy(REPO / ".env.example", var / ".env")
    copied = settings_of_dev(var)
    for name, run in (("sourced", sourced), ("copied as .env", copied)):
        assert run["local"] is True, name
        differences = {
            key: (expected[key], run["settings"].get(key))
            for key in expected
            if run["settings"].get(key) != expected[key]
        }
        assert differences == {}, f".env.example {name} changes the local set-up: {differences}"


def test_dotenv_fills_in_but_the_environment_wins(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / ".env").write_text("PORT=8123  # the port\nLOG_LEVEL=DEBUG\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, os; from pathlib import Path; import app.cli as cli; "
            "cli.load_dotenv_file(Path(sys.argv[1])); "
            "print(os.environ['PORT'], os.environ['LOG_LEVEL'])",
            str(var / ".env"),
        ],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == ["8123", "WARNING"], result.stderr

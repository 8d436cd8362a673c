"""Throughput, latency, CPU and memory of the API's endpoints against a bare-Falcon ceiling.

    uv run python scripts/bench.py --short          # list, get one, me, health: about 2 minutes
    uv run python scripts/bench.py                  # the same and stats and create, 10 s each

It starts a throw-away local PostgreSQL, applies the migrations, seeds users x applications
(each with its status timeline), and serves the API with gunicorn (app/gunicorn_conf.py, through
scripts/bench_gunicorn_conf.py, which only adds a per-worker request count) over real HTTP, with
the production adapters loaded (S3 storage and the Lambda notifier against moto's server, the
Resend email provider against a local stub: scripts/bench_adapters.py), both servers run from a
virtualenv of the locked runtime dependencies alone, as the image installs them (``--dev-venv``:
from the development environment instead). wrk drives each endpoint
with keep-alive connections, one wrk thread per connection, so every connection sends its own
user's bearer token (and, for get-one, that user's ids):

- list:   GET  /v1/applications?limit=20    (JWT, the user's current state, RLS, PostgreSQL)
- get:    GET  /v1/applications/{id}
- me:     GET  /v1/users/me
- health: GET  /health
- stats:  GET  /v1/applications/stats        (full mode only)
- create: POST /v1/applications              (full mode only)

The ceiling, a bare Falcon app without middleware (scripts/ceiling_app.py) answering a constant
page of the list's shape and the same health route, is served at the same time with the same
gunicorn settings and measured the same way; list and health alternate with the ceiling's,
``--rounds`` times each, so each ratio compares two runs seconds apart, and the target takes
the median; get one and me run in each list round, after the ceiling's list, and are compared
with it. Rate limits are raised with
RATE_LIMIT_SCALE (a documented setting) so the limiter stays in the path without tripping; any
non-2xx answer makes the run invalid.

Per run it reports requests/s, p50 and p99, the requests each worker answered and its share of the
workers' CPU, the connections each held, the CPU seconds of the gunicorn process tree and of
PostgreSQL per request, and the load average. After the list rounds it takes one attachment per
signed-in user through every S3 call the API makes (create, upload to the stub, complete, get
with its download URL, delete) and reports the worker RSS after that too. Then it
profiles the list request in-process (falcon's test client, same database) and counts the SQL
round trips of one list request on the wire. It prints every target (issue 16) with its figure
and verdict, and writes its section of docs/benchmarks.md (between the ``bench.py`` markers;
everything else in the file is kept) unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import inspect
import io
import json
import os
import platform
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import psycopg2
from bench_adapters import production_adapters
from bench_gunicorn_conf import SLOT, SLOTS, read_counts
from benchkit import (
    AUTOGROUP_NOTE,
    REPO,
    Database,
    add_autogroup_option,
    default_hasher,
    local_database,
    login_body,
    scheduler_autogroup,
    seed,
    wait_until,
)

from app.core.local_gunicorn import LocalGunicorn
from app.core.local_postgres import SUPERUSER, LocalPostgres

if TYPE_CHECKING:
    from falcon.testing import TestClient

DOC = REPO / "docs" / "benchmarks.md"
RUN_START = "<!-- bench.py: the latest run, rewritten by scripts/bench.py -->"
RUN_END = "<!-- /bench.py -->"

# Issue 16's targets.
CEILING_SHARE = 0.2  # authenticated list >= 0.2 x the ceiling's list, median of the rounds
CPU_PER_LIST_MS = 1.0  # server CPU per list request
WORKER_SHARE = 0.6  # no worker answers more than this share of a run's requests
HEALTH_SHARE = 0.9  # health >= 0.9 x the ceiling's health
TAIL_RATIO = 3.0  # p99 <= 3 x p50
RSS_LIMIT_MB = 80.0  # each worker after the list run

# app/gunicorn_conf.py recycles a worker after 5000 +/- 500 requests. The ceiling answers that
# many in about a second, so a run of it would mostly measure worker boots. Both servers run
# with recycling off instead, so each figure is the steady state; everything else comes from
# the configuration module.
STEADY_STATE = ("--max-requests", "0")
BENCH_CONF = "scripts/bench_gunicorn_conf.py"
SETTLE_SECONDS = 0.5

STATUSES = (
    "wishlist", "applied", "screening", "interviewing", "offer", "accepted", "rejected", "withdrawn",
)  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    mode: str  # the wrk script's mode
    ceiling: str | None  # the ceiling's endpoint it is compared with


ENDPOINTS = {
    "list": Endpoint("list", "list (GET /v1/applications?limit=20)", "list", "list"),
    "get": Endpoint("get", "get one (GET /v1/applications/{id})", "get", "list"),
    "me": Endpoint("me", "me (GET /v1/users/me)", "me", "list"),
    "health": Endpoint("health", "health (GET /health)", "health", "health"),
    "stats": Endpoint("stats", "stats (GET /v1/applications/stats)", "stats", "list"),
    "create": Endpoint("create", "create (POST /v1/applications)", "create", "list"),
}
SHORT = ("list", "get", "me", "health")
FULL = (*SHORT, "stats", "create")

LUA = r"""
-- One wrk thread per connection (wrk -t N -c N): the thread's slot picks its user.
local slot_counter = 0

function setup(thread)
  thread:set("slot", slot_counter)
  slot_counter = slot_counter + 1
end

function init(args)
  local data = dofile(args[1])
  mode = args[2]
  local user = (slot % #data.tokens) + 1
  ids = data.ids[user]
  sent = 0
  headers = {
    ["Authorization"] = "Bearer " .. data.tokens[user],
    ["X-Forwarded-For"] = "203.0.113." .. (slot % 250 + 1),
  }
  if mode == "create" then
    headers["Content-Type"] = "application/json"
  elseif mode == "list" then
    fixed = wrk.format("GET", "/v1/applications?limit=20", headers)
  elseif mode == "stats" then
    fixed = wrk.format("GET", "/v1/applications/stats", headers)
  elseif mode == "me" then
    fixed = wrk.format("GET", "/v1/users/me", headers)
  elseif mode == "health" then
    fixed = wrk.format("GET", "/health", {["X-Forwarded-For"] = headers["X-Forwarded-For"]})
  end
end

function request()
  sent = sent + 1
  if fixed then
    return fixed
  elseif mode == "get" then
    return wrk.format("GET", "/v1/applications/" .. ids[(sent % #ids) + 1], headers)
  end
  local body = string.format(
    '{"company":"Bench Co %d","role_title":"Engineer %d","status":"applied",' ..
    '"location":"Remote","salary_min":50000,"salary_max":70000,"salary_currency":"EUR"}',
    slot, sent)
  return wrk.format("POST", "/v1/applications", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Result:
    name: str
    key: str
    server: str  # "api" or "ceiling"
    round: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict
    per_worker: list[int] = field(default_factory=list)
    # Each worker's share of the gunicorn workers' CPU seconds, in the order of per_worker.
    cpu_shares: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms if self.p50_ms else float("inf")

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def top_share(self) -> float:
        total = sum(self.per_worker)
        return max(self.per_worker) / total if total else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU (the gunicorn process tree) per request, in ms."""
        return self.server_cpu_s / self.requests * 1000 if self.requests else 0.0

    @property
    def database_ms(self) -> float:
        return self.database_cpu_s / self.requests * 1000 if self.requests else 0.0

    def split(self) -> str:
        total = sum(self.per_worker) or 1
        return " / ".join(f"{count / total:.0%}" for count in self.per_worker)

    def cpu_split(self) -> str:
        return " / ".join(f"{share:.0%}" for share in self.cpu_shares)


# ----- dataset --------------------------------------------------------------------------------


def machine_neutral(text: str) -> str:
    """Profile lines name files relative to the repository, site-packages or the standard
    library, never by this machine's absolute paths."""
    import sysconfig

    prefixes = [
        (sysconfig.get_paths()["purelib"] + "/", "site-packages/"),
        (sysconfig.get_paths()["stdlib"] + "/", "stdlib/"),
        (str(REPO) + "/", ""),
    ]
    for prefix, short in prefixes:
        text = text.replace(prefix, short)
    return text


def seed_applications(url: str, per_user: int) -> dict[str, list[str]]:
    """``per_user`` applications for every user, inserted as the app role under RLS, each with
    its creation event and, past ``applied``, a status-change event. Returns ids per user."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id::text FROM users ORDER BY email")
        users = [row[0] for row in cursor.fetchall()]
    ids: dict[str, list[str]] = {}
    connection = psycopg2.connect(url)
    try:
        for user in users:
            with connection, connection.cursor() as cursor:
                cursor.execute("SELECT set_config('app.user_id', %s, true)", (user,))
                cursor.execute(
                    """
                    INSERT INTO applications (
                        id, owner_id, company, role_title, status, applied_on, job_url,
                        location, source, salary_min, salary_max, salary_currency, notes,
                        next_action_at, archived, created_at, updated_at, version)
                    SELECT gen_random_uuid(), %(user)s, 'Company ' || n, 'Engineer ' || (n %% 17),
                        (%(statuses)s::text[])[1 + n %% 8],
                        CURRENT_DATE - (n %% 90),
                        'https://jobs.example.com/' || n,
                        'Remote', 'referral', 40000 + n * 10, 60000 + n * 10, 'EUR',
                        'Notes on application ' || n || ': recruiter call, take-home, panel.',
                        NULL, n %% 23 = 0,
                        now() - make_interval(hours => n), now() - make_interval(mins => n), 1
                    FROM generate_series(1, %(count)s) AS n
                    RETURNING id::text
                    """,
                    {"user": user, "statuses": list(STATUSES), "count": per_user},
                )
                ids[user] = [row[0] for row in cursor.fetchall()]
                cursor.execute(
                    """
                    INSERT INTO application_events (
                        id, application_id, owner_id, from_status, to_status, note, created_at)
                    SELECT gen_random_uuid(), id, owner_id, NULL, 'applied', NULL, created_at
                    FROM applications WHERE owner_id = %(user)s
                    UNION ALL
                    SELECT gen_random_uuid(), id, owner_id, 'applied', status, 'moved on',
                        updated_at
                    FROM applications WHERE owner_id = %(user)s AND status <> 'applied'
                    """,
                    {"user": user},
                )
    finally:
        connection.close()
    return ids


def as_superuser(server: LocalPostgres, *statements: str) -> None:
    """Run ``statements`` on the local server as its superuser, each in its own transaction."""
    assert server.credentials is not None, "the server is started"
    connection = psycopg2.connect(server.url(SUPERUSER, server.credentials.superuser_password))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def settle(server: LocalPostgres) -> None:
    """Statistics for the planner and a checkpoint now, so neither lands inside a measurement."""
    as_superuser(server, "VACUUM ANALYZE", "CHECKPOINT")


def sign_in(port: int, emails: list[str]) -> list[tuple[str, str]]:
    """(user id, access token) per email, logged in over HTTP."""

    def one(email: str) -> tuple[str, str]:
        status, _, payload = login_body(port, email)
        if status != 200:
            raise SystemExit(f"login failed with {status}: {payload[:200]!r}")
        data = json.loads(payload)["data"]
        return data["user"]["id"], data["access_token"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, emails))


def lua_data(path: Path, users: list[tuple[str, str]], ids: dict[str, list[str]]) -> None:
    lines = ["return {", "  tokens = {"]
    lines += [f'    "{token}",' for _, token in users]
    lines += ["  },", "  ids = {"]
    for user_id, _ in users:
        lines.append("    {" + ",".join(f'"{value}"' for value in ids[user_id]) + "},")
    lines += ["  },", "}"]
    path.write_text("\n".join(lines) + "\n")


# ----- servers and load -----------------------------------------------------------------------


@dataclass
class Served:
    name: str
    port: int
    master: psutil.Process
    counts_path: str

    def counts(self) -> dict[int, int]:
        return read_counts(self.counts_path)

    def workers(self) -> list[psutil.Process]:
        return self.master.children()

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in [self.master, *self.master.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds (user and system) per worker pid."""
        out = {}
        for worker in self.workers():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = worker.cpu_times()
                out[worker.pid] = times.user + times.system
        return out

    def worker_rss(self) -> list[float]:
        return [child.memory_info().rss / 2**20 for child in self.workers()]

    def connections(self) -> list[int]:
        """Established client connections each worker holds, most first."""
        held = []
        for worker in self.workers():
            with contextlib.suppress(psutil.NoSuchProcess):
                held.append(
                    sum(
                        1
                        for each in worker.net_connections(kind="tcp")
                        if each.status == psutil.CONN_ESTABLISHED
                        and each.laddr
                        and each.laddr.port == self.port
                    )
                )
        return sorted(held, reverse=True)


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local URL
        return response.status, dict(response.headers.items())


def runtime_python(scratch: Path) -> str:
    """A virtualenv of the locked runtime dependencies alone (no dev or infra group), as the
    image installs them (Dockerfile: ``uv export --no-dev --no-group infra``) with their bytecode
    compiled (as the image's is: without it, the master compiles every module it imports and
    each worker inherits the garbage), made by uv from its cache in a few seconds; its
    interpreter. The development environment also holds tools that
    libraries pick up when present (structlog imports rich and greenlet, requests simplejson):
    about 7 MB in every worker that production never loads."""
    uv = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    target = scratch / "runtime-venv"
    subprocess.run(
        [uv, "sync", "--frozen", "--no-default-groups", "--compile-bytecode", "--quiet"],
        cwd=REPO,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(target)},
        check=True,
    )
    return str(target / "bin" / "python")


@contextlib.contextmanager
def served(
    name: str,
    env: dict[str, str],
    target: str,
    probe: str,
    workers: int,
    scratch: Path,
    python: str = sys.executable,
) -> Iterator[Served]:
    """``target`` under gunicorn (run by ``python``); yields once every worker has loaded the
    app."""
    counts_path = scratch / f"{name}.counts"
    counts_path.write_bytes(b"\0" * SLOT.size * SLOTS)
    gunicorn = LocalGunicorn(
        {**env, "BENCH_WORKER_COUNTS": str(counts_path)},
        *STEADY_STATE,
        target=target,
        config=BENCH_CONF,
        output=subprocess.DEVNULL,
        python=python,
    )
    server = Served(name, gunicorn.port, psutil.Process(gunicorn.process.pid), str(counts_path))
    try:
        if not wait_until(lambda: http_get(gunicorn.port, probe)[0] == 200):
            raise SystemExit(f"{target} did not start answering {probe}")
        if not wait_until(lambda: len(server.counts()) >= workers):
            raise SystemExit(f"{target}: not every worker finished loading")
        yield server
    finally:
        gunicorn.stop(timeout=30)


def database_cpu_seconds(server: LocalPostgres) -> float:
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    total = 0.0
    for process in [postmaster, *postmaster.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def run_wrk(
    port: int, mode: str, script: Path, data: Path, connections: int, seconds: float
) -> dict[str, Any]:
    command = [
        "wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds:g}s",
        "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}",
        "--", str(data), mode,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def measure(
    endpoint: Endpoint,
    server: Served,
    database: LocalPostgres,
    args: argparse.Namespace,
    files: tuple[Path, Path],
    round_: int = 0,
) -> Result:
    script, data = files
    if args.warmup:
        run_wrk(server.port, endpoint.mode, script, data, args.connections, args.warmup)
        # The warm-up's connections are closing: let the workers finish with them, so the
        # measured run's connections are spread over what the workers hold from now on.
        time.sleep(SETTLE_SECONDS)
    load = os.getloadavg()
    worker_cpu = server.worker_cpu()
    counts, cpu, database_cpu = (
        server.counts(),
        server.cpu_seconds(),
        database_cpu_seconds(database),
    )
    held: list[int] = []
    sampler = threading.Timer(args.duration / 2, lambda: held.extend(server.connections()))
    sampler.start()
    measured = run_wrk(server.port, endpoint.mode, script, data, args.connections, args.duration)
    sampler.join()
    after = server.counts()
    worker_cpu = {
        pid: seconds - worker_cpu.get(pid, 0.0) for pid, seconds in server.worker_cpu().items()
    }
    answered = {pid: after[pid] - counts.get(pid, 0) for pid in after}
    order = sorted(answered, key=lambda pid: answered[pid], reverse=True)
    cpu_total = sum(worker_cpu.get(pid, 0.0) for pid in order) or 1.0
    result = Result(
        name=endpoint.label if server.name == "api" else f"ceiling: {endpoint.mode}",
        key=endpoint.key,
        server=server.name,
        round=round_,
        requests=measured["requests"],
        seconds=measured["duration_us"] / 1e6,
        p50_ms=measured["p50_us"] / 1000,
        p99_ms=measured["p99_us"] / 1000,
        errors={
            key: measured[key]
            for key in ("status", "connect", "read", "write", "timeout")
            if measured[key]
        },
        per_worker=[answered[pid] for pid in order],
        cpu_shares=[worker_cpu.get(pid, 0.0) / cpu_total for pid in order],
        connections=held,
        server_cpu_s=server.cpu_seconds() - cpu,
        database_cpu_s=database_cpu_seconds(database) - database_cpu,
        load=load,
    )
    print(
        f"{result.name:<40} {result.rps:>8,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  cpu {result.cpu_ms:5.2f} ms/req  "
        f"workers {result.split():<9} (cpu {result.cpu_split()}; conns {'/'.join(map(str, held))})"
        f"  load {load[0]:.2f}  "
        f"errors {result.errors or 0}",
        flush=True,
    )
    return result


SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Cache-Control",
    "Content-Security-Policy",
)


def health_headers(port: int) -> list[str]:
    """The headers /health must carry that its answer lacks (empty when all are there)."""
    _, headers = http_get(port, "/health")
    present = {name.lower() for name in headers}
    return [name for name in ("X-Request-ID", *SECURITY_HEADERS) if name.lower() not in present]


# ----- attachments: every S3 call an API worker makes -----------------------------------------


def api_call(
    port: int, method: str, path: str, token: str, body: dict | None = None
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local URL
            payload = response.read()
            return response.status, json.loads(payload) if payload else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def attachment_round_trip(
    port: int, database_url: str, user: tuple[str, str], application_id: str
) -> None:
    """One attachment through every S3 call the API makes: the presigned POST (create), the
    upload to the S3 stub, ListObjectVersions (complete), the presigned GET of a clean file
    (get), ListObjectVersions and DeleteObjects (delete). The scan result is written to the
    database directly (it comes from the scan-result Lambda, not from the API)."""
    import requests

    user_id, token = user
    content = b"%PDF-1.7 a small cv for the benchmark\n"
    status, created = api_call(
        port,
        "POST",
        f"/v1/applications/{application_id}/attachments",
        token,
        {"filename": "cv.pdf", "content_type": "application/pdf", "size": len(content)},
    )
    if status != 201:
        raise SystemExit(f"attachment create answered {status}: {created}")
    upload, attachment_id = created["data"]["upload"], created["data"]["attachment"]["id"]
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("cv.pdf", content, "application/pdf")},
        timeout=30,
    )
    if posted.status_code not in (200, 204):
        raise SystemExit(f"the S3 stub refused the presigned POST: {posted.status_code}")
    status, completed = api_call(port, "POST", f"/v1/attachments/{attachment_id}/complete", token)
    if status != 200:
        raise SystemExit(f"attachment complete answered {status}: {completed}")
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.user_id', %s, true)", (user_id,))
        cursor.execute(
            "UPDATE attachments SET status = 'clean', scanned_at = now() WHERE id = %s",
            (attachment_id,),
        )
    status, fetched = api_call(port, "GET", f"/v1/attachments/{attachment_id}", token)
    if status != 200 or not fetched["data"].get("download_url"):
        raise SystemExit(f"attachment get answered {status} without a download URL: {fetched}")
    status, _ = api_call(port, "DELETE", f"/v1/attachments/{attachment_id}", token)
    if status != 204:
        raise SystemExit(f"attachment delete answered {status}")


def serve_attachments(
    port: int, database_url: str, users: list[tuple[str, str]], ids: dict[str, list[str]]
) -> int:
    """An attachment round trip per user, four at a time, so every worker serves some."""
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda user: attachment_round_trip(port, database_url, user, ids[user[0]][0]),
                users,
            )
        )
    return len(users)


# ----- profile and round trips ----------------------------------------------------------------


class CountingProxy:
    """A TCP relay in front of PostgreSQL that records every query message the client sends.

    psycopg2 speaks the simple query protocol: each 'Q' message is one statement string and
    one round trip (the client waits for ReadyForQuery before sending the next)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.recording = False
        self.messages: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._inspect, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def _inspect(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer, started = b"", False
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                upstream.sendall(data)
                buffer += data
                while True:
                    if not started:  # untyped: SSL/GSS negotiation, then the startup packet
                        if len(buffer) < 8:
                            break
                        length = int.from_bytes(buffer[:4], "big")
                        code = int.from_bytes(buffer[4:8], "big")
                        if len(buffer) < length:
                            break
                        buffer = buffer[length:]
                        started = code not in (80877103, 80877104)
                        continue
                    if len(buffer) < 5:
                        break
                    length = int.from_bytes(buffer[1:5], "big")
                    if len(buffer) < 1 + length:
                        break
                    kind, body = buffer[:1], buffer[5 : 1 + length]
                    buffer = buffer[1 + length :]
                    if self.recording and kind in (b"Q", b"S"):
                        text = body.rstrip(b"\0").decode(errors="replace") if kind == b"Q" else ""
                        self.messages.append(text or "<extended-protocol sync>")
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)


def in_process_app(env: dict[str, str]) -> TestClient:
    from falcon import testing

    from app.core.settings import Settings
    from app.main import create_app

    return testing.TestClient(create_app(Settings.from_env(env)))


def profile_list(database: Database, env: dict[str, str], token: str, count: int) -> dict:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}
    sink = io.StringIO()
    # Access-log lines go to stdout, as in the server: keep them in the measurement, not the
    # console.
    with contextlib.redirect_stdout(sink):
        client = in_process_app(env)

        def one() -> None:
            result = client.simulate_get(
                "/v1/applications", params={"limit": "20"}, headers=headers
            )
            if result.status_code != 200 or len(result.json["data"]) != 20:
                raise SystemExit(f"list answered {result.status_code} in-process")

        for _ in range(50):
            one()
        started = time.perf_counter()
        for _ in range(count):
            one()
        plain = time.perf_counter() - started
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(count):
            one()
        profiler.disable()
        elapsed = time.perf_counter() - started

        proxy = CountingProxy(database.server.port)
        client = in_process_app({**env, "DB_PORT": str(proxy.port)})
        for _ in range(5):
            one()
        proxy.recording = True
        one()
        proxy.recording = False
        statements = list(proxy.messages)

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(28)
    rows = stats.stats  # type: ignore[attr-defined]

    from app.core import db_deadline
    from app.core.middleware import AccessLogMiddleware
    from app.core.security import AccessTokens
    from app.services.applications import ApplicationService
    from app.services.auth import AuthService

    def key(function: Callable[..., object]) -> tuple[str, int, str]:
        code = inspect.unwrap(function).__code__
        return (code.co_filename, code.co_firstlineno, code.co_name)

    def bucket(*keys: tuple) -> float:
        """Cumulative seconds of the outermost calls of the given functions."""
        matched = {each: rows[each][3] for each in keys if each in rows}
        return sum(
            seconds
            for each, seconds in matched.items()
            if not any(caller in matched and caller != each for caller in rows[each][4])
        )

    def named(suffix: str, name: str) -> list[tuple]:
        return [each for each in rows if each[0].endswith(suffix) and each[2] == name]

    execute = ("~", 0, "<method 'execute' of 'psycopg2.extensions.cursor' objects>")
    wsgi = named("falcon/app.py", "__call__")
    buckets = {
        "the whole request in Falcon (its WSGI call)": bucket(*wsgi),
        "PostgreSQL: inside psycopg2 execute (round trips, waiting on the server)": bucket(execute),
        "of which the deadline's wait callback": bucket(key(db_deadline.wait_within_budget)),
        "authenticate: JWT verification and the user lookup": bucket(key(AuthService.authenticate)),
        "of which JWT verification": bucket(key(AccessTokens.verify)),
        "ApplicationService.list: query, rows to the response shape": bucket(
            key(ApplicationService.list)
        ),
        "peewee's own code, self time": sum(
            value[2] for each, value in rows.items() if each[0].endswith("/peewee.py")
        ),
        "spectree (query parsing, response checks), self and below, handler excluded": sum(
            value[2] for each, value in rows.items() if "/spectree/" in each[0]
        )
        + sum(value[2] for each, value in rows.items() if "/pydantic" in each[0]),
        "JSON rendering": bucket(*named("app/main.py", "_json_dumps"))
        or bucket(*named("/json/__init__.py", "dumps")),
        "access log line (structlog)": bucket(key(AccessLogMiddleware.process_response)),
    }
    return {
        "requests": count,
        "plain_ms": plain / count * 1000,
        "ms_per_request": elapsed / count * 1000,
        "buckets": {name: seconds / count * 1000 for name, seconds in buckets.items()},
        "top": machine_neutral(out.getvalue()),
        "statements": statements,
    }


# ----- report ---------------------------------------------------------------------------------


def reproducible(argv: list[str]) -> list[str]:
    """The arguments as the report records them: without ``--json`` and its file, which only
    says where this run's figures were also written (often a scratch path of one machine)."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--json":
            skip = True
        elif not argument.startswith("--json="):
            kept.append(argument)
    return kept


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": (
            f"falcon {version('falcon')}, gunicorn {version('gunicorn')}, "
            f"peewee {version('peewee')}, psycopg2 {version('psycopg2-binary')}"
        ),
        "load generator": (wrk_version.split("\n")[0].split(" [")[0] or "wrk").strip(),
        "load average at the start (1, 5, 15 min)": ", ".join(
            f"{value:.2f}" for value in os.getloadavg()
        ),
    }


def postgres_version(url: str) -> str:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
        assert row is not None, "SHOW returns one row"
        return f"PostgreSQL {row[0]}"


def median_ratio(results: list[Result], key: str, ceiling_key: str) -> tuple[float, list[float]]:
    """The ratio of each round's ``key`` run to the ceiling's ``ceiling_key`` run of the same
    round (seconds apart), and their median."""
    ceilings = {
        each.round: each.rps
        for each in results
        if each.server == "ceiling" and each.key == ceiling_key
    }
    ratios = [
        result.rps / ceilings[result.round]
        for result in results
        if result.server == "api" and result.key == key
    ]
    return statistics.median(ratios), ratios


def summary(results: list[Result]) -> dict[str, dict[str, float]]:
    """Per API endpoint: median ratio to its ceiling, and median CPU ms per request."""
    out = {}
    for key, endpoint in ENDPOINTS.items():
        runs = [each for each in results if each.server == "api" and each.key == key]
        if not runs or endpoint.ceiling is None:
            continue
        ratio, _ = median_ratio(results, key, endpoint.ceiling)
        out[key] = {
            "ratio": ratio,
            "cpu_ms": statistics.median(each.cpu_ms for each in runs),
            "database_ms": statistics.median(each.database_ms for each in runs),
            "rps": statistics.median(each.rps for each in runs),
        }
    return out


def table(results: list[Result]) -> str:
    lines = [
        "| run | requests/s | p50 ms | p99 ms | p99/p50 | server CPU ms/req | PostgreSQL CPU "
        "ms/req | requests per worker | CPU per worker | connections per worker | load (1 min) | "
        "non-2xx/errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
    ]
    for result in results:
        suffix = f" #{result.round + 1}"
        lines.append(
            f"| {result.name}{suffix} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.tail:.2f} | {result.cpu_ms:.2f} | "
            f"{result.database_ms:.2f} | {result.split()} | {result.cpu_split()} | "
            f"{' / '.join(map(str, result.connections))} | {result.load[0]:.2f} | "
            f"{result.failed} |"
        )
    return "\n".join(lines)


def verdict(met: bool, text: str) -> str:
    return f"- {text}: **{'met' if met else 'missed'}**"


def verdicts(
    results: list[Result],
    rss: list[float],
    missing_headers: list[str],
    baseline: dict | None,
    attachments_rss: list[float],
) -> list[str]:
    out = []
    figures = summary(results)
    _, ratios = median_ratio(results, "list", "list")
    listing = figures["list"]
    out.append(
        verdict(
            listing["ratio"] >= CEILING_SHARE,
            f"list ≥ {CEILING_SHARE} × the ceiling (median of {len(ratios)} rounds): "
            f"{listing['ratio']:.3f} × (rounds: {', '.join(f'{r:.3f}' for r in ratios)})",
        )
    )
    out.append(
        verdict(
            listing["cpu_ms"] <= CPU_PER_LIST_MS,
            f"list ≤ {CPU_PER_LIST_MS} ms of server CPU per request: {listing['cpu_ms']:.2f} ms "
            f"(PostgreSQL {listing['database_ms']:.2f} ms)",
        )
    )
    for key in ("get", "me"):
        if key not in figures:
            continue
        mine = figures[key]
        text = (
            f"{key}: {mine['ratio']:.3f} × the ceiling's list, {mine['cpu_ms']:.2f} ms of server "
            "CPU per request"
        )
        if baseline and key in baseline and "list" in baseline:
            # Both measures of "improves": the rate against the ceiling, and the server CPU per
            # request (before ÷ after); each must gain at least as much as list's.
            gain = mine["ratio"] / baseline[key]["ratio"]
            list_gain = listing["ratio"] / baseline["list"]["ratio"]
            cpu_gain = baseline[key]["cpu_ms"] / mine["cpu_ms"]
            list_cpu_gain = baseline["list"]["cpu_ms"] / listing["cpu_ms"]
            out.append(
                verdict(
                    gain >= list_gain and cpu_gain >= list_cpu_gain,
                    f"{text}; against the baseline: rate × {gain:.2f} (list × {list_gain:.2f}), "
                    f"CPU per request ÷ {cpu_gain:.2f} (list ÷ {list_cpu_gain:.2f}) (improves at "
                    "least as much as list)",
                )
            )
        else:
            out.append(f"- {text} (no baseline given: `--baseline` compares the gains)")
    worst = max(results, key=lambda each: each.top_share)
    out.append(
        verdict(
            all(each.top_share <= WORKER_SHARE for each in results),
            f"no worker answers more than {WORKER_SHARE:.0%} of a run's requests: the busiest "
            f"worker answered {worst.top_share:.0%} ({worst.name})",
        )
    )
    if "health" in figures:
        health = figures["health"]
        _, health_ratios = median_ratio(results, "health", "health")
        out.append(
            verdict(
                health["ratio"] >= HEALTH_SHARE and not missing_headers,
                f"health ≥ {HEALTH_SHARE} × the ceiling's health (median of "
                f"{len(health_ratios)} rounds): {health['ratio']:.3f} × (rounds: "
                f"{', '.join(f'{r:.3f}' for r in health_ratios)}), "
                + (
                    "X-Request-ID and the security headers present"
                    if not missing_headers
                    else f"missing headers: {', '.join(missing_headers)}"
                ),
            )
        )
    for result in results:
        if result.server != "api":
            continue
        out.append(
            verdict(
                result.tail <= TAIL_RATIO,
                f"{result.name} #{result.round + 1} "
                f"p99 ≤ {TAIL_RATIO:g} × p50: {result.tail:.2f} ×",
            )
        )
    out.append(
        verdict(
            max(rss) <= RSS_LIMIT_MB,
            f"worker RSS ≤ {RSS_LIMIT_MB:g} MB after the list run, production adapters loaded: "
            f"{', '.join(f'{value:.1f} MB' for value in rss)}",
        )
    )
    out.append(
        verdict(
            max(attachments_rss) <= RSS_LIMIT_MB,
            f"worker RSS ≤ {RSS_LIMIT_MB:g} MB once it has also served attachments (every S3 call "
            f"the API makes): {', '.join(f'{value:.1f} MB' for value in attachments_rss)}",
        )
    )
    return out


def bucket_lines(profile: dict) -> list[str]:
    return [f"| {name} | {ms:.3f} |" for name, ms in profile["buckets"].items() if ms > 0]


def run_section(
    args: argparse.Namespace,
    command: str,
    host: dict[str, str],
    results: list[Result],
    rss: list[float],
    idle_rss: list[float],
    attachments_rss: list[float],
    ceiling_rss: list[float],
    profile: dict[str, Any],
    lines: list[str],
) -> str:
    statements = profile["statements"]
    statement_lines = [
        f"{index}. `{' '.join(text.split())[:150]}{'…' if len(text) > 150 else ''}`"
        for index, text in enumerate(statements, 1)
    ]
    return f"""{RUN_START}
## The latest run: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}

Command (from the repository root):

```
{command}
```

Machine:

{chr(10).join(f"- {key}: {value}" for key, value in host.items())}

Setup: gunicorn `app/gunicorn_conf.py` ({args.workers} workers × {args.threads} threads), the
API with its production adapters against local stubs and `RATE_LIMIT_SCALE=1000`,
`LOG_LEVEL=INFO` (the access log written, to /dev/null), recycling off for both servers;
{args.users} users × {args.per_user} applications; wrk with {args.connections} keep-alive
connections, {args.warmup:g} s warm-up and {args.duration:g} s measured per run; list and health
alternate with the ceiling's {args.rounds} times each, get one and me run in each list round. The load generator shares the machine's cores, so
the ratios inside the run are what the targets compare.

{table(results)}

Worker RSS: {", ".join(f"{value:.1f} MB" for value in idle_rss)} after start-up,
{", ".join(f"{value:.1f} MB" for value in rss)} after the list run,
{", ".join(f"{value:.1f} MB" for value in attachments_rss)} after an attachment round trip per
user (create, upload, complete, get with its download URL, delete: every S3 call the API makes)
(ceiling workers: {", ".join(f"{value:.1f} MB" for value in ceiling_rss)}).

### Targets

{chr(10).join(lines)}

### Where the time of a list request goes

{profile["requests"]} list requests in-process through `falcon.testing` against the same
database, single-threaded: **{profile["plain_ms"]:.2f} ms per request** without the profiler,
{profile["ms_per_request"]:.2f} ms under cProfile (which adds to every Python call, so the
shares matter more than the total).

| part of the request (under cProfile) | ms per request |
|---|---:|
{chr(10).join(bucket_lines(profile))}

SQL round trips per list request, counted on the wire: **{len(statements)}**

{chr(10).join(statement_lines)}

Top functions by cumulative time:

```
{profile["top"].strip()}
```
{RUN_END}"""


def write_doc(section: str) -> None:
    """Replace the run section of docs/benchmarks.md, keeping everything around it."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if RUN_START in text and RUN_END in text:
        before, rest = text.split(RUN_START, 1)
        after = rest.split(RUN_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


# ----- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="list, get one, me and health; 5 s runs after 1 s warm-ups; 200 profiled requests",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=200)
    parser.add_argument("--duration", type=float, help="seconds measured per run (10; short: 5)")
    parser.add_argument("--warmup", type=float, help="seconds before each run (2; short: 1)")
    parser.add_argument("--rounds", type=int, default=3, help="list/ceiling alternations")
    parser.add_argument("--profile-requests", type=int, help="(500; short: 200)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--baseline", type=Path, help="a --json file of an earlier run, to compare gains"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only")
    add_autogroup_option(parser)
    parser.add_argument(
        "--dev-venv",
        action="store_true",
        help="serve from the development environment instead of the runtime dependencies alone",
    )
    args = parser.parse_args()
    short = args.short
    args.duration = args.duration or (5 if short else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if short else 2)
    args.profile_requests = args.profile_requests or (200 if short else 500)
    keys = SHORT if short else FULL

    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    started = time.monotonic()
    command = " ".join(["uv run python scripts/bench.py", *reproducible(sys.argv[1:])])
    host = machine()
    _, hasher = default_hasher()
    baseline = json.loads(args.baseline.read_text())["summary"] if args.baseline else None

    with (
        scheduler_autogroup(args.no_autogroup) as autogroup,
        local_database(args.workers, args.threads, log_level="INFO") as database,
        production_adapters() as adapters,
        tempfile.TemporaryDirectory() as scratch_dir,
    ):
        scratch = Path(scratch_dir)
        # As in production: responses are checked in the tests, not per request (app/core/spec.py).
        env = {**database.env, **adapters, "CHECK_RESPONSES": "false"}
        host["database"] = postgres_version(database.config.database_url)
        host["scheduler autogroup"] = autogroup
        if autogroup.startswith("on"):
            print(f"note: {AUTOGROUP_NOTE}", flush=True)
        print(f"seeding {args.users} users x {args.per_user} applications ...", flush=True)
        emails = sorted(seed(database.config.database_url, hasher, args.users))
        ids = seed_applications(database.config.database_url, args.per_user)
        settle(database.server)
        script = scratch / "bench.lua"
        script.write_text(LUA)
        data = scratch / "data.lua"
        files = (script, data)
        pg = database.server

        python = sys.executable if args.dev_venv else runtime_python(scratch)
        host["servers' packages"] = (
            "the development environment (--dev-venv)"
            if args.dev_venv
            else "the locked runtime dependencies alone, as in the image"
        )
        with (
            served("api", env, "app.main:app", "/health", args.workers, scratch, python) as api,
            served(
                "ceiling", env, "scripts.ceiling_app:app", "/health", args.workers, scratch, python
            ) as ceiling,
        ):
            idle_rss = api.worker_rss()
            users = sign_in(api.port, emails[: args.connections])
            lua_data(data, users, ids)
            results: list[Result] = []
            rss: list[float] = []
            for round_ in range(args.rounds):
                results.append(measure(ENDPOINTS["list"], api, pg, args, files, round_))
                if not rss:
                    rss = api.worker_rss()
                results.append(measure(ENDPOINTS["list"], ceiling, pg, args, files, round_))
                # get one and me in every round too, each compared with the ceiling's list of
                # its own round (a single run of each moved with the machine's load).
                for key in keys:
                    if key not in ("list", "health"):
                        results.append(measure(ENDPOINTS[key], api, pg, args, files, round_))
            before = api.counts()
            round_trips = serve_attachments(api.port, database.config.database_url, users, ids)
            attachments_rss = api.worker_rss()
            attachment_split = sorted(
                (count - before.get(pid, 0) for pid, count in api.counts().items()), reverse=True
            )
            print(
                f"{round_trips} attachment round trips (requests per worker "
                f"{'/'.join(map(str, attachment_split))}): worker RSS "
                f"{', '.join(f'{value:.1f} MB' for value in attachments_rss)}",
                flush=True,
            )
            if "health" in keys:
                for round_ in range(args.rounds):
                    results.append(measure(ENDPOINTS["health"], api, pg, args, files, round_))
                    results.append(measure(ENDPOINTS["health"], ceiling, pg, args, files, round_))
            missing_headers = health_headers(api.port)
            ceiling_rss = ceiling.worker_rss()

        print("profiling the list request in-process ...", flush=True)
        profile = profile_list(database, env, users[0][1], args.profile_requests)

    lines = verdicts(results, rss, missing_headers, baseline, attachments_rss)
    print()
    print(table(results))
    print()
    print(
        f"worker RSS after the list run: {', '.join(f'{value:.1f} MB' for value in rss)} "
        f"(idle {', '.join(f'{value:.1f} MB' for value in idle_rss)}; after the attachments "
        f"{', '.join(f'{value:.1f} MB' for value in attachments_rss)}; ceiling "
        f"{', '.join(f'{value:.1f} MB' for value in ceiling_rss)})"
    )
    print("\n".join(lines))
    print(f"\nSQL round trips per list request: {len(profile['statements'])}")
    for text in profile["statements"]:
        print(f"  {' '.join(text.split())[:120]}")
    print(
        f"in-process list request: {profile['plain_ms']:.2f} ms, "
        f"under cProfile {profile['ms_per_request']:.2f} ms"
    )
    print(profile["top"].strip())
    for name, ms in profile["buckets"].items():
        print(f"  {ms:6.3f} ms  {name}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": command,
                    "host": host,
                    "summary": summary(results),
                    "results": [asdict(each) for each in results],
                    "rss": rss,
                    "idle_rss": idle_rss,
                    "attachments_rss": attachments_rss,
                    "verdicts": lines,
                },
                indent=1,
            )
        )
    if not args.no_doc:
        write_doc(
            run_section(
                args,
                command,
                host,
                results,
                rss,
                idle_rss,
                attachments_rss,
                ceiling_rss,
                profile,
                lines,
            )
        )
        print(f"\nwrote {DOC.relative_to(REPO)}")
    print(f"benchmark took {time.monotonic() - started:.0f} s")
    if any(result.failed for result in results):
        print("INVALID RUN: some requests failed or answered non-2xx (see the errors column)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

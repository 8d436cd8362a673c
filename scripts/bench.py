"""Throughput and latency of the application endpoints against a bare-Falcon ceiling.

    uv run python scripts/bench.py [--workers 2] [--threads 4] [--connections 32]

It starts a throw-away local PostgreSQL, applies the migrations, seeds users x applications
(each with its status timeline), and serves the API with gunicorn (app/gunicorn_conf.py) over
real HTTP. wrk drives each endpoint with keep-alive connections, one wrk thread per connection
so every connection sends its own user's bearer token (and, for get-one, that user's ids):

- list:   GET  /v1/applications?limit=20
- get:    GET  /v1/applications/{id}
- create: POST /v1/applications
- stats:  GET  /v1/applications/stats

In the same run the ceiling, a bare Falcon app without middleware (scripts/ceiling_app.py)
answering a constant page of the list's shape, is served with the same gunicorn settings and
measured the same way. Rate limits are raised with RATE_LIMIT_SCALE (a documented setting) so
the limiter stays in the path without tripping; any non-2xx answer makes the run invalid.

Targets (issue: applications, performance): authenticated list >= 0.25 x the ceiling's
requests/s; p99 <= 3 x p50 for every endpoint; RSS of each gunicorn worker <= 80 MB.

It prints a table and writes docs/benchmarks.md; the section between the ``notes`` markers of an
existing docs/benchmarks.md is kept. It also profiles the list request in-process (falcon's test
client, same database) and counts the SQL round trips of one list request on the wire.
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
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg2
from benchkit import (
    REPO,
    Database,
    default_hasher,
    free_port,
    gunicorn,
    local_database,
    login_body,
    seed,
    wait_until,
)

from app.core.local_postgres import SUPERUSER, LocalPostgres

DOC = REPO / "docs" / "benchmarks.md"
NOTES_START = "<!-- notes: kept when the benchmark rewrites this file -->"
NOTES_END = "<!-- /notes -->"
RSS_LIMIT_MB = 80
CEILING_SHARE = 0.25
TAIL_RATIO = 3.0

# app/gunicorn_conf.py recycles a worker after 5000 +/- 500 requests. The ceiling answers that
# many in about a second, so a 10 s run of it would mostly measure worker boots (29 boots in
# 10 s, under half the steady rate). Both servers run with recycling off instead, so each
# figure is the steady state; everything else comes from the configuration module.
STEADY_STATE = ("--max-requests", "0")

STATUSES = (
    "wishlist", "applied", "screening", "interviewing", "offer", "accepted", "rejected", "withdrawn",
)  # fmt: skip

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
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms if self.p50_ms else float("inf")

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


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


def settle(server: LocalPostgres) -> None:
    """Statistics for the planner and a checkpoint now, so neither lands inside a measurement."""
    connection = psycopg2.connect(server.url(SUPERUSER, server.credentials.superuser_password))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
    finally:
        connection.close()


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


# ----- load -----------------------------------------------------------------------------------


def run_wrk(name, port, mode, script, data, connections, seconds, warmup) -> Result:
    def wrk(duration: float) -> dict:
        command = [
            "wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration:g}s",
            "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}",
            "--", str(data), mode,
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        line = next(line for line in output.splitlines() if line.startswith("BENCH "))
        return json.loads(line[len("BENCH ") :])

    if warmup:
        wrk(warmup)
    measured = wrk(seconds)
    errors = {
        key: measured[key]
        for key in ("status", "connect", "read", "write", "timeout")
        if measured[key]
    }
    return Result(
        name,
        measured["requests"],
        measured["duration_us"] / 1e6,
        measured["p50_us"] / 1000,
        measured["p99_us"] / 1000,
        errors,
    )


def worker_rss(master: psutil.Process) -> list[float]:
    return [child.memory_info().rss / 2**20 for child in master.children()]


def http_ok(port: int, path: str, headers=None) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local URL
        return response.status == 200


@contextlib.contextmanager
def served(env: dict[str, str], target: str, probe: str):
    port = free_port()
    process = gunicorn(port, env, target, *STEADY_STATE)
    try:
        if not wait_until(lambda: http_ok(port, probe)):
            raise SystemExit(f"{target} did not start answering {probe}")
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


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


def in_process_app(env: dict[str, str]):
    from falcon import testing

    from app.core.settings import Settings
    from app.main import create_app

    return testing.TestClient(create_app(Settings.from_env(env)))


def profile_list(database: Database, token: str, count: int) -> dict:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}
    sink = io.StringIO()
    # Access-log lines go to stdout, as in the server: keep them in the measurement, not the
    # console.
    with contextlib.redirect_stdout(sink):
        client = in_process_app(database.env)

        def one():
            result = client.simulate_get(
                "/v1/applications", params={"limit": "20"}, headers=headers
            )
            if result.status_code != 200 or len(result.json["data"]) != 20:
                raise SystemExit(f"list answered {result.status_code} in-process")

        for _ in range(50):
            one()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(count):
            one()
        profiler.disable()
        elapsed = time.perf_counter() - started

        proxy = CountingProxy(database.server.port)
        client = in_process_app({**database.env, "DB_PORT": str(proxy.port)})
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

    from app.core.middleware import AccessLogMiddleware
    from app.core.security import AccessTokens
    from app.routes.applications import ApplicationsResource
    from app.services.applications import ApplicationService
    from app.services.auth import AuthService

    def key(function) -> tuple:
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

    execute = ("~", 0, "<method 'execute' of 'psycopg2.extensions.cursor' objects>")
    handler = key(ApplicationsResource.on_get)
    spectree = [
        each for each in rows if each[0].endswith("falcon_plugin.py") and each[2] == "validate"
    ]
    buckets = {
        "PostgreSQL: inside psycopg2 execute (round trips, waiting on the server)": bucket(execute),
        "authenticate: JWT verification and the user lookup": bucket(key(AuthService.authenticate)),
        "of which JWT verification": bucket(key(AccessTokens.verify)),
        "ApplicationService.list: query, rows to dicts": bucket(key(ApplicationService.list)),
        "peewee's own code (building SQL, converting rows), self time": sum(
            value[2] for each, value in rows.items() if each[0].endswith("/peewee.py")
        ),
        "spectree: query parsing and response validation, handler excluded": (
            bucket(*spectree) - bucket(handler)
        ),
        "JSON rendering (json.dumps)": bucket(key(json.dumps)),
        "access log line (structlog)": bucket(key(AccessLogMiddleware.process_response)),
    }
    return {
        "requests": count,
        "ms_per_request": elapsed / count * 1000,
        "buckets": {name: seconds / count * 1000 for name, seconds in buckets.items()},
        "top": machine_neutral(out.getvalue()),
        "statements": statements,
    }


# ----- report ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    import falcon
    import gunicorn as gunicorn_package
    import peewee

    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "packages": (
            f"falcon {falcon.__version__}, gunicorn {gunicorn_package.__version__}, "
            f"peewee {peewee.__version__}, psycopg2 {psycopg2.__version__.split()[0]}"
        ),
        "load generator": (wrk_version.split("\n")[0].split(" [")[0] or "wrk").strip(),
        "load average at the start (1, 5, 15 min)": ", ".join(
            f"{value:.2f}" for value in os.getloadavg()
        ),
    }


def postgres_version(url: str) -> str:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def table(results: list[Result], ceiling: Result) -> str:
    lines = [
        "| endpoint | requests/s | p50 ms | p99 ms | p99/p50 | × ceiling | non-2xx/errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in [*results, ceiling]:
        lines.append(
            f"| {result.name} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} "
            f"| {result.tail:.2f} | {result.rps / ceiling.rps:.3f} | {result.failed} |"
        )
    return "\n".join(lines)


def verdicts(results: list[Result], ceiling: Result, rss: list[float]) -> list[str]:
    out = []
    listing = next(result for result in results if result.name.startswith("list"))
    share = listing.rps / ceiling.rps
    needed = CEILING_SHARE * ceiling.rps
    if share >= CEILING_SHARE:
        out.append(
            f"- list ≥ {CEILING_SHARE} × ceiling: **met** ({share:.3f} × ceiling, "
            f"{listing.rps:,.0f} vs {needed:,.0f} requests/s needed)"
        )
    else:
        out.append(
            f"- list ≥ {CEILING_SHARE} × ceiling: **missed** by {needed - listing.rps:,.0f} "
            f"requests/s ({share:.3f} × ceiling; {needed / listing.rps:.2f} × the measured rate "
            "is needed)"
        )
    for result in results:
        if result.tail <= TAIL_RATIO:
            out.append(f"- {result.name} p99 ≤ 3 × p50: **met** ({result.tail:.2f} ×)")
        else:
            excess = result.p99_ms - TAIL_RATIO * result.p50_ms
            out.append(
                f"- {result.name} p99 ≤ 3 × p50: **missed** ({result.tail:.2f} ×; p99 is "
                f"{excess:.2f} ms over 3 × p50)"
            )
    worst = max(rss)
    if worst <= RSS_LIMIT_MB:
        out.append(f"- worker RSS ≤ {RSS_LIMIT_MB} MB: **met** (largest worker {worst:.1f} MB)")
    else:
        out.append(
            f"- worker RSS ≤ {RSS_LIMIT_MB} MB: **missed** by {worst - RSS_LIMIT_MB:.1f} MB "
            f"(largest worker {worst:.1f} MB)"
        )
    return out


def kept_notes() -> str:
    if DOC.exists():
        text = DOC.read_text()
        if NOTES_START in text and NOTES_END in text:
            return text[text.index(NOTES_START) : text.index(NOTES_END) + len(NOTES_END)]
    return f"{NOTES_START}\n{NOTES_END}"


def write_doc(
    args,
    command,
    host,
    results,
    ceiling,
    rss,
    idle_rss,
    ceiling_rss,
    profile,
    verdict_lines,
):
    statements = profile["statements"]
    statement_lines = [
        f"{index}. `{' '.join(text.split())[:150]}{'…' if len(text) > 150 else ''}`"
        for index, text in enumerate(statements, 1)
    ]
    bucket_lines = [f"| {name} | {ms:.2f} |" for name, ms in profile["buckets"].items() if ms > 0]
    doc = f"""# Benchmarks

Written by `scripts/bench.py` (the section between the notes markers is kept when it rewrites
this file). Benchmarks are not tests: nothing under `tests/` asserts a timing.

## Run of {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}

Command (from the repository root):

```
{command}
```

Machine:

{chr(10).join(f"- {key}: {value}" for key, value in host.items())}

The load generator runs on the same {host["cores"]} cores as gunicorn and PostgreSQL, so every
figure here, the ceiling included, is shared with wrk's own CPU use: absolute numbers are lower
than on a dedicated server, and the ratios are what the targets compare.

Setup:

- gunicorn `app/gunicorn_conf.py` (gthread), {args.workers} workers × {args.threads} threads,
  with the API's environment (`GLIBC_TUNABLES` from `app/core/memory.py`,
  `RATE_LIMIT_SCALE=1000`, `LOG_LEVEL=INFO` so the access log is written, to /dev/null);
  worker recycling is turned off for both servers (`--max-requests 0`): the configuration's
  5000 ± 500 requests per worker last the ceiling about a second, so with recycling a 10 s
  run of it measures worker boots (29 in 10 s, at under half the steady rate) rather than
  the server;
- a throw-away local PostgreSQL with the migrations applied: {args.users} users ×
  {args.per_user} applications, each with its creation event and, past `applied`, a
  status-change event;
- wrk, {args.connections} keep-alive connections (one wrk thread each), {args.warmup:g} s
  warm-up then {args.duration:g} s measured per endpoint; each connection is a different
  user with their own bearer token, and get-one walks that user's application ids;
- the ceiling is `scripts/ceiling_app.py`: a bare Falcon app, no middleware, no database,
  answering GET `/v1/applications` with a constant 20-item page of the same shape, served with
  the same gunicorn configuration, workers and threads, and driven with the same wrk script.

## Results

{table(results, ceiling)}

Worker RSS after the list run: {", ".join(f"{value:.1f} MB" for value in rss)}
(after start-up, before any load: {", ".join(f"{value:.1f} MB" for value in idle_rss)};
ceiling workers: {", ".join(f"{value:.1f} MB" for value in ceiling_rss)}).

## Targets

{chr(10).join(verdict_lines)}

## Where the time of a list request goes

{profile["requests"]} list requests (limit 20) in-process through `falcon.testing` against the
same database, with the API's middleware and settings, single-threaded:
**{profile["ms_per_request"]:.2f} ms per request** under cProfile (the profiler itself adds
overhead to every Python call, so the shares matter more than the total).

| part of the request | ms per request (cumulative) |
|---|---:|
{chr(10).join(bucket_lines)}

SQL round trips per list request, counted on the wire by a relay in front of PostgreSQL (every
simple-query message is one round trip; the pool's check-out ping is skipped for connections
checked in moments ago, see `RecentlyCheckedPool`): **{len(statements)}**

{chr(10).join(statement_lines)}

Top functions by cumulative time:

```
{profile["top"].strip()}
```

{kept_notes()}
"""
    DOC.write_text(doc)


# ----- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2, help="seconds before measuring")
    parser.add_argument("--profile-requests", type=int, default=500)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    command = " ".join(["uv run python scripts/bench.py", *sys.argv[1:]])
    host = machine()
    _, hasher = default_hasher()

    with (
        local_database(args.workers, args.threads, log_level="INFO") as database,
        tempfile.TemporaryDirectory() as scratch,
    ):
        host["database"] = postgres_version(database.config.database_url)
        print(f"seeding {args.users} users x {args.per_user} applications ...", flush=True)
        emails = sorted(seed(database.config.database_url, hasher, args.users))
        ids = seed_applications(database.config.database_url, args.per_user)
        settle(database.server)
        script = Path(scratch) / "bench.lua"
        script.write_text(LUA)
        data = Path(scratch) / "data.lua"

        def measure(name, port, mode):
            result = run_wrk(
                name, port, mode, script, data, args.connections, args.duration, args.warmup
            )
            print(
                f"{name:<32} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  errors {result.errors or 0}",
                flush=True,
            )
            return result

        with served(database.env, "app.main:app", "/health") as (port, master):
            idle_rss = worker_rss(master)
            users = sign_in(port, emails[: args.connections])
            lua_data(data, users, ids)
            results = [measure("list (GET /v1/applications?limit=20)", port, "list")]
            rss = worker_rss(master)
            results.append(measure("get one (GET /v1/applications/{id})", port, "get"))
            results.append(measure("stats (GET /v1/applications/stats)", port, "stats"))
            results.append(measure("create (POST /v1/applications)", port, "create"))

        with served(database.env, "scripts.ceiling_app:app", "/v1/applications") as (
            port,
            master,
        ):
            ceiling = measure("ceiling (bare Falcon, constant page)", port, "list")
            ceiling_rss = worker_rss(master)

        print("profiling the list request in-process ...", flush=True)
        profile = profile_list(database, users[0][1], args.profile_requests)

    verdict_lines = verdicts(results, ceiling, rss)
    print()
    print(table(results, ceiling))
    print()
    print(
        f"worker RSS after the list run: {', '.join(f'{value:.1f} MB' for value in rss)} "
        f"(idle {', '.join(f'{value:.1f} MB' for value in idle_rss)})"
    )
    print("\n".join(verdict_lines))
    print(f"\nSQL round trips per list request: {len(profile['statements'])}")
    for text in profile["statements"]:
        print(f"  {' '.join(text.split())[:120]}")
    print(f"in-process list request under cProfile: {profile['ms_per_request']:.2f} ms")
    print(profile["top"].strip())
    for name, ms in profile["buckets"].items():
        print(f"  {ms:6.2f} ms  {name}")
    if not args.no_doc:
        write_doc(
            args,
            command,
            host,
            results,
            ceiling,
            rss,
            idle_rss,
            ceiling_rss,
            profile,
            verdict_lines,
        )
        print(f"\nwrote {DOC.relative_to(REPO)}")
    if any(result.failed for result in [*results, ceiling]):
        print("INVALID RUN: some requests failed or answered non-2xx (see the errors column)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

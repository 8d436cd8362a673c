"""Where the API's tail goes when PostgreSQL shares the machine: its backends' run-queue waits.

    uv run python scripts/bench_run_queue.py              # me, 6 runs, grouping on then off
    uv run python scripts/bench_run_queue.py --endpoint get --runs 8 --threads 4

Serves the API as scripts/bench.py does (gunicorn, the production adapters against local stubs,
100 users x 200 applications, wrk with 32 keep-alive connections) and drives one endpoint in
5 s runs, twice over: with the kernel's per-session scheduling groups as they are
(kernel.sched_autogroup_enabled, usually on) and then with them off (root only). For each run
it reports p50, p99 and their ratio, and, from PostgreSQL and the kernel:

- the statements PostgreSQL itself took more than 30 ms to run (``log_min_duration_statement``,
  read back from the server's log after the runs), their count and the longest;
- the moments a PostgreSQL backend waited more than 50 ms on the run queue, ready to run but
  given no core (``/proc/<pid>/task/<tid>/schedstat``, sampled every 50 ms while wrk runs),
  their count and the longest.

pg_ctl starts PostgreSQL in a session of its own, so with the grouping on it competes for the
cores as one group against the benchmark's session (wrk, gunicorn); docs/benchmarks.md
("PostgreSQL's run-queue waits") has the figures this found. Two threads per worker (the
default here) make the waits show in more runs; ``--threads 4`` is the API's configuration.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from bench import (
    ENDPOINTS,
    LUA,
    as_superuser,
    lua_data,
    measure,
    seed_applications,
    served,
    settle,
    sign_in,
)
from bench_adapters import production_adapters
from benchkit import default_hasher, local_database, scheduler_autogroup, seed

from app.core.local_postgres import LocalPostgres

SLOW_STATEMENT_MS = 30
WAIT_MS = 50
SAMPLE_SECONDS = 0.05
_DURATION = re.compile(r"duration: ([0-9.]+) ms")


@dataclass
class RunQueue:
    """Samples the run-queue wait of every PostgreSQL process while it runs."""

    postmaster: int
    waits: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _delays(self) -> dict[int, int]:
        delays = {}
        processes = [psutil.Process(self.postmaster)]
        processes += processes[0].children(recursive=True)
        for process in processes:
            try:
                text = Path(f"/proc/{process.pid}/schedstat").read_text()
            except OSError:
                continue
            delays[process.pid] = int(text.split()[1])  # ns spent runnable, waiting for a core
        return delays

    def _sample(self) -> None:
        before = self._delays()
        while not self._stop.wait(SAMPLE_SECONDS):
            now = self._delays()
            for pid, delay in now.items():
                waited_ms = (delay - before.get(pid, delay)) / 1e6
                if waited_ms > WAIT_MS:
                    self.waits.append(waited_ms)
            before = now

    def __enter__(self) -> RunQueue:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def log_slow_statements(server: LocalPostgres) -> None:
    as_superuser(
        server,
        f"ALTER SYSTEM SET log_min_duration_statement = {SLOW_STATEMENT_MS}",
        "SELECT pg_reload_conf()",
    )


def slow_statements(log: str, start: int) -> list[float]:
    return [float(match.group(1)) for match in _DURATION.finditer(log, start)]


def one_mode(args: argparse.Namespace, turn_off: bool) -> list[str]:
    lines = []
    endpoint = ENDPOINTS[args.endpoint]
    _, hasher = default_hasher()
    with (
        scheduler_autogroup(turn_off) as grouping,
        local_database(2, args.threads, log_level="INFO") as database,
        production_adapters() as adapters,
        tempfile.TemporaryDirectory() as scratch_dir,
    ):
        scratch = Path(scratch_dir)
        env = {**database.env, **adapters, "CHECK_RESPONSES": "false"}
        url = database.config.database_url
        emails = sorted(seed(url, hasher, 100))
        ids = seed_applications(url, 200)
        settle(database.server)
        log_slow_statements(database.server)
        script, data = scratch / "bench.lua", scratch / "data.lua"
        script.write_text(LUA)
        postmaster = int((database.server.data_dir / "postmaster.pid").read_text().split()[0])
        lines.append(f"scheduler autogroup: {grouping}; {args.threads} threads per worker")
        with served("api", env, "app.main:app", "/health", 2, scratch, sys.executable) as api:
            users = sign_in(api.port, emails[:32])
            lua_data(data, users, ids)
            for run in range(args.runs):
                log_at = len(database.server.log_file.read_text())
                with RunQueue(postmaster) as queue:
                    result = measure(endpoint, api, database.server, args, (script, data), run)
                slow = slow_statements(database.server.log_file.read_text(), log_at)
                lines.append(
                    f"| {run + 1} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
                    f"{result.p99_ms / result.p50_ms:.2f} | {len(slow)} | "
                    f"{max(slow, default=0):.0f} | {len(queue.waits)} | "
                    f"{max(queue.waits, default=0):.0f} |"
                )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="me")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    args.duration, args.warmup = 5, 1
    print(f"{ENDPOINTS[args.endpoint].label}, {args.connections} connections, 5 s runs")
    ratios = {}
    for turn_off in (False, True):
        lines = one_mode(args, turn_off)
        print()
        print(lines[0])
        print()
        print(
            f"| run | p50 ms | p99 ms | p99/p50 | statements over {SLOW_STATEMENT_MS} ms | "
            f"longest ms | run-queue waits over {WAIT_MS} ms | longest ms |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for line in lines[1:]:
            print(line, flush=True)
        ratios[lines[0]] = [float(line.split("|")[4]) for line in lines[1:]]
    print()
    for mode, values in ratios.items():
        print(f"{mode}: p99/p50 median {statistics.median(values):.2f}, worst {max(values):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where an API worker's memory goes, phase by phase, as scripts/bench.py serves it.

    uv run python scripts/measure_worker_memory.py            # 2 workers x 4 threads
    uv run python scripts/measure_worker_memory.py --workers 1

The same server as scripts/bench.py's (gunicorn with app/gunicorn_conf.py, the production
adapters against local stubs, the locked runtime dependencies alone with compiled bytecode, the
same seeded data and wrk load), with scripts/worker_memory_gunicorn_conf.py, which lets each
worker write a snapshot of itself on request. The phases follow the benchmark's order: idle, the
sign-ins (32 logins), the first list run (1 s warm-up and 5 s of wrk with 32 connections), an
attachment round trip per signed-in user, then a get-one and a me run. For each worker and phase
it prints the resident set size (anonymous and file-backed), glibc's heap (``mallinfo2``: the
main arena and the other arenas' bytes in use and free, and the bytes in mmapped blocks), the
threads, and the modules the phase imported. ``--json`` keeps every snapshot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import (
    ENDPOINTS,
    LUA,
    lua_data,
    run_wrk,
    runtime_python,
    seed_applications,
    serve_attachments,
    settle,
    sign_in,
)
from bench_adapters import production_adapters
from bench_gunicorn_conf import SLOT, SLOTS, read_counts
from benchkit import default_hasher, local_database, seed, wait_until

from app.core.local_gunicorn import LocalGunicorn

CONF = "scripts/worker_memory_gunicorn_conf.py"


def take_snapshots(port: int, directory: Path, label: str, workers: list[int]) -> dict[int, dict]:
    """Ask until every worker has written its snapshot for ``label`` (each request lands on
    whichever worker accepts it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        missing = [pid for pid in workers if not (directory / f"{pid}-{label}.json").exists()]
        if not missing:
            break
        url = f"http://127.0.0.1:{port}/health?memory-snapshot={label}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
            response.read()
        time.sleep(0.05)
    else:
        raise SystemExit(f"not every worker wrote its {label} snapshot")
    return {pid: json.loads((directory / f"{pid}-{label}.json").read_text()) for pid in workers}


def describe(label: str, shot: dict, previous: dict | None) -> list[str]:
    status, heap = shot["status"], shot["mallinfo"]
    line = (
        f"  {label:<12} RSS {status['VmRSS']:6.1f} MiB (anon {status['RssAnon']:5.1f}, file "
        f"{status['RssFile']:5.1f})  heap: arenas {heap['arena']:5.1f} (in use "
        f"{heap['uordblks']:5.1f}, free {heap['fordblks']:5.1f}), mmapped {heap['hblkhd']:5.1f}"
        f"  threads {shot['threads']}"
    )
    huge = sum(entry.get("AnonHugePages", 0) for entry in shot["mappings"].values()) / 1024
    if huge:
        line += f"  huge pages {huge:.1f}"
    lines = [line]
    if previous is not None:
        delta = status["VmRSS"] - previous["status"]["VmRSS"]
        added = sorted(set(shot["modules"]) - set(previous["modules"]))
        lines[0] += f"  ({delta:+.1f} MiB)"
        if added:
            tops = sorted({name.split(".")[0] for name in added})
            lines.append(f"      {len(added)} modules imported, under: {', '.join(tops)}")
            lines.append(f"      {', '.join(added)}")
        grown = []
        for path, now in shot["mappings"].items():
            before = previous["mappings"].get(path, {"Rss": 0, "Anonymous": 0})
            if abs(now["Rss"] - before["Rss"]) >= 64:
                file_kib = (now["Rss"] - now["Anonymous"]) - (before["Rss"] - before["Anonymous"])
                anon_kib = now["Anonymous"] - before["Anonymous"]
                grown.append((now["Rss"] - before["Rss"], path, file_kib, anon_kib))
        for kib, path, file_kib, anon_kib in sorted(grown, reverse=True):
            lines.append(
                f"      {kib / 1024:+5.2f} MiB {path} (file {file_kib / 1024:+.2f}, "
                f"anon {anon_kib / 1024:+.2f})"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--dev-venv", action="store_true")
    parser.add_argument(
        "--glibc-tunables",
        help="GLIBC_TUNABLES for the server instead of the project's (app/core/memory.py)",
    )
    parser.add_argument("--json", type=Path, help="write every snapshot here")
    args = parser.parse_args()

    started = time.monotonic()
    print(f"start {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}")
    _, hasher = default_hasher()
    with (
        local_database(args.workers, args.threads, log_level="INFO") as database,
        production_adapters() as adapters,
        tempfile.TemporaryDirectory() as scratch_dir,
    ):
        scratch = Path(scratch_dir)
        snapshots_dir = scratch / "snapshots"
        snapshots_dir.mkdir()
        env = {
            **database.env,
            **adapters,
            "CHECK_RESPONSES": "false",
            "WORKER_MEMORY_SNAPSHOTS": str(snapshots_dir),
        }
        if args.glibc_tunables is not None:
            env["GLIBC_TUNABLES"] = args.glibc_tunables
        emails = sorted(seed(database.config.database_url, hasher, args.users))
        ids = seed_applications(database.config.database_url, args.per_user)
        settle(database.server)
        script, data = scratch / "bench.lua", scratch / "data.lua"
        script.write_text(LUA)
        python = sys.executable if args.dev_venv else runtime_python(scratch)
        counts = scratch / "counts"
        counts.write_bytes(b"\0" * SLOT.size * SLOTS)
        env["BENCH_WORKER_COUNTS"] = str(counts)
        server = LocalGunicorn(
            env, "--max-requests", "0", config=CONF, output=sys.stderr.buffer, python=python
        )
        try:
            server.wait_until_serving(lambda: urllib.request.urlopen(  # noqa: S310
                f"http://127.0.0.1:{server.port}/health", timeout=2).status == 200)  # fmt: skip
            if not wait_until(lambda: len(read_counts(str(counts))) >= args.workers):
                raise SystemExit("not every worker finished loading")
            workers = sorted(read_counts(str(counts)))
            port = server.port
            phases: list[tuple[str, dict[int, dict]]] = []

            def phase(label: str) -> None:
                phases.append((label, take_snapshots(port, snapshots_dir, label, workers)))

            phase("idle")
            users = sign_in(port, emails[: args.connections])
            lua_data(data, users, ids)
            phase("signed-in")
            for key in ("list", "get", "me"):
                mode = ENDPOINTS[key].mode
                run_wrk(port, mode, script, data, args.connections, args.warmup)
                time.sleep(0.5)
                run_wrk(port, mode, script, data, args.connections, args.duration)
                phase(key)
                if key == "list":
                    serve_attachments(port, database.config.database_url, users, ids)
                    phase("attachments")
        finally:
            server.stop(timeout=30)

    for pid in workers:
        print(f"worker {pid} (GLIBC_TUNABLES={phases[0][1][pid]['glibc_tunables']!r}):")
        previous = None
        for label, shots in phases:
            print("\n".join(describe(label, shots[pid], previous)))
            previous = shots[pid]
    if args.json:
        args.json.write_text(json.dumps({label: shots for label, shots in phases}, indent=1))
    print(
        f"end {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}, "
        f"{time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the p99 of the benchmark comes from: the ceiling app under several wrk shapes, and the
machine's own wake-up delay.

    uv run python scripts/bench_tail.py

The bare-Falcon ceiling (scripts/ceiling_app.py, no database work, no middleware) is served as
scripts/bench.py serves it (2 workers x 4 threads, the runtime dependencies alone) and driven
by wrk with 32, 8 and 2 keep-alive connections, each with one wrk thread per connection and with
2 or 4 wrk threads sharing them. If the load generator made the tail, fewer wrk threads (less CPU
taken from the server) or fewer connections (less queueing) would shrink p99; if the machine
makes it, p99 stays at a few milliseconds whatever the shape, while p50 falls with the
connections. The wake-up probe measures the machine alone: how late a thread wakes from a 1 ms
sleep, with nothing else of the benchmark running, then again during a ceiling run. The figures
are in docs/benchmarks.md ("Where the tail comes from").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import LUA, lua_data, runtime_python, served
from benchkit import local_database

SHAPES = ((32, 32), (4, 32), (2, 32), (8, 8), (2, 8), (2, 2))  # (wrk threads, connections)


def wake_up_delays(seconds: float) -> tuple[float, float, float]:
    """p50, p99 and the maximum (ms) of how late this thread wakes from 1 ms sleeps."""
    late: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - started - 0.001) * 1000)
    late.sort()
    return late[len(late) // 2], late[int(len(late) * 0.99)], late[-1]


def wrk(
    port: int, threads: int, connections: int, seconds: float, files: tuple[Path, Path], mode: str
) -> dict:
    script, data = files
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
        "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}", "--", str(data), mode,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("BENCH "))[6:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--modes", default="health,list", help="the ceiling's endpoints")
    args = parser.parse_args()
    print(f"load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    p50, p99, worst = wake_up_delays(3)
    print(
        f"wake-up delay after a 1 ms sleep, nothing of the benchmark running: p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, max {worst:.1f} ms (load {os.getloadavg()[0]:.2f})"
    )
    with local_database(2, 4) as database, tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        python = runtime_python(scratch)
        script, data = scratch / "bench.lua", scratch / "data.lua"
        script.write_text(LUA)
        lua_data(data, [("user", "unused-the-ceiling-reads-no-token")], {"user": ["unused"]})
        files = (script, data)
        env = {**database.env, "CHECK_RESPONSES": "false"}
        with served(
            "ceiling", env, "scripts.ceiling_app:app", "/health", 2, scratch, python
        ) as server:
            for mode in args.modes.split(","):
                for threads, connections in SHAPES:
                    wrk(server.port, threads, connections, 1, files, mode)  # warm-up
                    load = os.getloadavg()[0]
                    result = wrk(server.port, threads, connections, args.duration, files, mode)
                    rate = result["requests"] / result["duration_us"] * 1e6
                    print(
                        f"ceiling {mode:<6} wrk -t {threads:<2} -c {connections:<2}: {rate:7,.0f} "
                        f"req/s, p50 {result['p50_us'] / 1000:6.2f} ms, p99 "
                        f"{result['p99_us'] / 1000:6.2f} ms, p99/p50 "
                        f"{result['p99_us'] / max(result['p50_us'], 1):5.2f} (load {load:.2f})",
                        flush=True,
                    )
            probe: list[tuple[float, float, float]] = []
            thread = threading.Thread(target=lambda: probe.append(wake_up_delays(3)))
            thread.start()
            wrk(server.port, 32, 32, 3, files, "health")
            thread.join()
            p50, p99, worst = probe[0]
            print(
                f"wake-up delay during a ceiling health run (32 connections): p50 {p50:.3f} ms, "
                f"p99 {p99:.3f} ms, max {worst:.1f} ms (load {os.getloadavg()[0]:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

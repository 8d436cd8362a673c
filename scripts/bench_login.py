"""Login latency against one argon2 verify, and peak memory during a flood of logins.

    uv run python scripts/bench_login.py [--workers 2] [--threads 4] [--flood 32]

It starts a throw-away local PostgreSQL, applies the migrations, seeds distinct accounts, and
serves the API with gunicorn (app/gunicorn_conf.py) over real HTTP. Rate limits are raised with
RATE_LIMIT_SCALE (a documented setting) so the limiter stays in the path without tripping;
any 429 makes the run invalid. The argon2 parameters are the production defaults from settings.

Targets (issue: accounts): login p50 at concurrency 1 <= 1.15 x one verify, the verify timed in
a separate process alternating with the logins (one verify, then one login), so both see the
same machine load; peak RSS of the API process tree during the flood <= 300 MB (its PSS, which
counts the pages the workers share with the master once, is printed beside it).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

import psutil
from benchkit import (
    GLIBC_TUNABLES,
    add_autogroup_option,
    default_hasher,
    free_port,
    gunicorn,
    local_database,
    login,
    scheduler_autogroup,
    seed,
    tree_rss,
)

from app.core.settings import Settings

VERIFY_PROBE = """
import statistics, sys, time
from argon2 import PasswordHasher, Type
hasher = PasswordHasher(time_cost=int(sys.argv[1]), memory_cost=int(sys.argv[2]),
                        parallelism=int(sys.argv[3]), type=Type.ID)
encoded = hasher.hash("correct-horse-battery-staple-42")
times = []
for _ in range(40):
    started = time.perf_counter()
    hasher.verify(encoded, "correct-horse-battery-staple-42")
    times.append(time.perf_counter() - started)
print(statistics.median(times) * 1000)
"""


# The same verify, one per line read, so verifies can alternate with the logins and both see
# the same machine load.
VERIFY_ON_REQUEST = """
import sys, time
from argon2 import PasswordHasher, Type
hasher = PasswordHasher(time_cost=int(sys.argv[1]), memory_cost=int(sys.argv[2]),
                        parallelism=int(sys.argv[3]), type=Type.ID)
encoded = hasher.hash("correct-horse-battery-staple-42")
for _ in sys.stdin:
    started = time.perf_counter()
    hasher.verify(encoded, "correct-horse-battery-staple-42")
    print((time.perf_counter() - started) * 1000, flush=True)
"""


def verify_on_request(settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            VERIFY_ON_REQUEST,
            str(settings.argon2_time_cost),
            str(settings.argon2_memory_kib),
            str(settings.argon2_parallelism),
        ],
        env={"PATH": os.environ["PATH"], "GLIBC_TUNABLES": GLIBC_TUNABLES},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def tree_pss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total


def verify_median_ms(settings: Settings, extra_env: dict[str, str]) -> float:
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            VERIFY_PROBE,
            str(settings.argon2_time_cost),
            str(settings.argon2_memory_kib),
            str(settings.argon2_parallelism),
        ],
        env={"PATH": os.environ["PATH"], **extra_env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--flood", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    add_autogroup_option(parser)
    args = parser.parse_args()

    defaults, hasher = default_hasher()
    # One verify as the server runs it (the API processes start with GLIBC_TUNABLES), and as a
    # plain process runs it (glibc's default allocator reuses one resident buffer).
    verify_server_ms = verify_median_ms(defaults, {"GLIBC_TUNABLES": GLIBC_TUNABLES})
    verify_plain_ms = verify_median_ms(defaults, {})

    with (
        scheduler_autogroup(args.no_autogroup) as autogroup,
        local_database(args.workers, args.threads) as database,
    ):
        emails = seed(
            database.config.database_url,
            hasher,
            args.sequential + args.flood * args.rounds + 5,
        )

        port = free_port()
        api = gunicorn(port, database.env)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if login(port, emails[-1])[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            master = psutil.Process(api.pid)
            idle_rss = tree_rss(master)

            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            sequential, statuses, interleaved = [], [], []
            probe = verify_on_request(defaults)
            assert probe.stdin is not None and probe.stdout is not None, "both are pipes"
            try:
                for email in emails[: args.sequential]:
                    probe.stdin.write("\n")
                    probe.stdin.flush()
                    interleaved.append(float(probe.stdout.readline()))
                    status, elapsed = login(port, email, connection)
                    statuses.append(status)
                    sequential.append(elapsed)
            finally:
                probe.stdin.close()
                probe.wait(30)
            connection.close()

            peak = idle_rss
            idle_pss = peak_pss = tree_pss(master)
            sampling = threading.Event()

            def sample() -> None:
                nonlocal peak, peak_pss
                rounds = 0
                while not sampling.is_set():
                    peak = max(peak, tree_rss(master))
                    rounds += 1
                    if rounds % 20 == 0:  # PSS reads every mapping: every 0.1 s or so
                        peak_pss = max(peak_pss, tree_pss(master))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample)
            sampler.start()
            flood_times = []
            offset = args.sequential
            for _ in range(args.rounds):
                batch = emails[offset : offset + args.flood]
                offset += args.flood
                barrier = threading.Barrier(len(batch))
                results: list[tuple[int, float]] = []

                def one(
                    email: str,
                    barrier: threading.Barrier = barrier,
                    results: list[tuple[int, float]] = results,
                ) -> None:
                    barrier.wait()
                    results.append(login(port, email))

                threads = [threading.Thread(target=one, args=(email,)) for email in batch]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                statuses += [status for status, _ in results]
                flood_times += [elapsed for _, elapsed in results]
            sampling.set()
            sampler.join()
        finally:
            api.terminate()
            api.wait(30)

    p50 = statistics.median(sequential) * 1000
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread)")
    print(f"scheduler autogroup: {autogroup}")
    print(
        f"argon2id: m={defaults.argon2_memory_kib} KiB, t={defaults.argon2_time_cost}, "
        f"p={defaults.argon2_parallelism}; hash slots per worker = CPU count ({os.cpu_count()})"
    )
    print(
        f"one verify, median of 40: {verify_server_ms:.1f} ms with the server's GLIBC_TUNABLES, "
        f"{verify_plain_ms:.1f} ms with glibc's defaults"
    )
    verify_interleaved_ms = statistics.median(interleaved)
    print(
        f"one verify, median of {len(interleaved)} alternating with the logins below (the "
        f"server's GLIBC_TUNABLES): {verify_interleaved_ms:.1f} ms"
    )
    print(
        f"login p50 at concurrency 1 ({args.sequential} logins, each after one verify): "
        f"{p50:.1f} ms = {p50 / verify_interleaved_ms:.2f} x the alternating verify "
        "(target <= 1.15)"
    )
    print(
        f"login p50 at concurrency 1 ({args.sequential} logins): {p50:.1f} ms "
        f"= {p50 / verify_server_ms:.2f} x the server's verify timed before the run, "
        f"{p50 / verify_plain_ms:.2f} x the default-allocator verify"
    )
    print(
        f"flood: {args.rounds} rounds of {args.flood} concurrent logins, "
        f"p50 {statistics.median(flood_times) * 1000:.0f} ms, max {max(flood_times) * 1000:.0f} ms"
    )
    print(
        f"API process tree RSS: idle {idle_rss / 2**20:.0f} MB, peak during flood "
        f"{peak / 2**20:.0f} MB (target <= 300)"
    )
    print(
        f"API process tree PSS (shared pages split between the processes sharing them, so the "
        f"workers' copy-on-write pages from the master count once): idle {idle_pss / 2**20:.0f} "
        f"MB, peak during flood {peak_pss / 2**20:.0f} MB (sampled every ~0.1 s)"
    )
    print(f"statuses: {counts}")
    if set(counts) != {200}:
        print("INVALID RUN: a login did not answer 200 (429 means the limits were not raised)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure argon2id hash and verify times for candidate parameters on this machine.

    uv run python scripts/bench_argon2.py [--rounds 20]

Candidates are the OWASP Password Storage Cheat Sheet's argon2id configurations (each equally
strong by OWASP's reckoning) plus stronger ones. The chosen default is the one in
app/core/settings.py; docs/security.md records the figures.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from argon2 import PasswordHasher, Type

# (memory KiB, iterations): OWASP's minimums first, then stronger settings.
CANDIDATES = [
    (47104, 1),
    (19456, 2),
    (12288, 3),
    (9216, 4),
    (7168, 5),
    (19456, 3),
    (47104, 2),
    (65536, 3),
]


def measure(memory_kib: int, time_cost: int, rounds: int) -> tuple[float, float]:
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID
    )
    password = "correct-horse-battery-staple-42"
    encoded = hasher.hash(password)
    hashes, verifies = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        hasher.hash(password)
        hashes.append(time.perf_counter() - started)
        started = time.perf_counter()
        hasher.verify(encoded, password)
        verifies.append(time.perf_counter() - started)
    return statistics.median(hashes) * 1000, statistics.median(verifies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(
        f"# argon2id, parallelism 1, median of {args.rounds} on {platform.processor() or platform.machine()}"
    )
    print("| memory (MiB) | iterations | hash (ms) | verify (ms) |")
    print("|---:|---:|---:|---:|")
    for memory_kib, time_cost in CANDIDATES:
        hash_ms, verify_ms = measure(memory_kib, time_cost, args.rounds)
        print(f"| {memory_kib / 1024:.0f} | {time_cost} | {hash_ms:.1f} | {verify_ms:.1f} |")


if __name__ == "__main__":
    main()

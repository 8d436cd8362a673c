"""What the database deadline's wait callback costs per statement.

    uv run python scripts/bench_wait_callback.py [--statements 5000] [--rounds 5]

The deadline (app/core/db_deadline.py) installs psycopg2's wait callback for the whole API
process: every statement then runs in psycopg2's asynchronous mode and each wait goes through a
Python function that polls the socket. This starts a throw-away local PostgreSQL and times
``SELECT 1`` round trips on one connection, blocking (libpq waits in C) and with the callback, in
alternating rounds so both see the same machine load, and prints the median time per statement
of each and the difference: the wall time, and the CPU the calling thread spends on it (what
one round trip adds to a request's server CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg2
import psycopg2.extensions as pg
from benchkit import local_database

from app.core import db_deadline


def per_statement_us(url: str, statements: int) -> tuple[float, float]:
    """Wall time and the calling thread's CPU time per round trip, in microseconds."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        cursor = connection.cursor()
        started, cpu = time.perf_counter(), time.thread_time()
        for _ in range(statements):
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return (
            (time.perf_counter() - started) / statements * 1e6,
            (time.thread_time() - cpu) / statements * 1e6,
        )
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    blocking: list[tuple[float, float]] = []
    waited: list[tuple[float, float]] = []
    with local_database(workers=1, threads=1) as database:
        url = database.config.database_url
        per_statement_us(url, 500)  # warm up the server
        for _ in range(args.rounds):
            pg.set_wait_callback(None)
            blocking.append(per_statement_us(url, args.statements))
            db_deadline.install(5.0)
            with db_deadline.database_deadline(3600.0):
                waited.append(per_statement_us(url, args.statements))
        pg.set_wait_callback(None)
    print(f"{args.rounds} rounds of {args.statements} SELECT 1 round trips on one connection")
    for index, measure in ((0, "wall time"), (1, "the thread's CPU")):
        plain = statistics.median(row[index] for row in blocking)
        green = statistics.median(row[index] for row in waited)
        print(f"{measure}:")
        print(f"  blocking (no callback): {plain:7.1f} us per statement")
        print(f"  with the wait callback: {green:7.1f} us per statement")
        print(
            f"  cost of the callback:   {green - plain:7.1f} us per statement "
            f"({green / plain - 1:+.0%})"
        )


if __name__ == "__main__":
    main()

"""What an authenticated read costs the API's thread and PostgreSQL's backend, each on its own.

    uv run python scripts/bench_reads.py [--requests 300] [--rounds 8]

Against a throw-away local PostgreSQL seeded like scripts/bench.py (one user, 200
applications), single-threaded, in this process:

- the API's CPU per request (``time.thread_time`` around the WSGI call, so waiting on
  PostgreSQL is not counted) for list, get one, me and health, the endpoints taking turns in
  blocks so every one sees the same machine load; the median block of each;
- PostgreSQL's CPU per statement (the backend process's user and system time) for the
  message get one and me send (the user's state and the route's row, app/services/auth.py),
  sent as it is, so the server parses and plans it every time, and as the ``EXECUTE`` of a
  statement prepared once, the two forms taking turns.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from wsgiref.util import setup_testing_defaults

import psutil
import psycopg2
from bench import seed_applications, settle
from benchkit import PASSWORD, default_hasher, local_database, seed


def api_cpu(env: dict[str, str], email: str, ids: list[str], requests: int, rounds: int) -> None:
    from falcon import testing

    from app.core.settings import Settings
    from app.main import create_app

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        client = testing.TestClient(create_app(Settings.from_env(env)))
        login = client.simulate_post(
            "/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        token = login.json["data"]["access_token"]
        app = client.app
        paths = {
            "list (limit=20)": ("/v1/applications", "limit=20"),
            "get one": (f"/v1/applications/{ids[5]}", ""),
            "me": ("/v1/users/me", ""),
            "health": ("/health", ""),
        }

        def call(path: str, query: str) -> None:
            environ: dict[str, Any] = {}
            setup_testing_defaults(environ)
            environ.update(
                PATH_INFO=path,
                QUERY_STRING=query,
                HTTP_AUTHORIZATION=f"Bearer {token}",
                HTTP_X_FORWARDED_FOR="203.0.113.9",
            )
            status: list[str] = []

            def start_response(line: str, headers: Any, *_: Any) -> Callable[[bytes], object]:
                status.append(line)
                return lambda _: None

            b"".join(app(environ, start_response))
            if not status[0].startswith("200"):
                raise SystemExit(f"{path} answered {status[0]}")

        samples: dict[str, list[float]] = {name: [] for name in paths}
        for path, query in paths.values():
            for _ in range(100):
                call(path, query)
        for _ in range(rounds):
            for name, (path, query) in paths.items():
                started = time.thread_time()
                for _ in range(requests):
                    call(path, query)
                samples[name].append((time.thread_time() - started) / requests * 1e6)
    print("API thread CPU per request (median block; min-max):")
    for name, values in samples.items():
        print(
            f"  {name:<16} {statistics.median(values):6.0f} µs  "
            f"({min(values):.0f}-{max(values):.0f})"
        )


def backend_cpu(url: str, user_id: str, application_id: str, statements: int) -> None:
    import peewee

    from app.core import database
    from app.core.database import db
    from app.services import auth
    from app.services.applications import ApplicationService
    from app.services.mfa import MfaService

    db.initialize(peewee.PostgresqlDatabase(None))  # SQL text only: nothing connects through it
    connection = psycopg2.connect(url)
    connection.autocommit = True
    cursor = connection.cursor()
    backend = psutil.Process(connection.get_backend_pid())

    def cpu() -> float:
        times = backend.cpu_times()
        return float(times.user + times.system)

    family = str(uuid.uuid4())
    reads = {
        "me": MfaService.summary_read(uuid.UUID(user_id)),
        "get one": ApplicationService.one(uuid.UUID(user_id), uuid.UUID(application_id)),
    }
    print("PostgreSQL backend CPU per message (the user's state and the route's row):")
    for index, (name, read) in enumerate(reads.items()):
        sql = auth._WITH_READ[0] + read.sql + auth._WITH_READ[1]
        params = (family, *read.params, user_id)
        cursor.execute(f"PREPARE read_{index} AS {database._numbered(sql)[0]}")
        forms: dict[str, str] = {
            "planned every time": sql,
            "prepared once": f"EXECUTE read_{index}({', '.join(['%s'] * len(params))})",
        }
        figures: dict[str, list[float]] = {form: [] for form in forms}
        for _ in range(3):
            for form, text in forms.items():
                message = "SELECT set_config('app.user_id', %s, true); " + text
                values = (user_id, *params)
                for _ in range(100):
                    cursor.execute(message, values)
                    cursor.fetchall()
                started = cpu()
                for _ in range(statements):
                    cursor.execute(message, values)
                    cursor.fetchall()
                figures[form].append((cpu() - started) / statements * 1e6)
        line = ", ".join(
            f"{form} {statistics.median(values):.0f} µs" for form, values in figures.items()
        )
        print(f"  {name:<8} {line}")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per block")
    parser.add_argument("--rounds", type=int, default=8, help="blocks per endpoint")
    parser.add_argument("--statements", type=int, default=2000, help="messages per form")
    args = parser.parse_args()
    with local_database(2, 4, log_level="INFO") as database:
        _, hasher = default_hasher()
        url = database.config.database_url
        (email,) = seed(url, hasher, 1)
        ids = seed_applications(url, 200)
        settle(database.server)
        user_id, applications = next(iter(ids.items()))
        print(f"load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
        api_cpu(
            {**database.env, "CHECK_RESPONSES": "false"},
            email,
            applications,
            args.requests,
            args.rounds,
        )
        backend_cpu(url, user_id, applications[5], args.statements)
        print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

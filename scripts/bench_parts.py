"""What each change of the list path's rework costs and saves, each part timed on its own.

    uv run python scripts/bench_parts.py [--repeat 2000]

Single-threaded, in this process, against a throw-away local PostgreSQL seeded like
scripts/bench.py (one user, 200 applications, a page of 20), each figure the median of five
rounds, old and new alternating so both see the same machine load:

- response check: a page's response through spectree's validation and the undeclared-field
  walk (what ``CHECK_RESPONSES`` runs in the tests) against skipping it (production);
- JSON: the page encoded by ``json.dumps`` with the app's former default against pydantic-core;
- token: ``AccessTokens`` full verification against a remembered token;
- SQL text: the page's SELECT built by peewee per request against ``PreparedSelect``;
- whole list request in-process (falcon's test client) with ``CHECK_RESPONSES`` on and off.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bench import seed_applications
from benchkit import PASSWORD, default_hasher, local_database, seed

from app.core.settings import Settings


def per_call_us(function: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat * 1e6


def compare(
    name: str,
    old: Callable[[], object],
    new: Callable[[], object],
    repeat: int,
    rounds: int = 5,
) -> tuple[str, float, float]:
    olds, news = [], []
    for _ in range(rounds):
        olds.append(per_call_us(old, repeat))
        news.append(per_call_us(new, repeat))
    before, after = statistics.median(olds), statistics.median(news)
    print(f"{name:<48} {before:9.1f} us -> {after:9.1f} us  (saves {before - after:8.1f} us)")
    return name, before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    repeat = args.repeat

    from falcon import testing

    from app.core import spec
    from app.core.database import PreparedSelect, db, init_database
    from app.core.json_encoding import json_default, json_dumps
    from app.core.security import AccessTokens
    from app.main import create_app
    from app.schemas.applications import ApplicationListResponse, ListQuery
    from app.services.applications import _page_query

    with local_database(1, 1, log_level="INFO") as database:
        _, hasher = default_hasher()
        emails = seed(database.config.database_url, hasher, 1)
        seed_applications(database.config.database_url, 200)
        settings = Settings.from_env({**database.env, "CHECK_RESPONSES": "false"})
        init_database(settings.database_url, settings)

        # A real page, as the service returns it.
        with contextlib.redirect_stdout(io.StringIO()):
            app = create_app(settings)
        client = testing.TestClient(app)

        with contextlib.redirect_stdout(io.StringIO()):
            login = client.simulate_post(
                "/v1/auth/login",
                json={"email": emails[0], "password": PASSWORD},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
        token = login.json["data"]["access_token"]
        user_id = login.json["data"]["user"]["id"]
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}
        from app.bootstrap import api

        items, cursor = api(settings).applications.list(uuid.UUID(user_id), ListQuery(limit=20))
        page = {
            "success": True,
            "data": items,
            "meta": {
                "request_id": uuid.uuid4().hex,
                "timestamp": datetime.now(UTC).isoformat(),
                "next_cursor": cursor,
                "limit": 20,
                "sort": "-updated_at",
            },
        }

        def checked() -> None:
            validated = ApplicationListResponse.model_validate(page)
            assert not spec.undeclared_fields(page, validated)

        compare("response check of a 20-item page", checked, lambda: None, repeat // 4)
        compare(
            "JSON of a 20-item page",
            lambda: json.dumps(page, default=json_default).encode(),
            lambda: json_dumps(page),
            repeat,
        )
        tokens = AccessTokens(settings)
        tokens.verify(token)
        compare(
            "access token verification",
            lambda: tokens._verify_signed(token),
            lambda: tokens.verify(token),
            repeat,
        )
        shape = ("-updated_at", 0, False, False, False, False, False)
        prepared = PreparedSelect(_page_query(*shape), 2)
        build = _page_query(*shape)
        compare(
            "SQL text of the page's SELECT",
            lambda: build(user_id, 21).sql(),
            lambda: prepared.statement(user_id, 21),
            repeat,
        )
        db.close()

        def in_process(checking: bool) -> float:
            config = Settings.from_env(
                {**database.env, "CHECK_RESPONSES": "true" if checking else "false"}
            )
            with contextlib.redirect_stdout(io.StringIO()):
                client = testing.TestClient(create_app(config))

            def one() -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    result = client.simulate_get(
                        "/v1/applications", params={"limit": "20"}, headers=headers
                    )
                assert result.status_code == 200, result.text

            for _ in range(20):
                one()
            return per_call_us(one, repeat // 10)

        olds, news = [], []
        for _ in range(5):
            olds.append(in_process(True))
            news.append(in_process(False))
        before, after = statistics.median(olds), statistics.median(news)
        print(
            f"{'list request in-process, checks on -> off':<48} {before:9.1f} us -> "
            f"{after:9.1f} us  (saves {before - after:8.1f} us)"
        )
        spec.check_responses(True)


if __name__ == "__main__":
    main()

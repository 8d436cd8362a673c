"""The API keeps its shape unless it is deliberately versioned.

``docs/openapi.json`` is the committed snapshot. The run regenerates the document from the app and
diffs it against the snapshot (:mod:`policies.openapi_diff`): a breaking change to an existing
operation fails with the list of what broke -- the way past is a new version prefix (``/v2/...``),
which leaves the existing operations untouched; a non-breaking change asks for the snapshot to be
updated in the same commit (``python -m policies.check --update-openapi-snapshot``).

Until the app ships an OpenAPI generator (the ``app.openapi`` module), the check is skipped with a
"not yet available" note.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from .guardrails import Guardrail
from .openapi_diff import breaking, diff

SNAPSHOT = Path("docs") / "openapi.json"
GENERATOR_MODULE = "app.openapi"
NOT_YET = "not yet available: the app has no OpenAPI generator (module app.openapi) yet"

# Settings for building the app offline: nothing here is a credential, nothing connects.
OFFLINE_ENV = {
    "APP_ENV": "test",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "5432",
    "DB_NAME": "openapi",
    "DB_APP_USER": "openapi",
    "DB_APP_PASSWORD": "offline-openapi-generation-only",
    "JWT_SECRET": "offline-openapi-generation-only-0123456789abcdef",
    "FRONTEND_URL": "http://localhost:5173",
    "API_URL": "http://localhost:8000",
    "EMAIL_PROVIDER": "console",
}


class NotYetAvailable(Exception):  # noqa: N818
    pass


def generator_available() -> bool:
    try:
        return importlib.util.find_spec(GENERATOR_MODULE) is not None
    except ModuleNotFoundError:
        return False


def generate_document() -> dict[str, Any]:
    """The live document, as the app serves it on GET /openapi.json."""
    if not generator_available():
        raise NotYetAvailable(NOT_YET)
    import falcon.testing

    from app.core.settings import Settings
    from app.main import create_app

    settings = Settings.from_env(
        {**OFFLINE_ENV, **{k: v for k, v in os.environ.items() if k == "PATH"}}
    )
    client = falcon.testing.TestClient(create_app(settings))
    resp = client.simulate_get("/openapi.json")
    if resp.status_code != 200:
        raise RuntimeError(f"GET /openapi.json returned {resp.status_code}")
    return resp.json


Generator = Callable[[], dict[str, Any]]


def compare(snapshot: dict[str, Any] | None, live: dict[str, Any]) -> list[tuple[str, str]]:
    """(message, path) findings for the live document against the snapshot."""
    if snapshot is None:
        return [
            (
                "no committed snapshot; run `python -m policies.check --update-openapi-snapshot` "
                "and commit it",
                str(SNAPSHOT),
            )
        ]
    changes = diff(snapshot, live)
    broken = breaking(changes)
    if broken:
        return [
            (
                f"breaking API change: {c} (keep the operation; put the new shape under a new "
                "version)",
                str(SNAPSHOT),
            )
            for c in broken
        ]
    if changes:
        listed = "; ".join(str(c) for c in changes[:10])
        more = f" and {len(changes) - 10} more" if len(changes) > 10 else ""
        return [
            (
                f"the API changed compatibly ({listed}{more}); update the snapshot in the same "
                "commit: "
                "python -m policies.check --update-openapi-snapshot",
                str(SNAPSHOT),
            )
        ]
    return []


def load_snapshot(root: Path) -> dict[str, Any] | None:
    path = root / SNAPSHOT
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def make_check(
    generate: Generator = generate_document,
) -> Callable[[Path], Iterator[tuple[str, str]]]:
    def check(root: Path) -> Iterator[tuple[str, str]]:
        try:
            live = generate()
        except NotYetAvailable:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to build the document is reported
            yield f"could not generate the OpenAPI document: {type(e).__name__}: {e}", str(SNAPSHOT)
            return
        yield from compare(load_snapshot(root), live)

    return check


def update_snapshot(
    root: Path, generate: Generator = generate_document, *, allow_breaking: bool = False
) -> list[str]:
    """Write the snapshot; refuses (returns the breaking changes) unless nothing breaks or
    ``allow_breaking`` (retiring a whole API version after its deprecation period)."""
    live = generate()
    snapshot = load_snapshot(root)
    if snapshot is not None and not allow_breaking:
        broken = breaking(diff(snapshot, live))
        if broken:
            return [str(c) for c in broken]
    path = root / SNAPSHOT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(live, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return []


def guardrail(generate: Generator = generate_document) -> Guardrail:
    return Guardrail(
        name="api-shape",
        description="The generated OpenAPI document keeps the committed snapshot's shape "
        "(docs/openapi.json): "
        "no removed, renamed or re-secured operation, no changed operationId, no new required "
        "request field, no tightened request constraint, no narrowed enum, no changed type, no "
        "removed response field, header or media type; compatible changes update the snapshot in "
        "the same commit.",
        control="JAT-API-1 (docs/design.md §4)",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Restore the old shape, or add the new shape under a new version prefix (/v2) "
        "and keep "
        "the old operations; for compatible changes run python -m policies.check "
        "--update-openapi-snapshot.",
        check=make_check(generate),
    )

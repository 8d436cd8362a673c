"""Write app/integrations/aws_data/: botocore's bundled data pruned to the operations the
application calls (app/integrations/aws.py explains why and how it is loaded).

    uv run python scripts/prune_aws_data.py          # rewrite the files from the installed botocore
    uv run python scripts/prune_aws_data.py --check  # exit 1 if they differ from what it would write

Run it after upgrading botocore or changing ``OPERATIONS``; tests/unit/test_aws_clients.py fails
until the files match the installed botocore. Keys keep botocore's order (a structure's members
are serialised in that order).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for app

from app.integrations.aws import DATA, ENDPOINT_SERVICES, OPERATIONS  # noqa: E402

UNUSED_KEYS = ("documentation", "documentationUrl")


def without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_documentation(v) for k, v in value.items() if k not in UNUSED_KEYS}
    if isinstance(value, list):
        return [without_documentation(each) for each in value]
    return value


def reachable_shapes(model: dict[str, Any], operations: tuple[str, ...]) -> set[str]:
    """The shapes the operations' inputs, outputs and errors reach."""
    shapes = model["shapes"]
    pending: list[str] = []
    for name in operations:
        operation = model["operations"][name]
        pending += [operation[part]["shape"] for part in ("input", "output") if part in operation]
        pending += [error["shape"] for error in operation.get("errors", [])]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        pending += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
    return seen


def pruned_files() -> dict[str, Any]:
    """Relative path -> JSON document, from the installed botocore's data."""
    from botocore.loaders import Loader

    loader = Loader()  # botocore's own search paths only
    endpoints = loader.load_data("endpoints")
    files: dict[str, Any] = {
        "endpoints.json": {
            **endpoints,
            "partitions": [
                {
                    **partition,
                    "services": {
                        name: service
                        for name, service in partition["services"].items()
                        if name in ENDPOINT_SERVICES
                    },
                }
                for partition in endpoints["partitions"]
            ],
        }
    }
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_data(f"{service}/{version}/service-2")
        missing = sorted(set(operations) - set(model["operations"]))
        if missing:
            raise SystemExit(f"botocore's {service} model has no {', '.join(missing)}")
        keep = reachable_shapes(model, operations)
        files[f"{service}/{version}/service-2.json"] = {
            **model,
            "operations": {
                name: without_documentation(operation)
                for name, operation in model["operations"].items()
                if name in operations
            },
            "shapes": {
                name: without_documentation(shape)
                for name, shape in model["shapes"].items()
                if name in keep
            },
        }
    return files


def render(document: Any) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def differences(root: Path = DATA) -> list[str]:
    """The files under ``root`` that differ from (or are missing in, or are extra to) what the
    installed botocore gives."""
    expected = {path: render(document) for path, document in pruned_files().items()}
    present = (
        {str(path.relative_to(root)) for path in root.rglob("*.json")} if root.is_dir() else set()
    )
    out = sorted(present - set(expected))
    for path, text in expected.items():
        target = root / path
        if not target.is_file() or target.read_text() != text:
            out.append(path)
    return out


def write(root: Path = DATA) -> None:
    if root.is_dir():
        shutil.rmtree(root)
    for path, document in pruned_files().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(document))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    if args.check:
        stale = differences()
        for path in stale:
            print(f"differs from the installed botocore: {path}")
        return 1 if stale else 0
    write()
    for written in sorted(DATA.rglob("*.json")):
        print(f"{written.relative_to(DATA.parents[2])}: {written.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

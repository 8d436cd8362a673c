"""Slim and check the container image's virtualenv (run by the Dockerfile's build stage).

    python3 scripts/image_venv.py prune SITE_PACKAGES
    VENV_PYTHON scripts/image_venv.py check REQUIREMENTS_TXT

``prune`` keeps, of botocore's service models (``botocore/data/<service>/``, about 26 MB of the
image's 28 MB of models), only those of the AWS clients the application creates (SERVICES) and sts,
which botocore's credential providers use for assumed roles and web identity. botocore reads a
service's model only when a client for it is created, from the first search path holding it
(https://docs.aws.amazon.com/botocore/latest/reference/loaders.html), so the other directories are
never read. The files at the top of ``botocore/data`` (endpoints, partitions, retry and default
configuration) are kept.

``check``, run with the virtualenv's own interpreter, fails the build when the virtualenv holds
any distribution the requirements file (the locked runtime dependencies) does not name, such as a
development or infrastructure tool, or lacks one it names; when a compiled extension module does
not import (the build strips their symbol tables); and when a client in SERVICES cannot be created
from the models that are left.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import sys
from pathlib import Path

# Every boto3 client the application creates (tests/unit/test_image_venv.py reads app/ to keep
# this list complete), and sts for botocore's own credential providers.
SERVICES = ("lambda", "s3", "secretsmanager", "sesv2", "sts")


def prune(site_packages: Path) -> list[str]:
    """Remove the service models outside SERVICES; the names removed."""
    data = site_packages / "botocore" / "data"
    if not (data / "endpoints.json").is_file():
        raise SystemExit(f"no botocore models under {data}")
    missing = [service for service in SERVICES if not (data / service).is_dir()]
    if missing:
        raise SystemExit(f"botocore has no model for {', '.join(missing)}")
    removed = []
    for entry in sorted(data.iterdir()):
        if entry.is_dir() and entry.name not in SERVICES:
            shutil.rmtree(entry)
            removed.append(entry.name)
    return removed


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_names(requirements: str) -> set[str]:
    """The distributions a ``uv export --format requirements-txt`` file pins."""
    return {
        normalized(match.group(1))
        for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", requirements, re.M)
    }


def installed_names(site_packages: Path) -> set[str]:
    names = set()
    for metadata in site_packages.glob("*.dist-info/METADATA"):
        for line in metadata.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                names.add(normalized(line.split(":", 1)[1].strip()))
                break
    return names


def distribution_problems(site_packages: Path, requirements: str) -> list[str]:
    """What differs between the installed distributions and the locked runtime set."""
    installed, required = installed_names(site_packages), required_names(requirements)
    problems = []
    if extra := sorted(installed - required):
        problems.append(f"not runtime dependencies, yet installed: {', '.join(extra)}")
    if missing := sorted(required - installed):
        problems.append(f"runtime dependencies not installed: {', '.join(missing)}")
    return problems


def extension_problems(site_packages: Path) -> list[str]:
    """Every compiled extension module imported (they are stripped of their symbol tables)."""
    problems = []
    for path in sorted(site_packages.rglob("*.so")):
        relative = path.relative_to(site_packages)
        if any(part.endswith(".libs") or "." in part for part in relative.parts[:-1]):
            continue  # a bundled shared library, not a module
        module = ".".join([*relative.parts[:-1], relative.name.split(".", 1)[0]])
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - each failure is reported, with its cause
            problems.append(f"{module} ({relative}) does not import: {exc!r}")
    return problems


def client_problems(services: tuple[str, ...] = SERVICES) -> list[str]:
    """Each service's client created as the application creates it (no request is sent)."""
    # Imported by name: boto3 and botocore ship no type information.
    boto3 = importlib.import_module("boto3")
    exceptions = importlib.import_module("botocore.exceptions")

    session = boto3.session.Session(region_name="eu-west-1")
    problems = []
    for service in services:
        try:
            session.client(service)
        except exceptions.UnknownServiceError as exc:
            problems.append(f"{service}: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prune").add_argument("site_packages", type=Path)
    commands.add_parser("check").add_argument("requirements", type=Path)
    args = parser.parse_args(argv)
    if args.command == "prune":
        removed = prune(args.site_packages)
        print(f"image_venv: kept the models of {', '.join(SERVICES)}; removed {len(removed)}")
        return 0
    site_packages = Path(next(p for p in sys.path if p.endswith("site-packages")))
    problems = distribution_problems(site_packages, args.requirements.read_text())
    problems += extension_problems(site_packages)
    problems += client_problems()
    for problem in problems:
        print(f"image_venv: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"image_venv: {site_packages} holds the runtime set, its extension modules import, "
            f"clients: {', '.join(SERVICES)}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

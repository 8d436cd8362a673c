"""Guardrail (``make lint``): every ``uses:`` in the workflows and local actions is pinned to a full
commit SHA with the release it stands for in a comment, e.g.

    uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1

A tag or branch can be moved to other code after review; a commit SHA cannot. Local actions
(``./path``) need no pin; ``docker://`` images need an ``@sha256:`` digest.

    python scripts/ci/check_pinned_actions.py [ROOT]      exit 1 and one line per problem
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?@[0-9a-f]{40}$")
_VERSION = re.compile(r"^v?\d+(?:\.\d+)*\b")
_DOCKER = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")


def workflow_files(root: Path) -> list[Path]:
    github = root / ".github"
    found = [*github.glob("workflows/*.yml"), *github.glob("workflows/*.yaml")]
    found += [*github.glob("actions/**/action.yml"), *github.glob("actions/**/action.yaml")]
    return sorted(found)


def problems(path: Path, root: Path) -> Iterator[str]:
    where = path.relative_to(root) if path.is_relative_to(root) else path
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = _USES.match(line)
        if not m:
            continue
        ref = m.group("ref").strip("\"'")
        comment = (m.group("comment") or "").strip()
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if not _DOCKER.match(ref):
                yield f"{where}:{number}: {ref} is not pinned by @sha256 digest"
            continue
        if not _PINNED.match(ref):
            yield f"{where}:{number}: {ref} is not pinned to a full 40-character commit SHA"
        elif not _VERSION.match(comment):
            yield (
                f"{where}:{number}: {ref} has no version comment (`# vX.Y.Z`) naming the release "
                "the SHA stands for"
            )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2]
    files = workflow_files(root)
    if not files:
        print(f"check_pinned_actions: no workflow under {root / '.github'}", file=sys.stderr)
        return 1
    found = [p for f in files for p in problems(f, root)]
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"check_pinned_actions: {len(files)} file(s), every uses: pinned")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

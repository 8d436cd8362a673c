"""The project's files stay inside the repository: no home directories, virtualenvs or
site-packages by absolute path (benchmark profiles included), so a clone reads the same
everywhere, and no reference to a document outside it. docs/design.md is the design's reference;
nothing points at a design kept beside the repository (a sibling ``shared`` folder or its
upper-case ``DESIGN`` file)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINE_PATH = re.compile(
    r"(/root/|/home/[a-z0-9_-]+/|/[^\s`'\"]*/\.venv/|/[^\s`'\"]*/site-packages/"
    r"|/tmp/[^\s`'\"/]+/)"  # a scratch directory (a file directly in /tmp, as in an image, is not)
)
OUTSIDE_DOCUMENT = re.compile(r"\.\./shared\b|\bDESIGN\b")
# Vendored third-party files, and this file, whose patterns spell what they look for.
SKIPPED = ("app/static/", "tests/unit/test_no_machine_paths.py")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if not name.startswith(SKIPPED)]


def offending_lines(path: Path, text: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for number, line in enumerate(text.splitlines(), 1)
        if MACHINE_PATH.search(line) or OUTSIDE_DOCUMENT.search(line)
    ]


def test_no_tracked_file_names_a_machine_path_or_a_document_outside_the_repository():
    files = tracked_text_files()
    names = {path.relative_to(ROOT).as_posix() for path in files}
    assert {"docs/benchmarks.md", ".ci/run", "app/core/roles.py", "Makefile"} <= names
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        found += offending_lines(path, text)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "# runs with ../shared beside it",
        '"""Role bootstrap (' + "DESIGN" + '.md §5)."""',
        'control="JAT-API-1 (' + "DESIGN" + ' 4)"',
        "profile: /root/.local/lib/thing.py",
        "see /home/someone/project/file.py",
        "/opt/app/.venv/lib/python3.11/x.py",
        '"command": "uv run python scripts/bench.py --json /tmp/s16/run.json"',
    ],
)
def test_the_check_sees_each_kind_of_outside_reference(line):
    assert offending_lines(ROOT / "README.md", line) != []


def test_the_design_reference_is_allowed():
    assert offending_lines(ROOT / "README.md", "see docs/design.md §5 and design.md") == []

"""The project's files name no machine: no home directories, virtualenvs or site-packages by
absolute path (benchmark profiles included), so a clone reads the same everywhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MACHINE_PATH = re.compile(
    r"(/root/|/home/[a-z0-9_-]+/|/[^\s`'\"]*/\.venv/|/[^\s`'\"]*/site-packages/)"
)
CHECKED = ["README.md", "docs", "app", "infra", "policies", "scripts", "migrations"]


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if not name.startswith("app/static/")]


def test_no_tracked_file_names_a_machine_path():
    files = tracked_text_files()
    assert any(path.name == "benchmarks.md" for path in files)
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert found == [], "\n".join(found)

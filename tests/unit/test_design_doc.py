"""docs/design.md is the reference for how the code is built, so what it names must exist: every
repository path it writes in backticks, and every module (with the name it points at) it writes
as a dotted path. A file the "adding a resource" walkthrough introduces is marked *new*: it must
not exist yet, and its folder must. The README links to the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.database import USER_SETTING

REPO = Path(__file__).resolve().parents[2]
DESIGN_DOC = REPO / "docs" / "design.md"
TOP = ("app", "infra", "policies", "scripts", "tests", "docs", "migrations")
SPAN = re.compile(r"`([^`\n]+)`( \(\*new\*\))?")
PATH = re.compile(rf"^(?:{'|'.join(TOP)})/[\w./-]*$")
MODULE = re.compile(rf"^(?:{'|'.join(TOP[:5])})(?:\.\w+)+(?::\w+)?$")


def spans(text: str) -> list[tuple[str, bool]]:
    """(content, marked new) of every inline code span, fenced blocks left out."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [(content.strip(), bool(new)) for content, new in SPAN.findall(text)]


def path_problems(text: str, root: Path) -> list[str]:
    problems = []
    for content, new in spans(text):
        word = content.split()[0]
        if not PATH.match(word):
            continue
        target = root / word
        if new:
            if target.exists():
                problems.append(f"{word} is marked new but exists")
            elif not target.parent.is_dir():
                problems.append(f"{word} is new but its folder does not exist")
        elif not target.exists():
            problems.append(f"{word} does not exist")
    return problems


def defines(source: str, name: str) -> bool:
    return bool(
        re.search(rf"^\s*(?:async def|def|class) {name}\b|^{name}\s*[:=]", source, flags=re.M)
    )


def module_problems(text: str, root: Path) -> list[str]:
    """``app.main:app``, ``app.gunicorn_worker.ApiWorker``: the longest dotted prefix that is a
    module or package must exist below the top package, and the next name must be defined in it
    (a module-level ``__getattr__`` counts for ``app.main:app``)."""
    problems = []
    for content, _ in spans(text):
        if not MODULE.match(content) or content == USER_SETTING:  # the row-security setting
            continue
        dotted, _, attribute = content.partition(":")
        parts = dotted.split(".")
        found, module = 0, None
        for index in range(len(parts), 1, -1):
            base = root.joinpath(*parts[:index])
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    found, module = index, candidate
                    break
            if module:
                break
        if module is None:
            problems.append(f"{content}: no such module")
            continue
        names = [*parts[found:], *([attribute] if attribute else [])]
        if names:
            source = module.read_text(encoding="utf-8")
            if not defines(source, names[0]) and not defines(source, "__getattr__"):
                where = module.relative_to(root)
                problems.append(f"{content}: {names[0]} is not defined in {where}")
    return problems


def test_every_path_the_design_names_exists():
    text = DESIGN_DOC.read_text(encoding="utf-8")
    checked = [c for c, _ in spans(text) if PATH.match(c.split()[0])]
    assert len(checked) > 50, "the span parser finds the paths"
    assert any(new for _, new in spans(text)), "the walkthrough marks the files it adds"
    assert path_problems(text, REPO) == []


def test_every_module_the_design_names_exists():
    text = DESIGN_DOC.read_text(encoding="utf-8")
    assert any(MODULE.match(c) for c, _ in spans(text))
    assert module_problems(text, REPO) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("see `app/core/nothing_here.py`", "app/core/nothing_here.py does not exist"),
        ("run `scripts/no-such-script --flag`", "scripts/no-such-script does not exist"),
        ("`app/models/__init__.py` (*new*)", "is marked new but exists"),
        ("`app/nowhere/contacts.py` (*new*)", "its folder does not exist"),
    ],
)
def test_the_path_check_sees_a_missing_or_stale_path(text, expected):
    problems = path_problems(text, REPO)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "text,expected",
    [
        ("`app.nowhere:app`", "no such module"),
        ("`app.gunicorn_worker.NoSuchWorker`", "NoSuchWorker is not defined"),
    ],
)
def test_the_module_check_sees_a_missing_module_or_name(text, expected):
    problems = module_problems(text, REPO)
    assert any(expected in problem for problem in problems), problems


def test_the_readme_links_the_design():
    assert "](docs/design.md)" in (REPO / "README.md").read_text(encoding="utf-8")

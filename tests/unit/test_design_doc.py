"""docs/design.md is the reference for how the code is built, so what it names must exist: every
repository path it writes in backticks, every module (with the name it points at) it writes as a
dotted path, and every class, class member and function it names. What the "adding a resource"
walkthrough introduces is marked: a file *new* must not exist yet, and its folder must; its
resource's names must not exist yet. The README links to the page."""

from __future__ import annotations

import ast
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from app.core.database import USER_SETTING

REPO = Path(__file__).resolve().parents[2]
DESIGN_DOC = REPO / "docs" / "design.md"
TOP = ("app", "infra", "policies", "scripts", "tests", "docs", "migrations")
SPAN = re.compile(r"`([^`\n]+)`( \(\*new\*\))?")
PATH = re.compile(rf"^(?:{'|'.join(TOP)})/[\w./-]*$")
MODULE = re.compile(rf"^(?:{'|'.join(TOP[:5])})(?:\.\w+)+(?::\w+)?$")
# A class by name (two capitals at least, so header names and plain words are left alone) or a
# class's member, and a function called by name; each optionally with its arguments or subscript.
CLASS = re.compile(r"^([A-Z][a-z0-9]+[A-Z]\w*|[A-Z]\w*(?=\.))(?:\.(\w+))?(?:\(.*\)|\[.*\])?$")
FUNCTION = re.compile(r"^([a-z_][a-z0-9_]*)\(.*\)$")
# The walkthrough's hypothetical resource: its names must not exist yet.
NEW_NAME = re.compile(r"^Contact")
SQL_FUNCTIONS = {"set_config"}


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


@cache
def definitions(root: Path = REPO) -> tuple[dict[str, set[str]], set[str]]:
    """Every class of the repository's Python (with the names defined in its body) and every
    function, module-level or method."""
    listed = subprocess.run(
        ["git", "ls-files", "--", *(f"{top}/*.py" for top in TOP)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    classes: dict[str, set[str]] = {}
    functions: set[str] = set()
    for name in listed:
        path = root / name
        if not path.is_file():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                members = classes.setdefault(node.name, set())
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        members.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        members.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        members.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.add(node.name)
    return classes, functions


def name_problems(text: str) -> list[str]:
    """Classes, their members and functions named in backticks exist in the repository; the
    walkthrough's new names do not."""
    classes, functions = definitions()
    problems = []
    for content, _ in spans(text):
        if match := CLASS.match(content):
            cls, member = match.groups()
            if NEW_NAME.match(cls):
                if cls in classes:
                    problems.append(f"{content}: {cls} is the walkthrough's new name but exists")
            elif cls not in classes:
                problems.append(f"{content}: no class {cls}")
            elif member and member not in classes[cls]:
                problems.append(f"{content}: {cls} has no {member}")
        elif match := FUNCTION.match(content):
            name = match.group(1)
            if name not in functions and name not in SQL_FUNCTIONS:
                problems.append(f"{content}: no function {name}")
    return problems


def test_every_class_member_and_function_the_design_names_exists():
    text = DESIGN_DOC.read_text(encoding="utf-8")
    named = [c for c, _ in spans(text) if CLASS.match(c) or FUNCTION.match(c)]
    assert len(named) > 30, "the span parser finds the names"
    assert name_problems(text) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("`ApplicationService.remove_everything`", "ApplicationService has no remove_everything"),
        ("`NoSuchService`", "no class NoSuchService"),
        ("`no_such_function(x)`", "no function no_such_function"),
        ("`ContactService`", None),
    ],
)
def test_the_name_check_sees_a_missing_name(text, expected):
    problems = name_problems(text)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in problem for problem in problems), problems


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

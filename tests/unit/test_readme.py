"""The README as a new user follows it from a fresh clone: every command it shows runs as written,
every relative link in it and in docs/ resolves inside the repository, and the facts it states
(rule count, make targets, what the browser tests need) agree with the repository."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MARKDOWN = [README, *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(
    r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\[[^\]]+\]:\s*(\S+)", re.M
)
COMMAND_START = ("make ", ".venv/bin/", ".tools/bin/", "scripts/", "python", "uv ", "pip ")
BARE = ("python ", "python3 ", "uv ", "pip ")  # not there in a fresh clone, or not the venv's


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve_inside_the_repository(path):
    broken = []
    for target in relative_links(path):
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{path.relative_to(REPO)}: links leaving the repository or missing"


def test_the_link_check_sees_links():
    assert "docs/security.md" in relative_links(README)
    assert ".env.example" in relative_links(README)


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S):
        found += [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`\n]+)`", text)
    # a command has arguments or names a script; `python3` or `scripts/` alone are prose
    return sorted(
        {
            c
            for c in found
            if c.startswith(COMMAND_START) and (" " in c or re.match(r"^scripts/\S+$", c))
        }
    )


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, flags=re.M))


def runnable_prefix(command: str) -> list[str]:
    """The command up to its first placeholder (NAME, EMAIL, [--option ...], ...)."""
    words = []
    for word in shlex.split(command):
        if word.startswith(("[", "<")) or word.isupper() or "..." in word:
            break
        words.append(word)
    return words


def test_readme_commands_run_as_written_in_a_fresh_clone():
    commands = readme_commands()
    assert any(c.startswith("make ") for c in commands)
    assert any(c.startswith(".venv/bin/python -m app.cli") for c in commands)
    # uv lives in .tools/bin and python means the virtualenv's: nothing bare
    bare = [c for c in commands if c.startswith(BARE)]
    assert bare == [], "use make, .venv/bin/python or .tools/bin/uv"

    targets = makefile_targets()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    for command in commands:
        words = runnable_prefix(command)
        if words[0] == "make":
            named = [w for w in words[1:] if "=" not in w]
            assert named and set(named) <= targets, command
        elif words[0] == ".venv/bin/python":
            # the virtualenv's python may be a different interpreter from this one (3.13 run)
            argv = [sys.executable, *words[1:], "--help"]
            result = subprocess.run(
                argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            assert result.returncode == 0, (command, result.stderr[-2000:])
            assert "usage:" in result.stdout, command
        elif words[0] == ".tools/bin/uv":
            assert re.search(r"^\$\(UV\):", (REPO / "Makefile").read_text(), re.M)  # make sync
        elif words[0].startswith("scripts/"):
            assert os.access(REPO / words[0], os.X_OK), command
        else:
            pytest.fail(f"unrecognised command in README: {command}")


def test_readme_rule_count_agrees_with_the_policy_run():
    from policies.guardrails import GUARDRAILS
    from policies.rules import ALL_RULES

    total = len(ALL_RULES) + len(GUARDRAILS) + 1  # + the API-shape check, as make policy counts
    text = README.read_text(encoding="utf-8")
    stated = {int(n) for n in re.findall(r"\b(\d+) (?:policy )?rules\b", text)}
    assert stated <= {total}, f"README states {stated} rules; make policy evaluates {total}"


@pytest.mark.parametrize(
    "fact",
    [
        "make sync",  # the target exists, so it is documented
        "--environment dev",  # policies.check --resources defaults to prod
        "BASE_IMAGE",  # make image's base
        "Chromium",  # browser tests' system tools outside CI
        "certutil",
        "PORT=8123",
        "cp .env.example .env",
    ],
)
def test_readme_documents(fact):
    assert fact in README.read_text(encoding="utf-8")


def test_every_make_target_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    missing = [t for t in makefile_targets() - {"help"} if f"make {t}" not in text]
    assert missing == []

"""The workflow checks in ``make lint`` (actionlint, zizmor, the pinning guardrail) pass on the
repository's workflows and each fails on a workflow that breaks what it checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.ci import check_pinned_actions

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"


def _repo(tmp_path: Path, workflow: str) -> Path:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "bad.yml").write_text(workflow, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = BIN / tool
    assert exe.is_file(), f"{tool} is not installed in the virtualenv (make sync)"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True)


# ----- the repository's own workflows ----------------------------------------------------------


def test_repository_workflows_exist():
    names = {p.name for p in (ROOT / ".github" / "workflows").glob("*.yml")}
    assert {"ci.yml", "preview.yml", "deploy.yml", "audit.yml"} <= names


def test_actionlint_passes_the_repository_workflows():
    result = _run("actionlint", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_passes_the_repository_workflows():
    result = _run("zizmor", "--offline", "--quiet", ".github/workflows", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_repository_action_is_pinned():
    assert check_pinned_actions.main([str(ROOT)]) == 0


# ----- each check fails on a bad workflow ------------------------------------------------------


def test_actionlint_fails_on_an_untrusted_expression_in_a_script(tmp_path):
    repo = _repo(
        tmp_path,
        "on: pull_request\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
    )
    result = _run("actionlint", cwd=repo)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def test_actionlint_fails_on_an_undefined_context(tmp_path):
    repo = _repo(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ nonsense.value }}\n",
    )
    result = _run("actionlint", cwd=repo)
    assert result.returncode == 1 and 'undefined variable "nonsense"' in result.stdout


def test_zizmor_fails_on_pull_request_target_checking_out_the_pull_request(tmp_path):
    repo = _repo(
        tmp_path,
        "on: pull_request_target\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    permissions:\n"
        "      contents: read\n"
        "    steps:\n"
        f"      - uses: {CHECKOUT}\n"
        "        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "          persist-credentials: false\n"
        "      - run: make test\n",
    )
    result = _run("zizmor", "--offline", "--quiet", ".github/workflows", cwd=repo)
    assert result.returncode != 0
    assert "dangerous-triggers" in result.stdout


def test_zizmor_fails_on_persisted_credentials_and_default_permissions(tmp_path):
    repo = _repo(
        tmp_path,
        f"on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {CHECKOUT}\n",
    )
    result = _run("zizmor", "--offline", "--quiet", ".github/workflows", cwd=repo)
    assert result.returncode != 0
    assert "artipacked" in result.stdout and "excessive-permissions" in result.stdout


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ("actions/checkout@v7", "not pinned to a full 40-character commit SHA"),
        ("actions/checkout@main", "not pinned to a full 40-character commit SHA"),
        ("actions/checkout@3d3c42e", "not pinned to a full 40-character commit SHA"),
        ("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "no version comment"),
        ("docker://debian:bookworm-slim", "not pinned by @sha256 digest"),
    ],
)
def test_pinning_guardrail_fails_on_an_unpinned_action(tmp_path, capsys, uses, expected):
    repo = _repo(
        tmp_path,
        f"on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {uses}\n",
    )
    assert check_pinned_actions.main([str(repo)]) == 1
    assert expected in capsys.readouterr().err


def test_pinning_guardrail_accepts_a_pinned_action_and_a_local_one(tmp_path):
    repo = _repo(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        f"      - uses: {CHECKOUT}\n      - uses: ./.github/actions/setup\n",
    )
    assert check_pinned_actions.main([str(repo)]) == 0


def test_pinning_guardrail_fails_when_there_is_no_workflow(tmp_path):
    assert check_pinned_actions.main([str(tmp_path)]) == 1

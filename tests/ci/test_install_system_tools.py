"""scripts/ci/install-system-tools installs only what is missing, through sudo when it does not run
as root (GitHub-hosted runners) and directly as root (.ci/run). The package manager and sudo are
stand-ins recording their arguments: installing packages is not something a test may do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ci" / "install-system-tools"
BASH = "/bin/bash"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{BASH}\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def runner(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"

    def run(*, uid: int, present: tuple[str, ...], sudo: bool = True, args: tuple[str, ...] = ()):
        for f in bin_dir.iterdir():
            f.unlink()
        _stub(bin_dir, "id", f'[ "$1" = "-u" ] && echo {uid}')
        _stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}')
        if sudo:
            _stub(
                bin_dir,
                "sudo",
                f'echo "sudo $*" >> {log}\n'
                'while [ "${1#--}" != "$1" ]; do shift; done\n'
                'exec "$@"',
            )
        for tool in present:
            _stub(bin_dir, tool, "exit 0")
        log.write_text("")
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
        result = subprocess.run(
            [BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, cwd=ROOT
        )
        return result, log.read_text().splitlines()

    return run


EVERYTHING_BUT_IMAGE_TOOLS = (
    "make",
    "python3",
    "git",
    "chromium",
    "certutil",
    "curl",
    "node",
    "npm",
)


def test_missing_tools_are_installed_with_sudo_when_not_root(runner):
    result, calls = runner(uid=1001, present=EVERYTHING_BUT_IMAGE_TOOLS)
    assert result.returncode == 0, result.stderr
    installs = [c for c in calls if c.startswith("apt-get install")]
    assert len(installs) == 1
    assert "buildah" in installs[0] and "mmdebstrap" in installs[0]
    assert "chromium" not in installs[0] and "curl" not in installs[0]
    assert any(c.startswith("sudo ") and "apt-get install" in c for c in calls)


def test_root_installs_without_sudo(runner):
    result, calls = runner(uid=0, present=EVERYTHING_BUT_IMAGE_TOOLS, sudo=False)
    assert result.returncode == 0, result.stderr
    assert any(c.startswith("apt-get install") and "buildah" in c for c in calls)
    assert not any(c.startswith("sudo") for c in calls)


def test_nothing_missing_installs_nothing(runner):
    present = (*EVERYTHING_BUT_IMAGE_TOOLS, "buildah", "mmdebstrap")
    result, calls = runner(uid=1001, present=present)
    assert result.returncode == 0 and calls == []
    assert "nothing to install" in result.stdout


def test_only_the_named_tools_are_considered(runner):
    result, calls = runner(uid=0, present=(), sudo=False, args=("curl",))
    assert result.returncode == 0, result.stderr
    (install,) = [c for c in calls if c.startswith("apt-get install")]
    assert " curl " in f" {install} " and "buildah" not in install


def test_not_root_without_sudo_fails_clearly(runner):
    result, calls = runner(uid=1001, present=(), sudo=False, args=("curl",))
    assert result.returncode == 1
    assert "need root or sudo" in result.stderr and calls == []


def test_unknown_tool_is_refused(runner):
    result, _ = runner(uid=0, present=(), args=("emacs",))
    assert result.returncode == 2 and "unknown tool emacs" in result.stderr


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)

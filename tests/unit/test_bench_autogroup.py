"""The benchmarks' switch for the kernel's per-session scheduling groups: it reports what the run
had, turns the grouping off only when asked, and always puts the setting back."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import benchkit  # noqa: E402


@pytest.fixture
def setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sched_autogroup_enabled"
    path.write_text("1\n")
    monkeypatch.setattr(benchkit, "AUTOGROUP", path)
    return path


def test_asked_to_it_turns_the_grouping_off_for_the_run_and_back_on_after(setting: Path) -> None:
    with benchkit.scheduler_autogroup(True) as state:
        assert setting.read_text() == "0"
        assert state.startswith("off for the run")
    assert setting.read_text() == "1"


def test_the_setting_comes_back_when_the_run_fails(setting: Path) -> None:
    with pytest.raises(RuntimeError), benchkit.scheduler_autogroup(True):
        raise RuntimeError("the benchmark failed")
    assert setting.read_text() == "1"


def test_the_setting_comes_back_when_the_run_is_terminated(setting: Path) -> None:
    """In a child process, as a benchmark stopped with SIGTERM would be."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            f"sys.path.insert(0, {str(SCRIPTS)!r})\n"
            "import benchkit\n"
            "from pathlib import Path\n"
            f"benchkit.AUTOGROUP = Path({str(setting)!r})\n"
            "with benchkit.scheduler_autogroup(True):\n"
            "    assert benchkit.AUTOGROUP.read_text() == '0'\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    signal.pause()\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 128 + signal.SIGTERM, child.stderr
    assert setting.read_text() == "1"


def test_not_asked_it_changes_nothing_and_says_the_grouping_was_on(setting: Path) -> None:
    with benchkit.scheduler_autogroup(False) as state:
        assert setting.read_text() == "1\n"
    assert state == "on"
    assert setting.read_text() == "1\n"


def test_a_grouping_already_off_is_reported_and_left_off(setting: Path) -> None:
    setting.write_text("0\n")
    with benchkit.scheduler_autogroup(True) as state:
        pass
    assert state == "off"
    assert setting.read_text() == "0\n"


def test_without_the_right_to_change_it_the_run_says_it_stayed_on(
    setting: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, text: str) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    with benchkit.scheduler_autogroup(True) as state:
        pass
    assert state == "on (it could not be turned off: Permission denied)"
    assert setting.read_text() == "1\n"


def test_a_kernel_without_the_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benchkit, "AUTOGROUP", tmp_path / "absent")
    with benchkit.scheduler_autogroup(True) as state:
        pass
    assert state == "not in this kernel"

"""Local tooling that depends on what the machine has: `make image` says what to install or set
when it cannot build, and `scripts/test-on-python` fails under CI=true when the interpreter is
missing. Each runs with a PATH holding only the basic tools (and, where said, a stand-in buildah
whose pulls fail, as they do without registry access)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASICS = ("bash", "sed", "dirname", "timeout", "mktemp", "rm", "grep", "tail", "make", "cat")


@pytest.fixture
def bare_path(tmp_path):
    """A PATH with the basic tools only: no docker, buildah, mmdebstrap, pyenv or pythons."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASICS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def run(argv, bin_dir, **env):
    return subprocess.run(
        argv,
        cwd=REPO,
        env={"PATH": str(bin_dir), "HOME": str(bin_dir.parent), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def failing_buildah(bin_dir):
    stub = bin_dir / "buildah"
    stub.write_text('#!/bin/bash\necho "buildah $1: no registry access" >&2\nexit 125\n')
    stub.chmod(0o755)


def test_without_docker_or_buildah_make_image_names_what_to_install(bare_path):
    result = run(["make", "--no-print-directory", "image"], bare_path)
    assert result.returncode != 0
    assert "install buildah (Debian: apt-get install buildah) or start Docker" in result.stderr


def test_without_registry_or_mmdebstrap_it_names_mmdebstrap_and_base_image(bare_path):
    failing_buildah(bare_path)
    result = run(["scripts/base-image"], bare_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "apt-get install mmdebstrap" in result.stderr
    assert "or set BASE_IMAGE" in result.stderr


def test_base_image_set_is_used_as_is(bare_path):
    result = run(["scripts/base-image"], bare_path, BASE_IMAGE="localhost/my-bookworm:1")
    assert result.returncode == 0 and result.stdout.strip() == "localhost/my-bookworm:1"


@pytest.mark.skipif(not (REPO / ".tools" / "bin" / "uv").exists(), reason="needs make sync first")
@pytest.mark.parametrize(("ci", "code", "said"), [("true", 1, "FAIL"), ("", 0, "SKIP")])
def test_other_python_missing_fails_under_ci_and_skips_otherwise(bare_path, ci, code, said):
    env = {"CI": ci, "UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON_INSTALL_DIR": str(bare_path)}
    result = run(["scripts/test-on-python", "3.99"], bare_path, **env)
    assert result.returncode == code, result.stderr
    assert f"{said}: no Python 3.99 found" in result.stdout + result.stderr

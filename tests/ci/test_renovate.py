"""renovate.json finds what it must keep current: its regex managers match the Dockerfile's base
image digest (passed through an ARG), the pinned uv and the Pulumi CLI version, and the values they
capture agree with the rest of the repository."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "renovate.json").read_text(encoding="utf-8"))


def _matches(manager: dict, relpath: str) -> list[dict[str, str]]:
    """What a regex manager captures in one file (Renovate's JS named groups in Python syntax)."""
    text = (ROOT / relpath).read_text(encoding="utf-8")
    assert any(re.search(p.strip("/"), relpath) for p in manager["managerFilePatterns"]), (
        f"{relpath} is not among the manager's files"
    )
    found = []
    for pattern in manager["matchStrings"]:
        for m in re.finditer(pattern.replace("(?<", "(?P<"), text):
            found.append(m.groupdict())
    return found


def _manager(datasource: str, needle: str) -> dict:
    (manager,) = [
        m
        for m in CONFIG["customManagers"]
        if m["datasourceTemplate"] == datasource and needle in json.dumps(m["matchStrings"])
    ]
    return manager


def test_base_image_digest_behind_the_arg_is_found():
    (found,) = _matches(_manager("docker", "BASE_IMAGE"), "Dockerfile")
    line = next(
        x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("ARG BASE_IMAGE=")
    )
    assert (
        line
        == f"ARG BASE_IMAGE={found['depName']}:{found['currentValue']}@{found['currentDigest']}"
    )
    assert found["depName"] == "docker.io/library/debian"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", found["currentDigest"])


def test_ci_container_uses_the_dockerfiles_base_image():
    (found,) = _matches(_manager("docker", "BASE_IMAGE"), "Dockerfile")
    image = f"{found['depName']}:{found['currentValue']}@{found['currentDigest']}"
    assert f"image: {image}" in (ROOT / ".github/workflows/ci.yml").read_text()


def test_uv_pins_are_found_and_agree():
    manager = _manager("pypi", "UV_VERSION")
    versions = {m["currentValue"] for f in ("Makefile", "Dockerfile") for m in _matches(manager, f)}
    assert len(versions) == 1, versions


def test_pulumi_cli_pins_are_found_and_equal_the_sdk():
    manager = _manager("pypi", "pulumi-version")
    workflows = [".github/workflows/preview.yml", ".github/workflows/deploy.yml"]
    versions = {m["currentValue"] for w in workflows for m in _matches(manager, w)}
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    sdk = next(d.split("==")[1] for d in groups["infra"] if d.startswith("pulumi=="))
    assert versions == {sdk}


def test_managers_cover_the_lock_file_and_the_actions():
    assert {"pep621", "github-actions", "custom.regex"} <= set(CONFIG["enabledManagers"])
    assert CONFIG["lockFileMaintenance"]["enabled"] is True

"""scripts/check-image-manifest: deploy stops before any Lambda moves to an image index.

The real script runs against a stand-in `aws` on PATH that answers as `aws ecr batch-get-image
--query 'images[0].imageManifestMediaType' --output text` does, and records its arguments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-image-manifest"


def _run(tmp_path: Path, media_type: str) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "aws"
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\necho "{media_type}"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(SCRIPT), "eu-west-1", "jobapptracker-dev", "abc123"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done, calls.read_text() if calls.exists() else ""


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ],
)
def test_a_single_platform_manifest_passes(tmp_path, media_type):
    done, calls = _run(tmp_path, media_type)
    assert done.returncode == 0, done.stderr
    assert "ecr batch-get-image --region eu-west-1 --repository-name jobapptracker-dev" in calls
    assert "--image-ids imageTag=abc123" in calls


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ],
)
def test_an_image_index_stops_the_deploy_with_what_to_do(tmp_path, media_type):
    done, _ = _run(tmp_path, media_type)
    assert done.returncode == 1
    assert "image index" in done.stderr and "--provenance=false" in done.stderr


def test_a_missing_image_stops_the_deploy(tmp_path):
    done, _ = _run(tmp_path, "None")
    assert done.returncode == 1 and "no image" in done.stderr


def test_deploy_checks_the_manifest_before_pulumi_moves_the_lambdas():
    deploy = (ROOT / "scripts" / "deploy").read_text()
    check = deploy.index("scripts/check-image-manifest")
    assert check < deploy.index('pulumi config set imageTag "$TAG"')

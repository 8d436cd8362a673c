"""The image's recipe: what the Dockerfile and .dockerignore promise (the build itself and the
running image are checked by scripts/ci-image-smoke in CI)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _final_stage() -> str:
    return DOCKERFILE.rsplit("\nFROM ", 1)[1]


def test_base_image_defaults_to_bookworm_pinned_by_digest():
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"\S+debian:bookworm\S*@sha256:[0-9a-f]{64}", base)


def test_every_stage_builds_for_linux_amd64_from_the_base():
    froms = re.findall(r"^FROM (.+)$", DOCKERFILE, re.M)
    assert froms and all(f.startswith("--platform=linux/amd64 ${BASE_IMAGE}") for f in froms)


def test_final_stage_runs_as_a_non_root_user():
    users = re.findall(r"^USER (\S+)$", _final_stage(), re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_final_stage_installs_no_compiler():
    assert not re.search(r"build-essential|\bgcc\b|\bg\+\+|\bmake\b|-dev\b", _final_stage())


def test_api_entrypoint_is_gunicorn():
    assert 'CMD ["gunicorn", "-c", "app/gunicorn_conf.py", "app.main:app"]' in _final_stage()


def test_final_stage_starts_every_process_with_the_api_malloc_tunables():
    """glibc reads GLIBC_TUNABLES at process start: the image's environment is where the API's
    malloc settings (app/core/memory.py) take effect."""
    from app.core.memory import GLIBC_TUNABLES

    settings = " ".join(re.findall(r"^ENV ((?:.*\\\n)*.*)$", _final_stage(), re.M)).split()
    assert f"GLIBC_TUNABLES={GLIBC_TUNABLES}" in settings


def test_dockerfile_copies_no_env_file():
    assert not re.search(r"^(COPY|ADD)\s.*\.env", DOCKERFILE, re.M)


def test_dockerignore_excludes_env_git_tests_and_local_data():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".env*", "**/.env*", ".git", "tests", "var"} <= ignored


def test_dockerignore_excludes_local_tooling():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".tools"} <= ignored


def test_dockerignore_keeps_what_the_image_copies():
    """Every path the final stage COPYs from the context (app/static included) is not ignored."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = re.findall(r"^COPY (?!--from)(\S+)", _final_stage(), re.M)
    assert copied == ["app", "migrations", "certs"]
    for path in [*copied, "app/static", "app/static/swagger-ui"]:
        parts = path.split("/")
        prefixes = {"/".join(parts[: i + 1]) for i in range(len(parts))}
        assert not prefixes & ignored, path
    assert (ROOT / "app/static/swagger-ui/swagger-ui-bundle.js").is_file()


def test_vendored_rds_ca_bundle_matches_its_recorded_sha256():
    recorded = (ROOT / "certs" / "rds-global-bundle.pem.sha256").read_text().split()[0]
    actual = hashlib.sha256((ROOT / "certs" / "rds-global-bundle.pem").read_bytes()).hexdigest()
    assert actual == recorded


def test_image_ships_the_ca_bundle_where_the_settings_look_for_it():
    from app.core.settings import RDS_CA_BUNDLE

    assert RDS_CA_BUNDLE.relative_to(ROOT).as_posix() == "certs/rds-global-bundle.pem"
    assert "COPY certs ./certs" in _final_stage()

"""Each repository guardrail fails on a crafted bad file (in a temporary repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from policies import guardrails as g

DIGEST = "sha256:" + "ab" * 32
GOOD_DOCKERFILE = f"""\
# syntax=docker/dockerfile:1
ARG BASE_IMAGE=debian:bookworm-slim@{DIGEST}
FROM ${{BASE_IMAGE}} AS build
RUN apt-get update && apt-get install -y build-essential
COPY pyproject.toml uv.lock ./
FROM ${{BASE_IMAGE}}
COPY --from=build /venv /venv
COPY app/ /srv/app/
RUN useradd --system app
USER app
CMD ["gunicorn", "app.main:app"]
"""
GOOD_IGNORE = ".git\n.env*\n**/.env*\n!.env.example\ntests/\nvar/\n"
GOOD_BUILD = (
    'set -eu\nPLATFORM="${PLATFORM:-linux/amd64}"\ndocker buildx build --platform "$PLATFORM" '
    '--provenance=false --sbom=false -t "$1" .\n'
)
GOOD_DEPLOY = 'set -eu\npulumi up --yes\nscripts/build-image "$IMAGE"\n'


def repo(tmp_path: Path, **files: str) -> Path:
    contents = {
        "Dockerfile": GOOD_DOCKERFILE,
        ".dockerignore": GOOD_IGNORE,
        "scripts/build-image": GOOD_BUILD,
        "scripts/deploy": GOOD_DEPLOY,
        "README.md": "hello\n",
    }
    contents.update(files)
    for rel, text in contents.items():
        if text is None:
            continue
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    return tmp_path


def findings(guardrail: str, root: Path) -> list[tuple[str, str]]:
    return list(next(x for x in g.GUARDRAILS if x.name == guardrail).check(root))


def test_good_repository_passes(tmp_path):
    root = repo(tmp_path)
    for guard in g.GUARDRAILS:
        assert list(guard.check(root)) == [], guard.name


@pytest.mark.parametrize(
    "dockerfile",
    [
        GOOD_DOCKERFILE.replace("USER app\n", ""),
        GOOD_DOCKERFILE.replace("USER app", "USER root"),
        GOOD_DOCKERFILE.replace("USER app", "USER 0:0"),
        GOOD_DOCKERFILE.replace("FROM ${BASE_IMAGE}\n", "FROM ${BASE_IMAGE}\nUSER app\n").replace(
            "USER app\nCMD", "USER root\nCMD"
        ),
    ],
)
def test_root_user(tmp_path, dockerfile):
    assert findings("dockerfile-non-root", repo(tmp_path, Dockerfile=dockerfile))


def test_user_set_only_in_a_build_stage_does_not_count(tmp_path):
    df = GOOD_DOCKERFILE.replace("USER app\n", "").replace(
        "FROM ${BASE_IMAGE} AS build\n", "FROM ${BASE_IMAGE} AS build\nUSER app\n"
    )
    assert findings("dockerfile-non-root", repo(tmp_path, Dockerfile=df))


@pytest.mark.parametrize(
    "line",
    [
        "COPY .env /srv/.env",
        "COPY .env.production ./",
        "ADD config/.env.local /srv/",
        'COPY [".env", "/srv/"]',
        "COPY --chown=app .env* /srv/",
    ],
)
def test_env_file_copied(tmp_path, line):
    df = GOOD_DOCKERFILE.replace("USER app", f"{line}\nUSER app")
    found = findings("dockerfile-no-env-files", repo(tmp_path, Dockerfile=df))
    assert found and ".env" in found[0][0]


def test_whole_context_copy_needs_the_dockerignore(tmp_path):
    df = GOOD_DOCKERFILE.replace("COPY app/ /srv/app/", "COPY . /srv/")
    assert findings("dockerfile-no-env-files", repo(tmp_path / "a", Dockerfile=df)) == []
    assert findings(
        "dockerfile-no-env-files",
        repo(tmp_path / "b", Dockerfile=df, **{".dockerignore": ".git\n"}),
    )


@pytest.mark.parametrize(
    "dockerfile",
    [
        GOOD_DOCKERFILE.replace(f"@{DIGEST}", ""),
        GOOD_DOCKERFILE.replace(f"bookworm-slim@{DIGEST}", "bookworm-slim@sha256:abc"),
        GOOD_DOCKERFILE.replace(f"ARG BASE_IMAGE=debian:bookworm-slim@{DIGEST}", "ARG BASE_IMAGE"),
        GOOD_DOCKERFILE.replace(f"ARG BASE_IMAGE=debian:bookworm-slim@{DIGEST}\n", ""),
        GOOD_DOCKERFILE.replace("FROM ${BASE_IMAGE}\n", "FROM python:3.11-slim\n"),
    ],
)
def test_base_image_not_pinned(tmp_path, dockerfile):
    assert findings("dockerfile-base-digest", repo(tmp_path, Dockerfile=dockerfile))


@pytest.mark.parametrize(
    "ignore",
    [None, ".git\n", ".git\n.env\n", ".env*\n!.env.production\n", "tests/\n*.env\n"],
)
def test_dockerignore_not_excluding_env(tmp_path, ignore):
    if ignore is None:
        root = repo(tmp_path)
        (root / ".dockerignore").unlink()
    else:
        root = repo(tmp_path, **{".dockerignore": ignore})
    assert findings("dockerignore-env", root)


def test_dockerignore_variants_that_work(tmp_path):
    for i, ignore in enumerate(
        [".env*\n", "**/.env*\n", ".env\n.env.*\n", "/.env*\n!.env.example\n"]
    ):
        assert (
            findings("dockerignore-env", repo(tmp_path / str(i), **{".dockerignore": ignore})) == []
        ), ignore


def _fake_access_key() -> str:
    return "AKIA" + "QWERTYUIOPASDFGH"


def _fake_private_key() -> str:
    return "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("rel", "text", "label"),
    [
        (
            "config/settings.py",
            f'AWS_ACCESS_KEY_ID = "{_fake_access_key()}"\n',
            "AWS access key ID",
        ),
        ("deploy/key.pem", _fake_private_key(), "private key"),
        (
            ".env.example",
            "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" + "\n",
            "AWS secret access key",
        ),
        ("notes.md", "-----BEGIN " + "OPENSSH PRIVATE KEY-----\n", "private key"),
    ],
)
def test_committed_credentials(tmp_path, rel, text, label):
    found = findings("no-committed-credentials", repo(tmp_path, **{rel: text}))
    assert found == [(f"line 1: looks like a committed {label}", rel)] or any(
        label in m for m, _ in found
    )


def test_untracked_files_are_not_scanned(tmp_path):
    root = repo(tmp_path)
    (root / "scratch.txt").write_text(_fake_access_key())
    assert findings("no-committed-credentials", root) == []


@pytest.mark.parametrize(
    "files",
    [
        {"scripts/deploy": None},
        {"scripts/build-image": "docker buildx build -t x .\n"},
        {"scripts/build-image": "docker buildx build --platform linux/arm64 -t x .\n"},
        {"scripts/build-image": "# --platform linux/amd64\ndocker build -t x .\n"},
        {"scripts/deploy": "set -eu\npulumi up --yes\n"},
        {"scripts/deploy": "docker build -t x .\n"},
    ],
)
def test_deploy_not_building_for_amd64(tmp_path, files):
    root = repo(tmp_path, **files)
    if files.get("scripts/deploy", "") is None:
        (root / "scripts" / "deploy").unlink(missing_ok=True)
    assert findings("deploy-linux-amd64", root)


def test_deploy_variants_that_work(tmp_path):
    variants = [
        {"scripts/deploy": "docker buildx build --platform=linux/amd64 -t x .\n"},
        {"scripts/build-image": "buildah build --platform linux/amd64 -t x .\n"},
        {"scripts/build-image": "buildah bud --arch amd64 -t x .\n"},
    ]
    for i, files in enumerate(variants):
        assert findings("deploy-linux-amd64", repo(tmp_path / str(i), **files)) == [], files


def test_dockerfile_parser_joins_continuations_and_skips_comments():
    ins = g.parse_dockerfile("FROM a\n# c\nRUN echo \\\n  one \\\n  # inside\n  two\nUSER app\n")
    assert [(i.keyword, i.line) for i in ins] == [("FROM", 1), ("RUN", 3), ("USER", 7)]
    assert "one" in ins[1].args and "two" in ins[1].args


# ----- pushed manifest ----------------------------------------------------------------------

DOCKER_AND_BUILDAH = """\
set -euo pipefail
args=(--platform linux/amd64 -t "$IMAGE")
if command -v docker >/dev/null; then
  docker buildx build "${args[@]}" --provenance=false --sbom=false --push .
else
  buildah bud --layers "${args[@]}" .
  buildah push --format v2s2 "$IMAGE" "docker://${IMAGE}"
fi
"""


@pytest.mark.parametrize(
    "script",
    [
        DOCKER_AND_BUILDAH,
        DOCKER_AND_BUILDAH.replace("--format v2s2", "--format=oci"),
        "export BUILDX_NO_DEFAULT_ATTESTATIONS=1\ndocker buildx build --platform linux/amd64 .\n",
        "docker buildx build --platform linux/amd64 \\\n  --provenance false \\\n"
        "  --sbom=false --push .\n",
        "buildah bud --platform linux/amd64 -t x .\n",  # builds, never pushes
    ],
)
def test_single_manifest_builds_pass(tmp_path, script):
    root = repo(tmp_path, **{"scripts/build-image": script})
    assert findings("build-single-manifest", root) == []


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (DOCKER_AND_BUILDAH.replace(" --provenance=false", ""), "--provenance=false"),
        (DOCKER_AND_BUILDAH.replace(" --sbom=false", ""), "--sbom=false"),
        (
            DOCKER_AND_BUILDAH.replace("--provenance=false", "--provenance=mode=max"),
            "provenance attestation on",
        ),
        (DOCKER_AND_BUILDAH.replace("--sbom=false", "--sbom=true"), "sbom attestation on"),
        (DOCKER_AND_BUILDAH.replace("--sbom=false", "--sbom=false --attest type=sbom"), "--attest"),
        (DOCKER_AND_BUILDAH.replace("--format v2s2 ", ""), "single-manifest format"),
        (DOCKER_AND_BUILDAH.replace("--format v2s2", "--format v2s2 --all"), "--all"),
        (
            DOCKER_AND_BUILDAH.replace("buildah bud --layers", "buildah bud --manifest list"),
            "manifest list",
        ),
        (
            DOCKER_AND_BUILDAH.replace("linux/amd64", "linux/amd64,linux/arm64"),
            "several platforms",
        ),
    ],
)
def test_builds_pushing_an_index_or_a_list_are_refused(tmp_path, script, expected):
    root = repo(tmp_path, **{"scripts/build-image": script})
    found = findings("build-single-manifest", root)
    assert found and any(expected in m for m, _ in found), found
    assert {p for _, p in found} == {"scripts/build-image"}


def test_builder_flags_in_comments_do_not_count(tmp_path):
    script = "# docker buildx build --provenance=false --sbom=false\ndocker buildx build .\n"
    root = repo(tmp_path, **{"scripts/build-image": script})
    assert len(findings("build-single-manifest", root)) == 2

"""Repository guardrails: the container build, tracked files and the deploy script.

Each guardrail is a plain function over the repository root returning ``(message, path)`` pairs;
the runner reports them in the same table as the pack's rules. The API-shape guardrail lives in
:mod:`policies.apishape`.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pulumi_policy import EnforcementLevel, Severity

from .migrationcheck import MARKER, check_migrations


@dataclass(frozen=True)
class Guardrail:
    name: str
    description: str
    control: str
    severity: Severity
    enforcement: EnforcementLevel
    remediation: str
    check: Callable[[Path], Iterator[tuple[str, str]]]

    def metadata(self) -> dict:
        return {
            "name": self.name,
            "kind": "guardrail",
            "description": self.description,
            "control": self.control,
            "severity": self.severity.value,
            "enforcementLevel": self.enforcement.value,
            "remediation": self.remediation,
            "unknownValues": "not applicable: guardrails read files, which are always known",
            "types": None,
            "environmentDependent": False,
            "imageBound": False,
        }


# ----- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, args = buf.strip().partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
        buf = ""
    if buf.strip():
        keyword, _, args = buf.strip().partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
    return out


def _stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            stages.append([ins])
        elif stages:
            stages[-1].append(ins)
    return stages


def _dockerfile(root: Path) -> tuple[Path, list[Instruction]] | None:
    path = root / "Dockerfile"
    if not path.is_file():
        return None
    return path, parse_dockerfile(path.read_text(encoding="utf-8"))


def check_non_root(root: Path) -> Iterator[tuple[str, str]]:
    found = _dockerfile(root)
    if found is None:
        yield "no Dockerfile", "Dockerfile"
        return
    _, instructions = found
    stages = _stages(instructions)
    if not stages:
        yield "Dockerfile has no FROM", "Dockerfile"
        return
    users = [i for i in stages[-1] if i.keyword == "USER"]
    if not users:
        yield "the final stage sets no USER, so the image runs as root", "Dockerfile"
        return
    last = users[-1]
    user = last.args.split(":", 1)[0].strip().strip("\"'")
    if user in ("root", "0", ""):
        yield f"line {last.line}: the final stage runs as {last.args!r}", "Dockerfile"


_ENV_FILE = re.compile(r"(^|/)\.env[^/]*$")


def _copy_sources(args: str) -> list[str]:
    if args.startswith("["):
        import json

        try:
            parts = json.loads(args)
        except ValueError:
            parts = []
    else:
        parts = args.split()
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1]


def check_no_env_copy(root: Path) -> Iterator[tuple[str, str]]:
    found = _dockerfile(root)
    if found is None:
        return
    _, instructions = found
    ignore_ok = dockerignore_excludes_env(root)
    for ins in instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        for src in _copy_sources(ins.args):
            clean = src.rstrip("/")
            if _ENV_FILE.search(clean) or fnmatch.fnmatch(".env", clean.split("/")[-1] or clean):
                yield f"line {ins.line}: {ins.keyword} copies {src}", "Dockerfile"
            elif clean in (".", "./", "*", "") and not ignore_ok:
                yield (
                    f"line {ins.line}: {ins.keyword} copies the whole build context while "
                    ".dockerignore "
                    "does not exclude .env*",
                    "Dockerfile",
                )


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def check_base_digest(root: Path) -> Iterator[tuple[str, str]]:
    found = _dockerfile(root)
    if found is None:
        return
    _, instructions = found
    base = [
        i
        for i in instructions
        if i.keyword == "ARG" and i.args.split("=", 1)[0].strip() == "BASE_IMAGE"
    ]
    if not base:
        yield "no ARG BASE_IMAGE", "Dockerfile"
    for arg in base:
        default = arg.args.split("=", 1)[1].strip().strip("\"'") if "=" in arg.args else ""
        if not _DIGEST.search(default):
            yield (
                f"line {arg.line}: BASE_IMAGE default {default or '(none)'} is not pinned by "
                "@sha256 digest",
                "Dockerfile",
            )
    stage_names: set[str] = set()
    for ins in instructions:
        if ins.keyword != "FROM":
            continue
        words = [w for w in ins.args.split() if not w.startswith("--")]
        image = words[0] if words else ""
        if len(words) >= 3 and words[1].upper() == "AS":
            alias = words[2]
        else:
            alias = None
        if image in ("scratch",) or image in stage_names or "$" in image or _DIGEST.search(image):
            pass
        else:
            yield (
                f"line {ins.line}: FROM {image} is neither ${{BASE_IMAGE}}, a stage nor pinned by "
                "digest",
                "Dockerfile",
            )
        if alias:
            stage_names.add(alias)


# ----- .dockerignore ---------------------------------------------------------------------------

ENV_SAMPLES = (".env", ".env.local", ".env.production", "app/.env")


def _ignored(patterns: list[tuple[bool, str]], path: str) -> bool:
    verdict = False
    for negated, pat in patterns:
        p = pat.lstrip("/")
        candidates = {p}
        if p.startswith("**/"):
            candidates.add(p[3:])
        matched = any(fnmatch.fnmatchcase(path, c) for c in candidates) or (
            p.startswith("**/") and fnmatch.fnmatchcase(path.split("/")[-1], p[3:])
        )
        if matched:
            verdict = not negated
    return verdict


def dockerignore_excludes_env(root: Path) -> bool:
    path = root / ".dockerignore"
    if not path.is_file():
        return False
    patterns = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        patterns.append((line.startswith("!"), line.lstrip("!").strip()))
    return all(_ignored(patterns, s) for s in ENV_SAMPLES[:3])


def check_dockerignore(root: Path) -> Iterator[tuple[str, str]]:
    if not (root / ".dockerignore").is_file():
        yield "no .dockerignore", ".dockerignore"
    elif not dockerignore_excludes_env(root):
        yield (
            "does not exclude .env* (.env, .env.local, .env.production must all be ignored)",
            ".dockerignore",
        )


# ----- tracked files -------------------------------------------------------------------------

SECRET_PATTERNS = (
    ("AWS access key ID", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    (
        "AWS secret access key",
        re.compile(
            r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
        ),
    ),
)
MAX_SCAN_BYTES = 2_000_000


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode("utf-8", "replace")
    return [p for p in out.split("\0") if p]


def scan_text(text: str) -> Iterator[tuple[str, int]]:
    for n, line in enumerate(text.splitlines(), 1):
        for label, pattern in SECRET_PATTERNS:
            if pattern.search(line):
                yield label, n


def check_tracked_secrets(root: Path) -> Iterator[tuple[str, str]]:
    for rel in tracked_files(root):
        path = root / rel
        if not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        for label, line in scan_text(data.decode("utf-8", "replace")):
            yield f"line {line}: looks like a committed {label}", rel


# ----- deploy script -------------------------------------------------------------------------


def _code(path: Path) -> str:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        s = raw.strip()
        if s.startswith("#"):
            continue
        lines.append(raw.split(" #", 1)[0])
    return "\n".join(lines)


_DIRECT_PLATFORM = re.compile(r"--platform[= ]\s*[\"']?linux/amd64|--arch[= ]\s*[\"']?amd64")
_VAR_PLATFORM = re.compile(r"--platform[= ]\s*[\"']?\$\{?(\w+)")


def builds_for_amd64(code: str) -> bool:
    if _DIRECT_PLATFORM.search(code):
        return True
    for m in _VAR_PLATFORM.finditer(code):
        if re.search(rf"\b{m.group(1)}\b[^\n]*linux/amd64", code):
            return True
    return False


def check_deploy_platform(root: Path) -> Iterator[tuple[str, str]]:
    deploy = root / "scripts" / "deploy"
    if not deploy.is_file():
        yield "no scripts/deploy", "scripts/deploy"
        return
    chain = [deploy]
    text = _code(deploy)
    if "build-image" in text and (root / "scripts" / "build-image").is_file():
        chain.append(root / "scripts" / "build-image")
    code = "\n".join(_code(p) for p in chain)
    if not re.search(r"\b(docker|buildah|podman|build-image)\b", code):
        yield (
            "scripts/deploy does not build the image (no docker/buildah/build-image call)",
            "scripts/deploy",
        )
        return
    if not builds_for_amd64(code):
        names = ", ".join(str(p.relative_to(root)) for p in chain)
        yield (
            f"the image build ({names}) does not pin --platform linux/amd64",
            str(chain[-1].relative_to(root)),
        )


# ----- pushed manifest ------------------------------------------------------------------------

_FLAG_OFF = r"[= ]\s*[\"']?(?:false|0)\b"
_FLAG_ON = r"[= ]\s*[\"']?(?:true|1|mode=)"
_NO_DEFAULT_ATTESTATIONS = re.compile(r"\bBUILDX_NO_DEFAULT_ATTESTATIONS=[\"']?1\b")
_MULTI_PLATFORM = re.compile(r"--platform[= ]\s*[\"']?[\w/.-]+,[\w/.-]+")
_BUILDAH_FORMAT = re.compile(r"(?:--format|-f)[= ]\s*[\"']?(?:v2s2|oci|docker)\b")


def _joined(code: str) -> str:
    return re.sub(r"\\\n\s*", " ", code)


def build_manifest_problems(code: str) -> list[str]:
    """Why the image pushed by this build script would not be a plain single-platform manifest."""
    code = _joined(code)
    problems = []
    if re.search(r"\bdocker\s+(?:buildx\s+)?build\b", code):
        defaults_off = bool(_NO_DEFAULT_ATTESTATIONS.search(code))
        for kind in ("provenance", "sbom"):
            if re.search(rf"--{kind}{_FLAG_ON}", code):
                problems.append(
                    f"docker buildx build turns the {kind} attestation on: the push becomes an "
                    "OCI image index, which Lambda refuses"
                )
            elif not defaults_off and not re.search(rf"--{kind}{_FLAG_OFF}", code):
                problems.append(
                    f"docker buildx build does not pass --{kind}=false: buildx attaches "
                    "attestations by default, so the push becomes an OCI image index, which "
                    "Lambda refuses"
                )
        if re.search(r"--attest\b", code):
            problems.append("docker buildx build --attest adds an attestation manifest")
    if re.search(r"\bbuildah\b", code):
        if re.search(r"\bbuildah\s+manifest\b|--manifest\b", code):
            problems.append("buildah builds a manifest list (buildah manifest / --manifest)")
        for line in code.splitlines():
            if re.search(r"\bbuildah\s+push\b", line):
                if not _BUILDAH_FORMAT.search(line):
                    problems.append(
                        "buildah push does not choose a single-manifest format (--format v2s2 or "
                        "--format oci)"
                    )
                if "--all" in line:
                    problems.append("buildah push --all pushes a manifest list")
    if _MULTI_PLATFORM.search(code):
        problems.append("the build names several platforms, which produces a manifest list")
    return problems


def check_build_manifest(root: Path) -> Iterator[tuple[str, str]]:
    scripts = [root / "scripts" / "build-image", root / "scripts" / "deploy"]
    builders = [p for p in scripts if p.is_file() and re.search(r"\b(docker|buildah)\b", _code(p))]
    if not builders:
        yield "no build script runs docker or buildah", "scripts/build-image"
        return
    for path in builders:
        for problem in build_manifest_problems(_code(path)):
            yield problem, str(path.relative_to(root))


GUARDRAILS = [
    Guardrail(
        name="dockerfile-non-root",
        description="The image's final stage runs as a non-root USER.",
        control="JAT-REPO-1",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create a system user in the final stage and end it with USER <name> (not "
        "root/0).",
        check=check_non_root,
    ),
    Guardrail(
        name="dockerfile-no-env-files",
        description="The Dockerfile never copies .env* files into the image.",
        control="JAT-REPO-2",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Remove the COPY/ADD of .env*; configuration comes from the environment at run "
        "time.",
        check=check_no_env_copy,
    ),
    Guardrail(
        name="dockerfile-base-digest",
        description="ARG BASE_IMAGE defaults to an image pinned by @sha256 digest, and every FROM "
        "is the base, "
        "a stage or digest-pinned.",
        control="JAT-REPO-3",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="ARG BASE_IMAGE=debian:bookworm-slim@sha256:<digest>; FROM ${BASE_IMAGE} AS "
        "...",
        check=check_base_digest,
    ),
    Guardrail(
        name="dockerignore-env",
        description=".dockerignore excludes .env* from the build context.",
        control="JAT-REPO-4",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add `.env*` (and `**/.env*`) to .dockerignore; re-include only .env.example "
        "if needed.",
        check=check_dockerignore,
    ),
    Guardrail(
        name="no-committed-credentials",
        description="No AWS access keys, AWS secret keys or private keys in tracked files (test "
        "keys are "
        "generated at test time).",
        control="JAT-REPO-5",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Remove the value from the file and its history, rotate it, and generate test "
        "keys at run time.",
        check=check_tracked_secrets,
    ),
    Guardrail(
        name="deploy-linux-amd64",
        description="The deploy script builds the image for linux/amd64.",
        control="JAT-REPO-6",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Pass --platform linux/amd64 to docker buildx build / buildah build in "
        "scripts/build-image.",
        check=check_deploy_platform,
    ),
    Guardrail(
        name="build-single-manifest",
        description="The build script pushes a plain single-platform image manifest whichever "
        "builder runs (buildx with provenance and SBOM attestations off, buildah in v2s2 or OCI "
        "format, no manifest list): Lambda refuses image indexes.",
        control="JAT-REPO-7",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="docker buildx build --provenance=false --sbom=false ...; buildah push "
        "--format v2s2 ...; one --platform, no --manifest.",
        check=check_build_manifest,
    ),
    Guardrail(
        name="migrations-expand-contract",
        description="A migration's migrate() only expands the schema: no dropped or renamed table "
        "or column, no NOT NULL column without a default, unless the module is marked "
        f"{MARKER} = True.",
        control="JAT-REPO-8",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Expand in this release (add nullable or defaulted columns, copy data); drop "
        f"or rename in a later migration marked {MARKER} = True, following the two-release "
        "procedure in docs/runbooks.md.",
        check=check_migrations,
    ),
]

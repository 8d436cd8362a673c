"""Known vulnerabilities in the locked dependencies: ``pip-audit`` over ``uv.lock`` (every group,
exported with hashes), failing on any finding that ``audit-allowlist.toml`` does not accept and
on any package it could not check (``--strict``).

Each accepted finding is an ``[[ignore]]`` table with ``id`` (the advisory: PYSEC-..., GHSA-...,
CVE-...), ``reason`` (why it does not apply or cannot be fixed yet) and ``expires`` (a date). An
entry without a reason or expiry, or past its expiry, fails the run: acceptance is re-decided, not
inherited. Run by .github/workflows/audit.yml (pull requests that change the lock, and weekly);
not by .ci/run, so a new advisory never turns main red on a day nothing changed.

    python scripts/ci/audit_dependencies.py [--allowlist FILE] [--today YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "audit-allowlist.toml"
UV = ROOT / ".tools" / "bin" / "uv"


@dataclass(frozen=True)
class Accepted:
    id: str
    reason: str
    expires: dt.date


class AllowlistError(ValueError):
    """The allow-list is unusable; ``problems`` lists every problem at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("audit-allowlist.toml:\n" + "\n".join(f"  - {p}" for p in problems))


def load_allowlist(text: str, today: dt.date) -> list[Accepted]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AllowlistError([f"not TOML: {e}"]) from e
    entries = data.get("ignore", [])
    if not isinstance(entries, list):
        raise AllowlistError(["`ignore` must be an array of tables ([[ignore]])"])
    problems: list[str] = []
    accepted: list[Accepted] = []
    for n, entry in enumerate(entries, start=1):
        where = f"entry {n}"
        if not isinstance(entry, dict):
            problems.append(f"{where} is not a table")
            continue
        ident = str(entry.get("id") or "").strip()
        reason = str(entry.get("reason") or "").strip()
        expires = entry.get("expires")
        where = f"entry {n} ({ident or 'no id'})"
        if not ident:
            problems.append(f"{where}: id is required (PYSEC-..., GHSA-..., CVE-...)")
        if not reason:
            problems.append(f"{where}: reason is required (why the finding is accepted)")
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            problems.append(f"{where}: expires must be a TOML date (e.g. 2027-03-31)")
            continue
        if expires < today:
            problems.append(f"{where}: expired on {expires.isoformat()}; re-assess or remove it")
            continue
        if ident and reason:
            accepted.append(Accepted(ident, reason, expires))
    if problems:
        raise AllowlistError(problems)
    return accepted


def pip_audit_command(requirements: Path, accepted: list[Accepted]) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(requirements),
        "--require-hashes",
        "--disable-pip",
        "--strict",
        "--progress-spinner",
        "off",
    ]
    for a in accepted:
        cmd += ["--ignore-vuln", a.id]
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today())
    args = parser.parse_args(argv)
    text = args.allowlist.read_text(encoding="utf-8") if args.allowlist.is_file() else ""
    try:
        accepted = load_allowlist(text, args.today)
    except AllowlistError as e:
        print(f"audit: {e}", file=sys.stderr)
        return 1
    for a in accepted:
        print(f"audit: accepting {a.id} until {a.expires.isoformat()}: {a.reason}")
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        subprocess.run(
            [
                str(UV),
                "export",
                "--frozen",
                "--all-groups",
                "--no-emit-project",
                "--format",
                "requirements-txt",
                "--quiet",
                "--output-file",
                str(requirements),
            ],
            cwd=ROOT,
            check=True,
        )
        return subprocess.run(pip_audit_command(requirements, accepted), cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main())

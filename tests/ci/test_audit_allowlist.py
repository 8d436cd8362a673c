"""The dependency audit's allow-list: an entry is accepted only with an id, a reason and an expiry
in the future; anything else fails the audit with every problem listed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scripts.ci.audit_dependencies import (
    ALLOWLIST,
    AllowlistError,
    load_allowlist,
    main,
    pip_audit_command,
)

TODAY = dt.date(2026, 11, 29)


def test_valid_entry_is_accepted_and_passed_to_pip_audit():
    (entry,) = load_allowlist(
        '[[ignore]]\nid = "GHSA-aaaa-bbbb-cccc"\nreason = "not reachable"\nexpires = 2026-12-31\n',
        TODAY,
    )
    assert entry.id == "GHSA-aaaa-bbbb-cccc" and entry.expires == dt.date(2026, 12, 31)
    cmd = pip_audit_command(Path("r.txt"), [entry])
    assert cmd[cmd.index("--ignore-vuln") + 1] == "GHSA-aaaa-bbbb-cccc"
    assert "--strict" in cmd and "--require-hashes" in cmd


def test_expiry_day_itself_still_counts():
    text = '[[ignore]]\nid = "PYSEC-1"\nreason = "r"\nexpires = 2026-11-29\n'
    assert len(load_allowlist(text, TODAY)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[ignore]]\nid = "PYSEC-1"\nreason = "r"\nexpires = 2026-11-28\n',
            "expired on 2026-11-28",
        ),
        ('[[ignore]]\nid = "PYSEC-1"\nexpires = 2027-01-01\n', "reason is required"),
        ('[[ignore]]\nid = "PYSEC-1"\nreason = "r"\n', "expires must be a TOML date"),
        ('[[ignore]]\nid = "PYSEC-1"\nreason = "r"\nexpires = "soon"\n', "expires must be"),
        ('[[ignore]]\nreason = "r"\nexpires = 2027-01-01\n', "id is required"),
        ("[[ignore]\n", "not TOML"),
    ],
)
def test_incomplete_or_expired_entry_fails(text, expected):
    with pytest.raises(AllowlistError) as e:
        load_allowlist(text, TODAY)
    assert expected in str(e.value)


def test_every_problem_is_listed_at_once():
    text = (
        '[[ignore]]\nid = "A"\nexpires = 2027-01-01\n'
        '[[ignore]]\nid = "B"\nreason = "r"\nexpires = 2020-01-01\n'
    )
    with pytest.raises(AllowlistError) as e:
        load_allowlist(text, TODAY)
    assert len(e.value.problems) == 2


def test_an_expired_entry_fails_the_run_before_pip_audit(tmp_path, capsys):
    allowlist = tmp_path / "allow.toml"
    allowlist.write_text('[[ignore]]\nid = "X"\nreason = "r"\nexpires = 2020-01-01\n')
    assert main(["--allowlist", str(allowlist), "--today", "2026-11-29"]) == 1
    assert "expired" in capsys.readouterr().err


def test_the_committed_allowlist_is_valid_today():
    load_allowlist(ALLOWLIST.read_text(encoding="utf-8"), dt.date.today())

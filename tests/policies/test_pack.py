"""The pack itself: metadata on every rule, the committed taggable-type list, and the CrossGuard
entry point starting the analyzer from the policies/ directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc

from policies import taggable
from policies.guardrails import GUARDRAILS
from policies.pack import build_policies
from policies.rules import ALL_RULES

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


def test_every_rule_is_fully_described():
    names = [r.name for r in ALL_RULES]
    assert len(names) == len(set(names)) and len(names) + len(GUARDRAILS) >= 25
    for r in ALL_RULES:
        assert r.description and r.control and r.remediation and r.unknown, r.name
        assert r.kind in ("resource", "stack")
        assert r.enforcement.value in ("mandatory", "advisory")


def test_policies_carry_the_metadata():
    for policy, rule in zip(build_policies(), ALL_RULES, strict=True):
        assert policy.name == rule.name and policy.severity == rule.severity
        assert policy.remediation_steps == rule.remediation
        assert policy.framework.reference == rule.control
        assert "justification" in policy.config_schema.properties


def test_committed_taggable_list_matches_installed_pulumi_aws():
    assert sorted(taggable.taggable_types()) == taggable.generate()
    assert "aws:s3/bucket:Bucket" in taggable.taggable_types()
    assert "aws:lambda/invocation:Invocation" not in taggable.taggable_types()


def test_pack_starts_from_its_directory_and_lists_the_policies():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "."], cwd=POLICIES_DIR, stdout=subprocess.PIPE, env=env
    )
    try:
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(
                empty_pb2.Empty(), timeout=10
            )
        assert info.name == "jobapptracker-aws"
        assert sorted(p.name for p in info.policies) == sorted(r.name for r in ALL_RULES)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pack_requirements_match_the_lock():
    lock = (POLICIES_DIR.parent / "uv.lock").read_text()
    for line in (POLICIES_DIR / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert f'name = "{name}"\nversion = "{version}"' in lock, line

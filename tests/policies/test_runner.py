"""The offline runner: exit codes and output on resource files, the stacks mode with both phases,
policy config handling, and parity with the analyzer that `pulumi preview` runs."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import check
from policies.engine import evaluate
from policies.pack import PACK_NAME, build_policies
from policies.resources import normalise
from policies.rules import ALL_RULES
from tests.policies.stacks import DEV, FIXTURES, find, good_stack

ROOT = Path(__file__).resolve().parents[2]
BAD = FIXTURES / "bad.json"


def _no_openapi():
    from policies.apishape import NOT_YET, NotYetAvailable

    raise NotYetAvailable(NOT_YET)


def run(argv, capsys, **kw):
    code = check.main(argv, openapi_generator=_no_openapi, **kw)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bad_json_exits_1_and_names_s3_rds_ecr(capsys):
    code, out, _ = run(["--resources", str(BAD), "--format", "json"], capsys)
    assert code == 1
    doc = json.loads(out)
    assert set(doc) >= {"rules", "violations"}
    by_type = {}
    for v in doc["violations"]:
        by_type.setdefault(v["type"], set()).add(v["rule"])
    assert {"s3-public-access-block"} <= by_type["aws:s3/bucket:Bucket"]
    assert {"rds-storage-encrypted", "rds-not-public"} <= by_type["aws:rds/instance:Instance"]
    assert {"ecr-immutable-tags", "ecr-scan-on-push"} <= by_type["aws:ecr/repository:Repository"]
    assert all(
        v["level"] == "mandatory"
        for v in doc["violations"]
        if v["rule"].startswith(("s3-", "rds-", "ecr-"))
    )
    assert len(doc["rules"]) >= 25 and all(
        r["control"] and r["remediation"] and r["unknownValues"] and r["severity"]
        for r in doc["rules"]
    )


def test_bad_json_as_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "policies.check", "--resources", str(BAD), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    rules = {v["rule"] for v in json.loads(proc.stdout)["violations"]}
    assert {
        "s3-public-access-block",
        "rds-storage-encrypted",
        "rds-not-public",
        "ecr-immutable-tags",
        "ecr-scan-on-push",
    } <= rules


def test_table_output(capsys):
    code, out, _ = run(["--resources", str(BAD)], capsys)
    assert code == 1
    header = next(line for line in out.splitlines() if line.startswith("RULE"))
    assert header.split() == ["RULE", "RESOURCE", "LEVEL", "MESSAGE"]
    row = next(line for line in out.splitlines() if line.startswith("rds-not-public"))
    assert "open-db" in row and "mandatory" in row and "publiclyAccessible" in row
    assert out.rstrip().endswith("FAIL")


def test_clean_resources_exit_0(tmp_path, capsys):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good_stack()))
    code, out, _ = run(["--resources", str(path), "--environment", "dev"], capsys)
    assert code == 0, out
    assert out.rstrip().endswith("PASS")


def test_advisories_alone_exit_0(tmp_path, capsys):
    entries = good_stack()
    del find(entries, "scan-results-target")["props"]["deadLetterConfig"]
    path = tmp_path / "advisory.json"
    path.write_text(json.dumps(entries))
    code, out, _ = run(["--resources", str(path), "--environment", "dev"], capsys)
    assert code == 0 and "eventbridge-lambda-target-dlq" in out and "advisory" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"a": 1}', "expected a JSON list"),
        ('[{"name": "x", "props": {}}]', "'type'"),
        ('[{"type": "aws:s3/bucket:Bucket", "props": {}}]', "'name'"),
        ('[{"type": "aws:s3/bucket:Bucket", "name": "b", "props": []}]', "'props'"),
        (
            '[{"type": "aws:s3/bucket:Bucket", "name": "b", "props": {}, "propertyDependencies": '
            '{"bucket": "u"}}]',
            "propertyDependencies",
        ),
    ],
)
def test_malformed_resource_files_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    code, out, err = run(["--resources", str(path)], capsys)
    assert code == 2 and out == "" and message in err


def test_missing_resource_file_exits_2(tmp_path, capsys):
    code, _, err = run(["--resources", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "cannot read" in err


def test_pulumi_preview_json_is_accepted(tmp_path, capsys):
    steps = [
        {
            "op": "create",
            "urn": e["urn"],
            "newState": {
                "type": e["type"],
                "urn": e["urn"],
                "inputs": e["props"],
                "propertyDependencies": e["propertyDependencies"],
            },
        }
        for e in json.loads(BAD.read_text())
        for e in [normalise([e])[0]]
    ]
    steps.insert(
        0,
        {
            "op": "create",
            "urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
            "newState": {
                "type": "pulumi:pulumi:Stack",
                "urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev",
            },
        },
    )
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"steps": steps, "changeSummary": {"create": len(steps)}}))
    code, out, _ = run(["--resources", str(path), "--format", "json"], capsys)
    assert code == 1
    assert {"s3-public-access-block", "rds-not-public", "ecr-scan-on-push"} <= {
        v["rule"] for v in json.loads(out)["violations"]
    }


def test_secret_values_from_previews_are_unwrapped():
    sig = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    entries = normalise(
        [
            {
                "type": "aws:rds/instance:Instance",
                "name": "db",
                "props": {
                    "password": {**sig, "plaintext": '"hunter2hunter2"'},
                    "engine": "postgres",
                },
            }
        ]
    )
    assert entries[0]["props"]["password"] == "hunter2hunter2"
    found = evaluate(entries).findings
    assert any(f.rule == "rds-no-literal-master-password" for f in found)


# ----- policy config ------------------------------------------------------------------------------


def _write_config(tmp_path, data) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_waiver_needs_a_justification(tmp_path, capsys):
    cfg = _write_config(tmp_path, {"rds-not-public": {"enforcementLevel": "advisory"}})
    code, _, err = run(["--resources", str(BAD), "--config", str(cfg)], capsys)
    assert code == 2 and "justification" in err


def test_justified_waiver_downgrades_the_rule(tmp_path, capsys):
    cfg = _write_config(
        tmp_path,
        {
            "rds-not-public": {
                "enforcementLevel": "advisory",
                "justification": "lab instance behind an IP allow-list until 2030-01-01",
            },
            "rds-deletion-protection": {"environment": "prod"},
        },
    )
    code, out, _ = run(["--resources", str(BAD), "--config", str(cfg), "--format", "json"], capsys)
    levels = {v["level"] for v in json.loads(out)["violations"] if v["rule"] == "rds-not-public"}
    assert levels == {"advisory"} and code == 1  # the other violations still fail


def test_disabled_rule_is_not_evaluated(tmp_path, capsys):
    cfg = _write_config(
        tmp_path,
        {
            "required-tags": {
                "enforcementLevel": "disabled",
                "justification": "tags arrive from the provider's default_tags in this account",
            }
        },
    )
    code, out, _ = run(["--resources", str(BAD), "--config", str(cfg), "--format", "json"], capsys)
    doc = json.loads(out)
    assert "required-tags" not in {v["rule"] for v in doc["violations"]}
    assert not next(r for r in doc["rules"] if r["name"] == "required-tags")["evaluated"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"no-such-rule": "advisory"}, "no such policy"),
        (
            {"rds-not-public": {"enforcementLevel": "sometimes", "justification": "x" * 30}},
            "unknown enforcementLevel",
        ),
        ({"rds-not-public": {"colour": "red", "justification": "x" * 30}}, "unknown setting"),
        ({"rds-multi-az": {"environment": "dev"}}, "does not match"),
        ({"rds-backup-retention": {"minimumRetentionDays": 3}}, "justification"),
        ({"all": "advisory"}, "justification"),
    ],
)
def test_config_problems_exit_2(tmp_path, capsys, data, message):
    code, _, err = run(
        ["--resources", str(BAD), "--config", str(_write_config(tmp_path, data))], capsys
    )
    assert code == 2 and message in err


def test_committed_configs_are_valid_and_carry_the_environment():
    from policies import packconfig

    for env in ("dev", "prod"):
        config = packconfig.load(env)
        assert packconfig.validate(config, ALL_RULES, env) == []
        for rule in ALL_RULES:
            if rule.environment_dependent:
                assert config[rule.name]["environment"] == env


# ----- stacks mode --------------------------------------------------------------------------------


@pytest.fixture
def fake_infra(tmp_path, monkeypatch):
    """A stand-in for infra.offline over the hand-built stacks, with stack files on disk."""
    stacks_dir = tmp_path / "infra" / "stacks"
    stacks_dir.mkdir(parents=True)
    calls = []
    stacks = {"dev": ("dev", good_stack), "prod": ("prod", good_stack)}

    def capture_stack(stack, *, with_image=True):
        calls.append((stack, with_image))
        entries = stacks[stack][1](with_image=with_image)
        if stacks[stack][0] == "prod":
            db = find(entries, "db")["props"]
            db.update(deletionProtection=True, multiAz=True)
        return entries

    for name, (env, _) in stacks.items():
        (stacks_dir / f"Pulumi.{name}.yaml").write_text(
            yaml.safe_dump({"config": {"jobapptracker:environment": env}})
        )
    module = types.ModuleType("infra.offline")
    module.capture_stack = capture_stack
    module.list_stacks = lambda: sorted(stacks)
    package = types.ModuleType("infra")
    package.offline = module
    # The CI access project is its own fake with no stacks, so these runs are the stacks above
    # whatever else the session has imported.
    ci_module = types.ModuleType("infra.ci_access.offline")
    ci_module.list_stacks = lambda: []
    ci_package = types.ModuleType("infra.ci_access")
    ci_package.offline = ci_module
    package.ci_access = ci_package
    monkeypatch.setitem(sys.modules, "infra", package)
    monkeypatch.setitem(sys.modules, "infra.offline", module)
    monkeypatch.setitem(sys.modules, "infra.ci_access", ci_package)
    monkeypatch.setitem(sys.modules, "infra.ci_access.offline", ci_module)
    monkeypatch.setattr(check, "ROOT", tmp_path)
    return types.SimpleNamespace(calls=calls, stacks=stacks, root=tmp_path)


def test_every_stack_in_both_phases(fake_infra, capsys):
    code, out, _ = run(["--skip-guardrails"], capsys)
    assert code == 0, out
    assert fake_infra.calls == [("dev", True), ("dev", False), ("prod", True), ("prod", False)]
    assert "== stack prod, image-less phase, environment prod" in out
    assert "not applicable: eventbridge-scan-result-rule: image-less" in out
    evaluated = int(out.rstrip().splitlines()[-1].split()[0])
    assert evaluated >= 25


def test_environment_comes_from_stack_config_not_name(fake_infra, capsys):
    (fake_infra.root / "infra" / "stacks" / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"config": {"jobapptracker:environment": "dev"}})
    )
    fake_infra.stacks["prod"] = ("dev", good_stack)
    code, out, _ = run(["--skip-guardrails", "--stack", "prod"], capsys)
    assert code == 0 and "environment dev" in out


def test_prod_stack_without_multi_az_fails(fake_infra, capsys):
    fake_infra.stacks["prod"] = ("dev", good_stack)  # capture without the prod settings
    code, out, _ = run(["--skip-guardrails", "--format", "json"], capsys)
    assert code == 1
    bad = {(v["stack"], v["rule"]) for v in json.loads(out)["violations"]}
    assert ("prod", "rds-multi-az") in bad and ("dev", "rds-multi-az") not in bad


def test_image_bound_resources_in_the_image_less_phase_fail(fake_infra, capsys):
    fake_infra.stacks["dev"] = ("dev", lambda with_image: good_stack(with_image=True))
    code, out, _ = run(["--skip-guardrails", "--stack", "dev"], capsys)
    assert code == 1 and "runner-phases" in out


def test_stack_without_environment_exits_2(fake_infra, capsys):
    (fake_infra.root / "infra" / "stacks" / "Pulumi.dev.yaml").write_text(
        yaml.safe_dump({"config": {}})
    )
    code, _, err = run(["--skip-guardrails"], capsys)
    assert code == 2 and "environment" in err


def test_no_infra_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "infra", None)
    code, _, err = run([], capsys)
    assert code == 2 and "infra.offline" in err


# ----- parity with the analyzer -------------------------------------------------------------------


def _analyzer():
    return _PolicyAnalyzerServicer(PACK_NAME, "1.0.0", build_policies(), ALL_RULES[0].enforcement)


def _struct(props):
    s = struct_pb2.Struct()
    s.update(props)
    return s


def _analyzer_findings(entries, config):
    servicer = _analyzer()
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                k: proto.PolicyConfig(
                    properties=_struct({p: v for p, v in val.items() if p != "enforcementLevel"})
                )
                for k, val in config.items()
            }
        ),
        None,
    )
    found = set()
    for e in entries:
        resp = servicer.Analyze(
            proto.AnalyzeRequest(
                type=e["type"], properties=_struct(e["props"]), urn=e["urn"], name=e["name"]
            ),
            None,
        )
        found |= {(d.policyName, e["urn"], d.enforcementLevel) for d in resp.diagnostics}
    stack_req = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=e["type"],
                properties=_struct(e["props"]),
                urn=e["urn"],
                name=e["name"],
                propertyDependencies={
                    k: proto.AnalyzerPropertyDependencies(urns=v)
                    for k, v in e["propertyDependencies"].items()
                },
            )
            for e in entries
        ]
    )
    resp = servicer.AnalyzeStack(stack_req, None)
    found |= {(d.policyName, d.urn, d.enforcementLevel) for d in resp.diagnostics}
    return found


@pytest.mark.parametrize("case", ["bad", "good", "broken"])
def test_verdicts_match_the_analyzer(case):
    if case == "bad":
        entries = normalise(json.loads(BAD.read_text()))
    else:
        raw = good_stack()
        if case == "broken":
            find(raw, "uploads-public-access")["props"]["blockPublicPolicy"] = False
            find(raw, "db")["props"]["storageEncrypted"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
            find(raw, "scan-results-target")["props"]["deadLetterConfig"] = {}
        entries = normalise(raw)
    config = DEV if case != "bad" else {}
    ours = {
        (f.rule, f.urn, {"mandatory": proto.MANDATORY, "advisory": proto.ADVISORY}[f.level])
        for f in evaluate(entries, config).findings
    }
    theirs = _analyzer_findings(entries, config)
    # the analyzer reports unknown-value diagnostics without a URN
    theirs = {
        (r, u or next((o[1] for o in ours if o[0] == r and o[2] == proto.ADVISORY), u), lvl)
        for r, u, lvl in theirs
    }
    assert ours == theirs
    assert ours or case == "good"


def test_json_output_is_the_whole_of_stdout_and_logs_go_to_stderr(fake_infra, capsys):
    """The OpenAPI step builds the app and requests /openapi.json through it, which logs a
    request line; that line must not precede the JSON."""
    from policies.apishape import generate_document

    subprocess.run(["git", "init", "-q", str(fake_infra.root)], check=True)  # the file guardrails
    code = check.main(
        ["--format", "json", "--stack", "dev"],
        root=fake_infra.root,
        openapi_generator=generate_document,
    )
    out = capsys.readouterr()
    assert code == 1  # the stand-in root has no docs/openapi.json snapshot
    doc = json.loads(out.out)
    assert {"runs", "rules", "violations", "notApplicable"} <= set(doc)
    assert '"route": "/openapi.json"' in out.err


def test_snapshot_update_prints_only_its_result(tmp_path, capsys):
    from policies.apishape import generate_document

    code = check.main(
        ["--update-openapi-snapshot"], root=tmp_path, openapi_generator=generate_document
    )
    out = capsys.readouterr()
    assert code == 0 and out.out.strip() == f"wrote {tmp_path / 'docs' / 'openapi.json'}"
    assert "/openapi.json" in out.err


@pytest.mark.parametrize(
    ("argv", "environment", "label"),
    [
        ([], "prod", "environment prod (the default; --environment dev for a dev plan)"),
        (["--environment", "dev"], "dev", "environment dev"),
        (["--environment", "prod"], "prod", "environment prod"),
    ],
)
def test_resources_run_names_the_environment_it_used(argv, environment, label, capsys):
    code, out, _ = run(["--resources", str(BAD), *argv], capsys)
    first = out.splitlines()[0]
    assert first == f"== resources {BAD}, {label}"
    code, out, _ = run(["--resources", str(BAD), "--format", "json", *argv], capsys)
    assert [r["environment"] for r in json.loads(out)["runs"]] == [environment]

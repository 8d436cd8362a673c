"""The workflows' own guarantees, read from the YAML: who may run what, with which permissions,
and that two deploys of one stack never overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


@pytest.mark.parametrize("name", ALL)
def test_no_pull_request_target_and_no_default_permissions(name):
    wf = _load(name)
    assert "pull_request_target" not in (wf["on"] or {})
    assert wf["permissions"] == {}
    for job_name, job in wf["jobs"].items():
        assert "permissions" in job, f"{name}: job {job_name} states no permissions"


@pytest.mark.parametrize("name", ALL)
def test_id_token_only_where_a_role_is_assumed(name):
    for job_name, job in _load(name)["jobs"].items():
        assumes = any(
            str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
            for s in job.get("steps", [])
        )
        wants = (job.get("permissions") or {}).get("id-token") == "write"
        assert wants == assumes, f"{name}: job {job_name}"


def test_preview_runs_only_for_branches_of_this_repository_with_the_pack():
    job = _load("preview.yml")["jobs"]["preview"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    (pulumi,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.policy }}.json"
    assert pulumi["with"]["comment-on-pr"] is True
    assert job["permissions"]["pull-requests"] == "write"


def test_preview_uses_each_stacks_own_policy_environment():
    from policies.check import stack_environment

    matrix = _load("preview.yml")["jobs"]["preview"]["strategy"]["matrix"]["include"]
    main_stacks = {m["stack"]: m["policy"] for m in matrix if m["workdir"] == "./"}
    assert main_stacks == {s: stack_environment(s) for s in main_stacks}
    assert sorted(main_stacks) == sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in (ROOT / "infra/stacks").glob("Pulumi.*.yaml")
    )


def test_deploy_runs_in_the_stacks_environment_one_at_a_time_per_stack():
    wf = _load("deploy.yml")
    job = wf["jobs"]["deploy"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["concurrency"] == {
        "group": "deploy-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    assert job["strategy"]["max-parallel"] == 1
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "stack" in wf["on"]["workflow_dispatch"]["inputs"]
    runs = " ".join(str(s.get("run", "")) for s in job["steps"])
    assert 'make deploy STACK="$STACK"' in runs


def test_audit_runs_weekly_and_on_pull_requests_but_not_in_ci_run():
    wf = _load("audit.yml")
    assert wf["on"]["schedule"] and "pull_request" in wf["on"]
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip-audit" not in ci_run and "audit_dependencies" not in ci_run


def test_ci_run_and_the_ci_workflow_call_the_same_steps():
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    job = _load("ci.yml")["jobs"]
    runs = " ".join(str(s.get("run", "")) for j in job.values() for s in j["steps"])
    for step in ("scripts/ci/install-system-tools", "make lint", "make test", "make policy"):
        assert step in ci_run and step in runs, step
    assert "scripts/ci-image-smoke" in ci_run and "scripts/ci-image-smoke" in runs
    order = [ci_run.index(s) for s in ("make lint", "make test", "make policy", "ci-image-smoke")]
    assert order == sorted(order)

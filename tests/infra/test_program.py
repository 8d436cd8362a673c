"""Whole-program properties: phases, IAM, tags, configuration, the offline capture and the plan."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import config as cfgmod
from infra import tag_list, tags
from infra.offline import STACKS_DIR, capture_stack, read_stack_config

from .conftest import STACKS, doc

ROOT = Path(__file__).resolve().parents[2]
IMAGE_BOUND = {
    "aws:lambda/function:Function",
    "aws:lambda/invocation:Invocation",
    "aws:apprunner/service:Service",
    "aws:ecs/service:Service",
    "aws:ecs/taskDefinition:TaskDefinition",
}
DOCUMENT_TYPES = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
}


@pytest.mark.parametrize("stack", STACKS)
def test_image_less_phase_creates_no_image_bound_resource(stack):
    from .conftest import Stack

    assert not Stack(stack, with_image=False).types() & IMAGE_BOUND


@pytest.mark.parametrize("stack", STACKS)
def test_image_less_phase_creates_the_foundations(stack):
    from .conftest import Stack

    types = Stack(stack, with_image=False).types()
    assert {
        "aws:ec2/vpc:Vpc",
        "aws:ecr/repository:Repository",
        "aws:secretsmanager/secret:Secret",
        "aws:rds/instance:Instance",
        "aws:s3/bucket:Bucket",
        "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
    } <= types


def _statements(stack):
    for r in stack.resources:
        if r["type"] in DOCUMENT_TYPES:
            yield r["name"], doc(r["props"]["policy"])["Statement"]
        if r["type"] == "aws:iam/role:Role":
            yield r["name"], doc(r["props"]["assumeRolePolicy"])["Statement"]


def test_no_iam_statement_allows_everything_on_everything(all_stacks):
    for s in all_stacks:
        for name, statements in _statements(s):
            for st in statements:
                if st["Effect"] != "Allow":
                    continue
                resources = st.get("Resource", [])
                resources = resources if isinstance(resources, list) else [resources]
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                if "*" in resources:
                    assert not [a for a in actions if a == "*" or a.endswith(":*")], (
                        s.stack,
                        name,
                        st,
                    )


def test_no_role_attaches_an_administrator_policy(all_stacks):
    for s in all_stacks:
        for r in s.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            assert not r["props"]["policyArn"].endswith(
                ("/AdministratorAccess", "/PowerUserAccess")
            )


def test_every_taggable_resource_carries_project_stack_and_owner(all_stacks):
    for s in all_stacks:
        for r in s.resources:
            if r["type"] in tags.taggable_types():
                t = r["props"].get("tags") or {}
                assert (t.get("project"), t.get("stack"), t.get("owner")) == (
                    "jobapptracker",
                    s.stack,
                    "platform",
                ), (s.stack, r["name"])


def test_taggable_list_is_exactly_the_programs_types_that_take_tags(all_stacks):
    used = {r["type"] for s in all_stacks for r in s.resources if r["type"].startswith("aws:")}
    assert tags.taggable_types() == {t for t in used if tag_list.takes_tags(t)}


def test_resource_specific_tags_survive_the_transformation(dev):
    vpc = dev.one("aws:ec2/vpc:Vpc")
    assert vpc["props"]["tags"]["Name"] == "jobapptracker-dev-vpc"


def test_required_tags_win_over_resource_tags():
    assert tags.merge({"owner": "someone", "Name": "x"}, {"owner": "platform"}) == {
        "owner": "platform",
        "Name": "x",
    }


# ----- configuration ------------------------------------------------------------------------------


def _values(stack="dev", **overrides):
    raw = read_stack_config(stack)
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("jobapptracker:")}
    values.update(overrides)
    return values


def test_every_stack_config_is_valid():
    for stack in STACKS:
        cfgmod.from_mapping(_values(stack), stack=stack, region="eu-west-1")


@pytest.mark.parametrize(
    "provider, missing",
    [("resend", "Resend API"), ("ses", "Amazon SES API"), ("gmail", "Gmail SMTP")],
)
def test_endpoints_only_egress_is_refused_naming_the_dependency(provider, missing):
    values = _values(
        network={"egress": "endpoints"},
        email={"provider": provider, "fromEmail": "a@b.example", "gmailUser": "x@gmail.com"},
    )
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.from_mapping(values, stack="dev", region="eu-west-1")
    assert missing in str(e.value) and "egress=endpoints is refused" in str(e.value)


def test_endpoint_table_covers_the_aws_dependencies():
    cfg = cfgmod.from_mapping(_values("ecs"), stack="dev", region="eu-west-1")
    endpoints = {d.endpoint for d in cfgmod.egress_dependencies(cfg) if d.endpoint}
    assert endpoints == {"s3", "secretsmanager", "lambda", "ecr.api", "ecr.dkr", "logs"}


def test_config_reports_every_problem_at_once():
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.from_mapping(
            _values(compute="lightsail", frontendUrl="http://x"), stack="dev", region="eu-west-1"
        )
    assert len(e.value.problems) == 2


def test_api_without_domain_or_url_is_refused():
    values = _values()
    values.pop("domain")
    with pytest.raises(cfgmod.ConfigError, match="domain.name"):
        cfgmod.from_mapping(values, stack="dev", region="eu-west-1")


def test_cookie_samesite_follows_the_sites():
    same = cfgmod.from_mapping(_values(), stack="dev", region="eu-west-1")
    cross = cfgmod.from_mapping(
        {
            **{k: v for k, v in _values().items() if k != "domain"},
            "apiUrl": "https://api.elsewhere.example.org",
        },
        stack="dev",
        region="eu-west-1",
    )
    assert (same.refresh_cookie_samesite, cross.refresh_cookie_samesite) == ("Lax", "None")


def test_cookie_samesite_uses_the_public_suffix_list():
    # Two registrable domains under one public suffix are two sites: the cookie must be None.
    cross = cfgmod.from_mapping(
        {
            **{k: v for k, v in _values().items() if k != "domain"},
            "frontendUrl": "https://shop-a.co.uk",
            "apiUrl": "https://api.shop-b.co.uk",
        },
        stack="dev",
        region="eu-west-1",
    )
    assert cross.refresh_cookie_samesite == "None"


def test_infra_and_the_app_share_one_same_site_decision():
    from app.core import settings as app_settings
    from app.core import sites

    assert cfgmod.same_site is sites.same_site is app_settings.same_site


@pytest.mark.parametrize("key", ["rateLimiterFailClosed", "emailVerificationEnabled"])
def test_limiter_mode_and_email_verification_must_be_stated(key):
    values = _values()
    values.pop(key)
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.from_mapping(values, stack="dev", region="eu-west-1")
    assert e.value.problems == [
        f"jobapptracker:{key} is required (true or false): the stack states it explicitly"
    ]


def test_every_shipped_stack_states_limiter_mode_and_email_verification():
    for stack in STACKS:
        values = _values(stack)
        assert isinstance(values["rateLimiterFailClosed"], bool)
        assert isinstance(values["emailVerificationEnabled"], bool)


def _copy_stack(tmp_path: Path, source: str, target: str, extra: str = "") -> Path:
    d = tmp_path / "stacks"
    d.mkdir(exist_ok=True)
    shutil.copy(STACKS_DIR / f"Pulumi.{source}.yaml", d / f"Pulumi.{target}.yaml")
    if extra:
        with open(d / f"Pulumi.{target}.yaml", "a") as f:
            f.write(extra)
    return d


def test_no_code_branches_on_the_stack_name(tmp_path, dev):
    d = _copy_stack(tmp_path, "dev", "staging")
    other = capture_stack("staging", stacks_dir=d)
    assert sorted((r["type"], r["name"]) for r in other) == sorted(
        (r["type"], r["name"]) for r in dev.resources
    )


def test_secure_values_become_clear_placeholders_offline(tmp_path):
    d = _copy_stack(
        tmp_path,
        "dev",
        "sec",
        "  jobapptracker:resendApiKey:\n    secure: v1:AAAAbm90LWRlY3J5cHRhYmxl\n",
    )
    resources = capture_stack("sec", stacks_dir=d)
    version = [r for r in resources if r["name"] == "secrets-resend-api-key-version"][0]
    assert version["props"]["secretString"] == "offline-placeholder-resendApiKey"


def test_capture_can_run_repeatedly_in_one_process(dev):
    again = capture_stack("dev")
    assert sorted((r["urn"], json.dumps(r["props"], sort_keys=True)) for r in again) == sorted(
        (r["urn"], json.dumps(r["props"], sort_keys=True)) for r in dev.resources
    )


def test_capture_entries_follow_the_policy_runner_schema(dev):
    for r in dev.resources:
        assert {"type", "name", "urn", "id", "props", "propertyDependencies"} <= set(r)
        assert r["urn"].endswith(f"::{r['name']}")


# ----- the plan command ---------------------------------------------------------------------------


def _plan(*args, tmp_path):
    return subprocess.run(
        [sys.executable, "-m", "infra.plan", *args, "--picture-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def test_plan_lists_what_the_dev_stack_needs(tmp_path):
    out = _plan("--stack", "dev", tmp_path=tmp_path).stdout
    types = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {
        "aws:apprunner/service:Service",
        "aws:apprunner/vpcConnector:VpcConnector",
        "aws:ecr/repository:Repository",
        "aws:secretsmanager/secret:Secret",
        "aws:rds/instance:Instance",
        "aws:s3/bucket:Bucket",
        "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:lambda/function:Function",
        "aws:lambda/invocation:Invocation",
    } <= types
    svg = (tmp_path / "architecture-dev.svg").read_text()
    assert svg.startswith("<svg") and "AppRunnerService" in svg


def test_plan_json_for_ecs_has_the_fargate_service_and_no_apprunner(tmp_path):
    data = json.loads(_plan("--stack", "ecs", "--format", "json", tmp_path=tmp_path).stdout)
    types = {r["type"] for r in data}
    assert "aws:ecs/service:Service" in types
    assert "aws:apprunner/service:Service" not in types
    assert all(set(r) == {"type", "name", "props"} for r in data)


def test_an_upload_cap_the_api_would_refuse_in_production_is_refused_at_plan_time():
    from app.core.settings import MAX_PRODUCTION_UPLOAD_BYTES

    at_cap = cfgmod.from_mapping(
        _values(uploads={"maxBytes": MAX_PRODUCTION_UPLOAD_BYTES}), stack="dev", region="eu-west-1"
    )
    assert at_cap.uploads.max_bytes == MAX_PRODUCTION_UPLOAD_BYTES
    with pytest.raises(cfgmod.ConfigError, match="uploads.maxBytes must be at most"):
        cfgmod.from_mapping(
            _values(uploads={"maxBytes": MAX_PRODUCTION_UPLOAD_BYTES + 1}),
            stack="dev",
            region="eu-west-1",
        )

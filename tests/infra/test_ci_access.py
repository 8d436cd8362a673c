"""The CI access project (infra/ci_access) under Pulumi's mocks: GitHub's OIDC provider, the
preview role, one deploy role per stack and the permissions boundary, with every trust and
permission evaluated by the IAM evaluator rather than eyeballed."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from infra.ci_access import config as ci_config
from infra.ci_access import documents
from infra.ci_access.offline import capture_stack, read_stack_config
from infra.config import ConfigError
from infra.config import from_mapping as main_from_mapping
from infra.iam import PROGRAM_ROLE_PATH
from infra.offline import ACCOUNT, STACKS_DIR
from infra.offline import capture_stack as capture_main

from .conftest import Stack, doc
from .iam_eval import Request, evaluate, evaluate_bounded

HOST = "token.actions.githubusercontent.com"
STACK = "shared"
CONFIG = read_stack_config(STACK)
REPOSITORY = CONFIG["jobapptracker-ci-access:repository"]
DEPLOY_STACKS = CONFIG["jobapptracker-ci-access:deployStacks"]
STATE_BUCKET = CONFIG["jobapptracker-ci-access:stateBucket"]
STATE_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{CONFIG['jobapptracker-ci-access:stateKeyId']}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{documents.BOUNDARY_NAME}"


@cache
def _resources() -> tuple[dict, ...]:
    return tuple(capture_stack(STACK))


@pytest.fixture(scope="module")
def ci() -> Stack:
    return Stack(STACK, resources=list(_resources()))


def _role(ci: Stack, name: str) -> dict:
    return ci.one("aws:iam/role:Role", name)["props"]


def _trust(ci: Stack, name: str) -> dict:
    return doc(_role(ci, name)["assumeRolePolicy"])


def _inline(ci: Stack, name: str) -> dict:
    (policy,) = _role(ci, name)["inlinePolicies"]
    return doc(policy["policy"])


def _token(ci: Stack, sub: str, *, aud: str = "sts.amazonaws.com", role: str = "preview"):
    provider = ci.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")["props"]["arn"]
    context = {f"{HOST}:sub": sub, f"{HOST}:aud": aud}
    arn = _role(ci, role)["arn"]
    return Request(provider, "sts:AssumeRoleWithWebIdentity", arn, context)


# ----- the provider ----------------------------------------------------------------------------


def test_oidc_provider_is_githubs_with_sts_as_the_only_audience(ci):
    (provider,) = ci.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider["props"]["url"] == "https://token.actions.githubusercontent.com"
    assert provider["props"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_every_role_trusts_only_the_provider_with_aud_and_sub_pinned(ci):
    provider = ci.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")["props"]["arn"]
    roles = ci.of_type("aws:iam/role:Role")
    assert {r["name"] for r in roles} == {"preview", *(f"deploy-{s}" for s in DEPLOY_STACKS)}
    for r in roles:
        (st,) = doc(r["props"]["assumeRolePolicy"])["Statement"]
        assert st["Principal"] == {"Federated": provider}
        assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert set(st["Condition"]) == {"StringEquals"}
        pinned = st["Condition"]["StringEquals"]
        assert set(pinned) == {f"{HOST}:aud", f"{HOST}:sub"}
        assert pinned[f"{HOST}:aud"] == "sts.amazonaws.com"
        assert "*" not in pinned[f"{HOST}:sub"] and "?" not in pinned[f"{HOST}:sub"]


# ----- the preview role ------------------------------------------------------------------------


def test_preview_trust_names_pull_requests_of_this_repository(ci):
    (st,) = _trust(ci, "preview")["Statement"]
    assert st["Condition"]["StringEquals"][f"{HOST}:sub"] == f"repo:{REPOSITORY}:pull_request"


def test_preview_role_is_assumable_by_a_pull_request_token_of_this_repository(ci):
    token = _token(ci, f"repo:{REPOSITORY}:pull_request")
    assert evaluate(token, _trust(ci, "preview")) == "Allow"


@pytest.mark.parametrize(
    "sub",
    [
        "repo:another-org/jobapptracker:pull_request",
        f"repo:{REPOSITORY}-fork:pull_request",
        f"repo:{REPOSITORY}:ref:refs/heads/main",
        f"repo:{REPOSITORY}:environment:prod",
    ],
)
def test_preview_role_refuses_other_repositories_and_other_contexts(ci, sub):
    assert evaluate(_token(ci, sub), _trust(ci, "preview")) == "ImplicitDeny"


def test_preview_role_refuses_a_token_for_another_audience(ci):
    token = _token(ci, f"repo:{REPOSITORY}:pull_request", aud="https://github.com/example-org")
    assert evaluate(token, _trust(ci, "preview")) == "ImplicitDeny"


def test_preview_reads_only_the_state_and_decrypts_only_with_the_state_key(ci):
    policy = _inline(ci, "preview")
    role = _role(ci, "preview")["arn"]

    def verdict(action: str, resource: str) -> str:
        return evaluate(Request(role, action, resource), policy)

    assert (
        verdict("s3:GetObject", f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/stacks/p/dev.json") == "Allow"
    )
    assert verdict("kms:Decrypt", STATE_KEY) == "Allow"
    data_bucket = "arn:aws:s3:::uploads-0a1b2c3/attachments/a/resume.pdf"
    assert verdict("s3:GetObject", data_bucket) == "ImplicitDeny"
    other_key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
    assert verdict("kms:Decrypt", other_key) == "ImplicitDeny"
    secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jobapptracker-dev-jwt-AbCdEf"
    assert verdict("secretsmanager:GetSecretValue", secret) == "ImplicitDeny"
    # Writes only for the backend's lock, never the state itself.
    state = f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/stacks/p/dev.json"
    assert verdict("s3:PutObject", state) == "ImplicitDeny"
    assert (
        verdict("s3:PutObject", f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/locks/p/dev/x.json")
        == "Allow"
    )


def test_preview_policy_lists_every_action_by_name(ci):
    for st in _inline(ci, "preview")["Statement"]:
        assert st["Effect"] == "Allow"
        for action in st["Action"]:
            assert re.fullmatch(r"[a-z0-9]+:[A-Za-z]+", action), action


# ----- the deploy roles ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", DEPLOY_STACKS)
def test_deploy_role_is_assumable_from_its_own_environment(ci, stack):
    token = _token(ci, f"repo:{REPOSITORY}:environment:{stack}", role=f"deploy-{stack}")
    assert evaluate(token, _trust(ci, f"deploy-{stack}")) == "Allow"


@pytest.mark.parametrize("stack", DEPLOY_STACKS)
def test_deploy_role_refuses_main_outside_the_environment(ci, stack):
    token = _token(ci, f"repo:{REPOSITORY}:ref:refs/heads/main", role=f"deploy-{stack}")
    assert evaluate(token, _trust(ci, f"deploy-{stack}")) == "ImplicitDeny"


@pytest.mark.parametrize("stack", DEPLOY_STACKS)
def test_deploy_role_refuses_another_stacks_environment(ci, stack):
    trust = _trust(ci, f"deploy-{stack}")
    for other in DEPLOY_STACKS:
        if other == stack:
            continue
        token = _token(ci, f"repo:{REPOSITORY}:environment:{other}", role=f"deploy-{stack}")
        assert evaluate(token, trust) == "ImplicitDeny", (stack, other)


@pytest.mark.parametrize("stack", DEPLOY_STACKS)
def test_deploy_role_refuses_pull_requests_and_other_repositories(ci, stack):
    trust = _trust(ci, f"deploy-{stack}")
    for sub in (f"repo:{REPOSITORY}:pull_request", f"repo:another/app:environment:{stack}"):
        assert evaluate(_token(ci, sub, role=f"deploy-{stack}"), trust) == "ImplicitDeny", sub


@pytest.mark.parametrize("stack", DEPLOY_STACKS)
def test_deploy_role_carries_the_boundary(ci, stack):
    assert _role(ci, f"deploy-{stack}")["permissionsBoundary"] == BOUNDARY
    boundary = ci.one("aws:iam/policy:Policy", "permissions-boundary")["props"]
    assert boundary["arn"] == BOUNDARY


# ----- the boundary: a deploy cannot create a role more powerful than itself ------------------


@pytest.fixture(scope="module")
def deploy_dev(ci):
    role = _role(ci, "deploy-dev")
    boundary = doc(ci.one("aws:iam/policy:Policy", "permissions-boundary")["props"]["policy"])
    return role["arn"], [_inline(ci, "deploy-dev")], boundary


NEW_ROLE = f"arn:aws:iam::{ACCOUNT}:role{PROGRAM_ROLE_PATH}api-instance-role-1a2b3c4"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"
GRANTING = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
]


@pytest.mark.parametrize("action", GRANTING)
def test_deploy_may_grant_a_role_only_with_the_same_boundary(deploy_dev, action):
    arn, identity, boundary = deploy_dev
    with_boundary = Request(arn, action, NEW_ROLE, {"iam:PermissionsBoundary": BOUNDARY})
    assert evaluate_bounded(with_boundary, identity, boundary) == "Allow"
    without = Request(arn, action, NEW_ROLE, {})
    assert evaluate_bounded(without, identity, boundary) == "Deny"
    other = f"arn:aws:iam::{ACCOUNT}:policy/AdministratorBoundary"
    elsewhere = Request(arn, action, NEW_ROLE, {"iam:PermissionsBoundary": other})
    assert evaluate_bounded(elsewhere, identity, boundary) == "Deny"


@pytest.mark.parametrize(
    "action", [*GRANTING, "iam:UpdateAssumeRolePolicy", "iam:PassRole", "iam:DeleteRole"]
)
def test_deploy_cannot_manage_or_pass_the_accounts_other_roles(deploy_dev, action):
    arn, identity, boundary = deploy_dev
    ctx = {"iam:PermissionsBoundary": BOUNDARY}
    assert evaluate_bounded(Request(arn, action, ADMIN_ROLE, ctx), identity, boundary) != "Allow"


def test_deploy_passes_and_maintains_the_programs_roles(deploy_dev, tmp_path):
    arn, identity, boundary = deploy_dev
    resources = capture_main("dev", stacks_dir=_dev_with(tmp_path, BOUNDARY))
    roles = [r["props"] for r in resources if r["type"] == "aws:iam/role:Role"]
    assert roles and all(r["path"] == PROGRAM_ROLE_PATH for r in roles)
    for role in roles:
        for action in ("iam:PassRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"):
            req = Request(arn, action, role["arn"])
            assert evaluate_bounded(req, identity, boundary) == "Allow", (action, role["arn"])


def test_deploy_cannot_remove_or_rewrite_the_boundary(deploy_dev):
    arn, identity, boundary = deploy_dev
    remove = Request(arn, "iam:DeleteRolePermissionsBoundary", NEW_ROLE)
    assert evaluate_bounded(remove, identity, boundary) == "Deny"
    for action in ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"):
        assert evaluate_bounded(Request(arn, action, BOUNDARY), identity, boundary) != "Allow"


def test_deploy_cannot_touch_the_ci_roles_or_create_static_credentials(deploy_dev, ci):
    arn, identity, boundary = deploy_dev
    for name in ("preview", "deploy-dev", "deploy-prod"):
        target = _role(ci, name)["arn"]
        for action in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRole"):
            ctx = {"iam:PermissionsBoundary": BOUNDARY}
            assert evaluate_bounded(Request(arn, action, target, ctx), identity, boundary) == "Deny"
    user = f"arn:aws:iam::{ACCOUNT}:user/ci"
    for action in ("iam:CreateUser", "iam:CreateAccessKey"):
        assert evaluate_bounded(Request(arn, action, user), identity, boundary) == "Deny"


def test_deploy_manages_the_programs_resources_and_state(deploy_dev):
    arn, identity, boundary = deploy_dev
    allowed = [
        ("rds:CreateDBInstance", f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:jobapptracker-dev"),
        ("s3:PutObject", f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/stacks/p/dev.json"),
        ("kms:Encrypt", STATE_KEY),
        ("ec2:DescribeVpcs", "*"),
    ]
    for action, resource in allowed:
        assert evaluate_bounded(Request(arn, action, resource), identity, boundary) == "Allow"
    foreign = "arn:aws:rds:eu-west-1:210987654321:db:someone-else"
    assert (
        evaluate_bounded(Request(arn, "rds:DeleteDBInstance", foreign), identity, boundary)
        != "Allow"
    )


# ----- configuration ---------------------------------------------------------------------------


def test_config_refuses_wildcards_and_lists_every_problem():
    with pytest.raises(ci_config.ConfigError) as e:
        ci_config.from_mapping(
            {"repository": "example-org/*", "deployStacks": ["dev", "*"], "stateKeyId": "alias/x"},
            stack="s",
            region="eu-west-1",
        )
    text = str(e.value)
    for key in ("owner", "repository", "deployStacks", "stateBucket", "stateKeyId"):
        assert key in text, key
    assert len(e.value.problems) == 5


# ----- the main program's roles carry the boundary ---------------------------------------------


def _dev_with(tmp_path: Path, boundary: str) -> Path:
    text = (STACKS_DIR / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    text += f"  jobapptracker:permissionsBoundaryArn: {boundary}\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_every_program_role_carries_the_configured_boundary(tmp_path):
    resources = capture_main("dev", stacks_dir=_dev_with(tmp_path, BOUNDARY))
    roles = [r for r in resources if r["type"] == "aws:iam/role:Role"]
    assert roles
    assert {r["name"]: r["props"].get("permissionsBoundary") for r in roles} == {
        r["name"]: BOUNDARY for r in roles
    }


def test_without_the_setting_program_roles_have_no_boundary(dev):
    assert all("permissionsBoundary" not in r["props"] for r in dev.of_type("aws:iam/role:Role"))


def test_boundary_setting_must_be_a_managed_policy_arn():
    base = {
        "environment": "dev",
        "owner": "platform",
        "frontendUrl": "https://app.example.com",
        "apiUrl": "https://api.example.com",
        "email": {"provider": "ses", "fromEmail": "no-reply@example.com"},
        "rateLimiterFailClosed": True,
        "emailVerificationEnabled": True,
    }
    with pytest.raises(ConfigError) as e:
        main_from_mapping(
            {**base, "permissionsBoundaryArn": "jobapptracker-boundary"},
            stack="dev",
            region="eu-west-1",
        )
    assert "permissionsBoundaryArn" in str(e.value)
    ok = main_from_mapping(
        {**base, "permissionsBoundaryArn": BOUNDARY}, stack="dev", region="eu-west-1"
    )
    assert ok.permissions_boundary_arn == BOUNDARY


def test_plan_renders_the_ci_access_stack(capsys):
    from infra import plan

    assert plan.main(["--stack", f"ci-access/{STACK}"]) == 0
    out = capsys.readouterr().out
    assert "aws:iam/openIdConnectProvider:OpenIdConnectProvider github" in out
    for stack in DEPLOY_STACKS:
        assert f"aws:iam/role:Role deploy-{stack}" in out


def test_the_packs_oidc_rule_passes_the_ci_access_roles(ci):
    from policies.rules import ALL_RULES

    rule = next(r for r in ALL_RULES if r.name == "iam-oidc-trust-pinned-subject")
    for r in ci.of_type("aws:iam/role:Role"):
        assert list(rule.check(r["type"], r["props"], {})) == [], r["name"]


def _arns(value: object) -> list[str]:
    """Every ARN inside a resource's props, JSON policy documents included."""
    return re.findall(r"arn:[a-z-]+:[a-z0-9-]*:[^\"',\s\]]*", str(value))


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_every_arn_is_in_the_partition_of_the_accounts_region(tmp_path, region, partition):
    text = (Path(ci_config.__file__).with_name("Pulumi.shared.yaml")).read_text()
    (tmp_path / "Pulumi.other.yaml").write_text(
        text.replace("aws:region: eu-west-1", f"aws:region: {region}")
    )
    resources = capture_stack("other", project_dir=tmp_path)
    arns = [a for r in resources for a in _arns(r["props"])]
    assert len(arns) > 20, "the roles, their trust and their policies name resources by ARN"
    assert {a.split(":")[1] for a in arns} == {partition}
    boundary = next(r for r in resources if r["type"] == "aws:iam/policy:Policy")["props"]
    assert boundary["arn"].startswith(f"arn:{partition}:iam::")
    state_key = f"arn:{partition}:kms:{region}:{ACCOUNT}:key/"
    for role in (r for r in resources if r["type"] == "aws:iam/role:Role"):
        (inline,) = role["props"]["inlinePolicies"]
        assert state_key in inline["policy"]

"""mfa-key-api-only: only the API service reads the second-factor encryption key. Inputs are the
camelCase resource shapes CrossGuard hands over (tests/policies/stacks.py), run through the pack's
own policy objects (``violations``) and, once, through the check function itself."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.joins import StackView
from policies.resources import normalise, policy_resources
from policies.rules.mfa_key import check_mfa_key_api_only
from tests.policies.stacks import (
    ACCOUNT,
    DEV,
    FN_T,
    MFA_KEY,
    ROLE_T,
    SECRET_T,
    arn,
    find,
    outcome_of,
    res,
    violations,
)

RULE = "mfa-key-api-only"
PROD = {**DEV, RULE: {"environment": "prod"}}
KEY_ARN = arn("secretsmanager", f"secret:jobapptracker/dev/{MFA_KEY}-AbCdEf")
JOBS_ARN = arn("secretsmanager", "secret:jobapptracker/dev/jobs-db-AbCdEf")
TASK_T = "aws:ecs/taskDefinition:TaskDefinition"


def _found(entries, config=PROD) -> list:
    return violations(entries, config, rule=RULE)


def _messages(entries, config=PROD) -> list[str]:
    return [f.message for f in _found(entries, config)]


def _jobs_policy(statements: list[dict], deps: list | None = None) -> dict:
    """An inline policy on the scan-result (jobs) Lambda's role."""
    return res(
        "aws:iam/rolePolicy:RolePolicy",
        "scan-result-policy",
        {
            "role": "scan-result-role",
            "policy": json.dumps({"Version": "2012-10-17", "Statement": statements}),
        },
        deps={"role": [(ROLE_T, "scan-result-role")], "policy": deps or []},
    )


def _read(resource, action="secretsmanager:GetSecretValue") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _api_secrets(stack) -> dict:
    return find(stack, "api")["props"]["sourceConfiguration"]["imageRepository"][
        "imageConfiguration"
    ]["runtimeEnvironmentSecrets"]


# ----- passing inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("config", [DEV, PROD], ids=["dev", "prod"])
def test_the_compliant_stack_passes(stack, config):
    o = outcome_of(stack, config)
    assert RULE in o.evaluated
    assert [f for f in o.findings if f.rule == RULE] == []


def test_a_jobs_role_reading_only_its_own_secret_passes(stack):
    stack.append(_jobs_policy([_read(JOBS_ARN)], deps=[(SECRET_T, "jobs-db")]))
    assert _found(stack) == []


def test_the_check_runs_directly_on_the_resources_crossguard_sees(stack):
    view = StackView(policy_resources(normalise(stack)))
    assert list(check_mfa_key_api_only(view, {"environment": "prod"})) == []
    _api_secrets(stack).pop("MFA_ENCRYPTION_KEY")
    view = StackView(policy_resources(normalise(stack)))
    (finding,) = check_mfa_key_api_only(view, {"environment": "prod"})
    assert "does not receive MFA_ENCRYPTION_KEY" in finding[0]
    assert finding[1] == find(stack, "api")["urn"]


# ----- non-API roles may not read it -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        _read("*"),
        _read(f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jobapptracker/dev/*"),
        _read("arn:aws:secretsmanager:*:*:secret:*mfa*"),
        _read("arn:aws:secretsmanager:*"),
        _read(KEY_ARN, action="secretsmanager:*"),
        _read(KEY_ARN, action="*"),
        _read(KEY_ARN, action="secretsmanager:Get*"),
        _read([JOBS_ARN, KEY_ARN]),
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": JOBS_ARN},
    ],
    ids=[
        "wildcard",
        "stack-prefix",
        "name-pattern",
        "service-wide",
        "service-actions",
        "every-action",
        "get-star",
        "listed",
        "not-resource",
    ],
)
def test_a_jobs_role_granted_the_key_is_caught(stack, statement):
    stack.append(_jobs_policy([_read(JOBS_ARN), statement]))
    found = _found(stack)
    assert [f.resource for f in found] == ["scan-result-role"]
    assert "may read the second-factor key" in found[0].message
    assert "scan-result-policy" in found[0].message


def test_a_wildcard_grant_is_caught_in_dev_too(stack):
    stack.append(_jobs_policy([_read("*")]))
    assert [f.resource for f in _found(stack, DEV)] == ["scan-result-role"]


def test_a_deny_or_another_action_is_no_grant(stack):
    stack.append(
        _jobs_policy(
            [
                {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
                _read("*", action="secretsmanager:ListSecrets"),
            ]
        )
    )
    assert _found(stack) == []


def test_a_policy_built_from_the_key_is_caught_during_a_preview(stack):
    """The ARN is not known yet; the policy's dependency on the key secret tells."""
    stack.append(_jobs_policy([_read(UNKNOWN_STRING_VALUE)], deps=[(SECRET_T, MFA_KEY)]))
    found = _found(stack)
    assert [f.resource for f in found] == ["scan-result-role"]
    assert f"refers to {MFA_KEY}" in found[0].message


def test_a_pattern_is_tested_against_the_name_while_the_arn_is_unknown(stack):
    key = find(stack, MFA_KEY)
    key["props"]["arn"] = UNKNOWN_STRING_VALUE
    key["id"] = UNKNOWN_STRING_VALUE
    _api_secrets(stack)["MFA_ENCRYPTION_KEY"] = UNKNOWN_STRING_VALUE  # the API's too, then
    stack.append(
        _jobs_policy([_read(f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jobapptracker/*")])
    )
    assert [f.resource for f in _found(stack)] == ["scan-result-role"]
    stack[-1] = _jobs_policy([_read(JOBS_ARN)])
    assert _found(stack) == []


def test_a_managed_policy_attached_to_a_jobs_role_is_caught(stack):
    policy_t = "aws:iam/policy:Policy"
    stack += [
        res(
            policy_t,
            "jobs-extra",
            {
                "arn": f"arn:aws:iam::{ACCOUNT}:policy/jobs-extra",
                "policy": json.dumps({"Version": "2012-10-17", "Statement": [_read("*")]}),
            },
        ),
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "jobs-extra-attachment",
            {"role": "maintenance-role", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/jobs-extra"},
            deps={"role": [(ROLE_T, "maintenance-role")], "policyArn": [(policy_t, "jobs-extra")]},
        ),
    ]
    found = _found(stack)
    assert [f.resource for f in found] == ["maintenance-role"] and "jobs-extra" in found[0].message


def test_an_inline_policy_of_a_migrator_role_is_caught(stack):
    role = find(stack, "maintenance-role")
    role["props"]["inlinePolicies"] = [
        {"name": "extra", "policy": json.dumps({"Statement": [_read(KEY_ARN)]})}
    ]
    assert [f.resource for f in _found(stack)] == ["maintenance-role"]


def test_the_apis_own_role_may_read_it_and_only_it(stack):
    """The API's instance role already reads the key (the compliant stack); the same grant on
    the GuardDuty role is caught."""
    stack.append(
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "guardduty-extra",
            {"role": "guardduty-malware", "policy": json.dumps({"Statement": [_read(KEY_ARN)]})},
            deps={"role": [(ROLE_T, "guardduty-malware")]},
        )
    )
    assert [f.resource for f in _found(stack)] == ["guardduty-malware"]


def test_a_resource_policy_on_the_key_granting_a_read_is_caught(stack):
    secret_policy_t = "aws:secretsmanager/secretPolicy:SecretPolicy"
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/maintenance-role"},
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
    }
    stack.append(
        res(
            secret_policy_t,
            "key-policy",
            {"secretArn": KEY_ARN, "policy": json.dumps({"Statement": [grant]})},
            deps={"secretArn": [(SECRET_T, MFA_KEY)]},
        )
    )
    found = _found(stack, DEV)
    assert [f.resource for f in found] == ["key-policy"] and "maintenance-role" in found[0].message
    # The same policy on the jobs role's own secret is another rule's business.
    stack[-1]["props"]["secretArn"] = JOBS_ARN
    stack[-1]["propertyDependencies"]["secretArn"] = [find(stack, "jobs-db")["urn"]]
    assert _found(stack, DEV) == []


# ----- no non-API compute carries it -------------------------------------------------------------


def test_the_key_injected_into_a_jobs_lambda_is_caught(stack):
    fn = find(stack, "scan-result")
    fn["props"]["environment"]["variables"]["MFA_ENCRYPTION_KEY_SECRET_ARN"] = KEY_ARN
    found = _found(stack, DEV)
    assert [f.resource for f in found] == ["scan-result"]
    assert "MFA_ENCRYPTION_KEY_SECRET_ARN" in found[0].message


def test_the_keys_arn_under_another_name_is_caught(stack):
    fn = find(stack, "maintenance")
    fn["props"]["environment"]["variables"]["SOME_SETTING"] = f"{KEY_ARN}:value::"
    found = _found(stack, DEV)
    assert [f.resource for f in found] == ["maintenance"] and "references" in found[0].message


def test_a_lambda_environment_built_from_the_key_is_caught_during_a_preview(stack):
    fn = find(stack, "maintenance")
    fn["props"]["environment"]["variables"]["X"] = UNKNOWN_STRING_VALUE
    fn["propertyDependencies"]["environment"] = [
        f"urn:pulumi:dev::jobapptracker::{SECRET_T}::{MFA_KEY}"
    ]
    assert [f.resource for f in _found(stack, DEV)] == ["maintenance"]


def test_the_key_in_the_migrators_invocation_is_caught(stack):
    inv = find(stack, "db-admin-migrate")
    inv["props"]["input"] = json.dumps({"action": "migrate", "key": KEY_ARN})
    assert [f.resource for f in _found(stack, DEV)] == ["db-admin-migrate"]


def test_a_lambda_of_its_own_reading_another_secret_passes(stack):
    stack.append(
        res(
            FN_T,
            "report",
            {
                "name": "jobapptracker-dev-report",
                "environment": {"variables": {"DB_JOBS_PASSWORD_SECRET_ARN": JOBS_ARN}},
            },
        )
    )
    assert _found(stack) == []


# ----- the API receives it in production ---------------------------------------------------------


def test_the_api_without_the_key_fails_in_prod_only(stack):
    _api_secrets(stack).pop("MFA_ENCRYPTION_KEY")
    found = _found(stack)
    assert [f.resource for f in found] == ["api"]
    assert "does not receive MFA_ENCRYPTION_KEY" in found[0].message
    assert _found(stack, DEV) == []


def test_the_key_as_a_plain_variable_is_caught_everywhere(stack):
    key = _api_secrets(stack).pop("MFA_ENCRYPTION_KEY")
    cfg = find(stack, "api")["props"]["sourceConfiguration"]["imageRepository"][
        "imageConfiguration"
    ]
    cfg["runtimeEnvironmentVariables"]["MFA_ENCRYPTION_KEY"] = "x" * 40
    for config in (DEV, PROD):
        (finding,) = _found(stack, config)
        assert "plain environment variable" in finding.message
    assert key == KEY_ARN


def test_the_api_given_another_secret_as_the_key_fails(stack):
    _api_secrets(stack)["MFA_ENCRYPTION_KEY"] = find(stack, "jwt")["props"]["arn"]
    found = _found(stack)
    assert [f.resource for f in found] == ["api"] and "not the second-factor key" in found[
        0
    ].message


def test_an_unknown_reference_counts_when_it_depends_on_the_key(stack):
    _api_secrets(stack)["MFA_ENCRYPTION_KEY"] = UNKNOWN_STRING_VALUE
    assert _found(stack) == []
    svc = find(stack, "api")
    svc["propertyDependencies"]["sourceConfiguration"] = [
        u for u in svc["propertyDependencies"]["sourceConfiguration"] if MFA_KEY not in u
    ]
    assert "does not come from" in _messages(stack)[0]


def test_a_prod_stack_without_any_key_secret_fails(stack):
    stack[:] = [e for e in stack if e["name"] != MFA_KEY]
    _api_secrets(stack).pop("MFA_ENCRYPTION_KEY")
    messages = _messages(stack)
    assert any("no secret named like" in m for m in messages)
    assert any("does not receive" in m for m in messages)


def test_the_ecs_task_definition_is_checked_too(stack):
    stack[:] = [e for e in stack if e["name"] != "api"]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/api-instance-role"
    container = {
        "name": "api",
        "environment": [{"name": "APP_ENV", "value": "production"}],
        "secrets": [{"name": "MFA_ENCRYPTION_KEY", "valueFrom": KEY_ARN}],
    }
    task = res(
        TASK_T,
        "api-task",
        {
            "family": "jobapptracker-dev-api",
            "taskRoleArn": role_arn,
            "executionRoleArn": role_arn,
            "containerDefinitions": json.dumps([container]),
        },
        deps={"taskRoleArn": [(ROLE_T, "api-instance-role")]},
    )
    stack.append(task)
    assert _found(stack) == []
    container["secrets"] = []
    task["props"]["containerDefinitions"] = json.dumps([container])
    assert [f.resource for f in _found(stack)] == ["api-task"]


def test_the_key_without_a_customer_managed_kms_key_is_caught(stack):
    del find(stack, MFA_KEY)["props"]["kmsKeyId"]
    found = _found(stack, DEV)
    assert [f.resource for f in found] == [MFA_KEY] and "aws/secretsmanager" in found[0].message
    find(stack, MFA_KEY)["props"]["kmsKeyId"] = UNKNOWN_STRING_VALUE  # another resource's ARN
    assert _found(stack, DEV) == []


# ----- applicability and settings ----------------------------------------------------------------


def test_not_applicable_without_a_key_or_a_service(bootstrap_stack):
    without = [e for e in bootstrap_stack if e["name"] != MFA_KEY]
    o = outcome_of(without, PROD)
    assert RULE in o.not_applicable and RULE not in o.evaluated


def test_the_image_less_phase_still_checks_the_roles(bootstrap_stack):
    bootstrap_stack.append(
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "guardduty-extra",
            {"role": "guardduty-malware", "policy": json.dumps({"Statement": [_read("*")]})},
            deps={"role": [(ROLE_T, "guardduty-malware")]},
        )
    )
    assert [f.resource for f in _found(bootstrap_stack)] == ["guardduty-malware"]


def test_the_key_name_pattern_is_a_setting(stack):
    stack.append(_jobs_policy([_read(JOBS_ARN)]))
    config = {**PROD, RULE: {"environment": "prod", "keyNamePattern": "jobs-db"}}
    # jobs-db is now "the key": the jobs Lambdas carry it, their role reads it, and the API does
    # not receive it.
    resources = sorted(f.resource for f in violations(stack, config, rule=RULE))
    assert resources == ["api", "maintenance", "scan-result", "scan-result-role"]

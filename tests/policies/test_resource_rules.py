"""Each resource rule, called as the plain function it is, fails on a crafted bad resource; the same
resource fails through the pack's policy objects too; unknown values are handled as each rule
states."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, UnknownValueError

from policies.model import NotApplicable
from policies.rules import ALL_RULES
from tests.policies.stacks import DEV, TAGS, find, good_stack, res, violations

RULES = {r.name: r for r in ALL_RULES}
DB = "aws:rds/instance:Instance"
REPO = "aws:ecr/repository:Repository"
SVC = "aws:apprunner/service:Service"
ECS = "aws:ecs/taskDefinition:TaskDefinition"
TG = "aws:lb/targetGroup:TargetGroup"
FN = "aws:lambda/function:Function"
PERM = "aws:lambda/permission:Permission"
SECRET = "aws:secretsmanager/secret:Secret"
SM = "arn:aws:secretsmanager:eu-west-1:123456789012"

GOOD_DB = {
    "engine": "postgres",
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 7,
    "deletionProtection": True,
    "multiAz": True,
    "manageMasterUserPassword": True,
    "autoMinorVersionUpgrade": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
}
GOOD_SVC = {
    "sourceConfiguration": {
        "imageRepository": {
            "imageConfiguration": {
                "runtimeEnvironmentVariables": {"APP_ENV": "production"},
                "runtimeEnvironmentSecrets": {
                    "JWT_SECRET": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-AbC"
                },
            }
        }
    },
    "instanceConfiguration": {"instanceRoleArn": "arn:aws:iam::123456789012:role/api"},
    "healthCheckConfiguration": {"protocol": "HTTP", "path": "/health"},
}
GOOD_ECS = {
    "taskRoleArn": "arn:aws:iam::123456789012:role/task",
    "containerDefinitions": json.dumps(
        [
            {
                "name": "api",
                "image": "x",
                "environment": [{"name": "APP_ENV", "value": "production"}],
                "secrets": [
                    {
                        "name": "JWT_SECRET",
                        "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-AbC",
                    }
                ],
            }
        ]
    ),
}
GOOD_TG = {"healthCheck": {"enabled": True, "path": "/health", "protocol": "HTTP"}}


def _with(base: dict, **changes) -> dict:
    out = {**base}
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _svc_env(variables=None, secrets=None) -> dict:
    cfg = {
        "runtimeEnvironmentVariables": variables or {},
        "runtimeEnvironmentSecrets": secrets or {},
    }
    return _with(GOOD_SVC, sourceConfiguration={"imageRepository": {"imageConfiguration": cfg}})


CASES = [
    ("rds-storage-encrypted", DB, _with(GOOD_DB, storageEncrypted=False), {}, "not encrypted"),
    ("rds-storage-encrypted", DB, _with(GOOD_DB, storageEncrypted=None), {}, "not encrypted"),
    ("rds-not-public", DB, _with(GOOD_DB, publiclyAccessible=True), {}, "public address"),
    ("rds-backup-retention", DB, _with(GOOD_DB, backupRetentionPeriod=3), {}, "at least 7"),
    ("rds-backup-retention", DB, _with(GOOD_DB, backupRetentionPeriod=None), {}, "unset"),
    (
        "rds-deletion-protection",
        DB,
        _with(GOOD_DB, deletionProtection=False),
        {"environment": "prod"},
        "prod",
    ),
    ("rds-deletion-protection", DB, _with(GOOD_DB, deletionProtection=None), {}, "prod"),
    ("rds-multi-az", DB, _with(GOOD_DB, multiAz=False), {"environment": "prod"}, "multiAz"),
    (
        "rds-no-literal-master-password",
        DB,
        _with(GOOD_DB, manageMasterUserPassword=None, password="hunter2hunter2"),
        {},
        "known value",
    ),
    (
        "rds-no-literal-master-password",
        DB,
        _with(GOOD_DB, manageMasterUserPassword=False),
        {},
        "manageMasterUserPassword",
    ),
    ("rds-auto-minor-upgrade", DB, _with(GOOD_DB, autoMinorVersionUpgrade=False), {}, "false"),
    (
        "rds-log-exports",
        DB,
        _with(GOOD_DB, enabledCloudwatchLogsExports=["postgresql"]),
        {},
        "upgrade",
    ),
    ("rds-log-exports", DB, _with(GOOD_DB, enabledCloudwatchLogsExports=None), {}, "postgresql"),
    (
        "ecr-scan-on-push",
        REPO,
        {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": False}},
        {},
        "scanOnPush",
    ),
    ("ecr-scan-on-push", REPO, {"imageTagMutability": "IMMUTABLE"}, {}, "scanOnPush"),
    ("ecr-immutable-tags", REPO, {"imageTagMutability": "MUTABLE"}, {}, "MUTABLE"),
    ("ecr-immutable-tags", REPO, {}, {}, "MUTABLE"),
    ("service-no-plain-secrets", SVC, _svc_env({"DB_APP_PASSWORD": "x"}), {}, "DB_APP_PASSWORD"),
    ("service-no-plain-secrets", SVC, _svc_env({"RESEND_API_KEY": "re_123"}), {}, "RESEND_API_KEY"),
    (
        "service-no-plain-secrets",
        SVC,
        _svc_env({"SLACK_WEBHOOK_URL": "https://hooks"}),
        {},
        "SLACK_WEBHOOK_URL",
    ),
    (
        "service-no-plain-secrets",
        SVC,
        _svc_env(secrets={"JWT_SECRET": "arn:aws:ssm:eu-west-1:123456789012:parameter/jwt"}),
        {},
        "not a Secrets Manager",
    ),
    (
        "service-no-plain-secrets",
        SVC,
        _svc_env({"JWT_SECRET_ARN": "plain-text"}),
        {},
        "must hold a Secrets Manager ARN",
    ),
    (
        "service-no-plain-secrets",
        ECS,
        _with(
            GOOD_ECS,
            containerDefinitions=json.dumps(
                [{"name": "api", "environment": [{"name": "JWT_SECRET", "value": "s"}]}]
            ),
        ),
        {},
        "JWT_SECRET",
    ),
    ("service-health-check", SVC, _with(GOOD_SVC, healthCheckConfiguration=None), {}, "TCP"),
    (
        "service-health-check",
        SVC,
        _with(GOOD_SVC, healthCheckConfiguration={"protocol": "HTTP", "path": "/"}),
        {},
        "/health",
    ),
    (
        "service-health-check",
        SVC,
        _with(GOOD_SVC, healthCheckConfiguration={"protocol": "TCP", "path": "/health"}),
        {},
        "HTTP",
    ),
    ("service-health-check", TG, {"healthCheck": {"path": "/ping"}}, {}, "/health"),
    (
        "service-instance-role",
        SVC,
        _with(GOOD_SVC, instanceConfiguration={"cpu": "1024"}),
        {},
        "instanceRoleArn",
    ),
    ("service-instance-role", ECS, _with(GOOD_ECS, taskRoleArn=None), {}, "taskRoleArn"),
    (
        "lambda-no-public-invoke",
        PERM,
        {"action": "lambda:InvokeFunction", "principal": "*"},
        {},
        "any AWS account",
    ),
    (
        "lambda-no-public-invoke",
        PERM,
        {"action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com"},
        {},
        "sourceArn",
    ),
    (
        "lambda-no-public-invoke",
        PERM,
        {"action": "lambda:InvokeFunctionUrl", "principal": "*", "functionUrlAuthType": "NONE"},
        {},
        "auth type NONE",
    ),
    (
        "lambda-no-public-invoke",
        "aws:lambda/functionUrl:FunctionUrl",
        {"authorizationType": "NONE"},
        {},
        "anyone",
    ),
    (
        "lambda-supported-runtime",
        FN,
        {"packageType": "Zip", "runtime": "python3.8"},
        {},
        "python3.8",
    ),
    ("lambda-supported-runtime", FN, {"runtime": "nodejs16.x"}, {}, "nodejs16.x"),
    (
        "lambda-no-plain-secrets",
        FN,
        {"environment": {"variables": {"DB_JOBS_PASSWORD": "x"}}},
        {},
        "DB_JOBS_PASSWORD",
    ),
    (
        "lambda-no-plain-secrets",
        FN,
        {"environment": {"variables": {"SLACK_WEBHOOK_URL": "https://hooks"}}},
        {},
        "SLACK_WEBHOOK_URL",
    ),
    (
        "lambda-no-plain-secrets",
        FN,
        {"environment": {"variables": {"DB_JOBS_SECRET_ARN": "password123"}}},
        {},
        "Secrets Manager ARN",
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'},
        {},
        "'*'",
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/policy:Policy",
        {
            "policy": '{"Statement": {"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], '
            '"Resource": "*"}}'
        },
        {},
        "s3:*",
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/role:Role",
        {
            "inlinePolicies": [
                {
                    "name": "p",
                    "policy": '{"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", '
                    '"Resource": ["*"]}]}',
                }
            ]
        },
        {},
        "secretsmanager:*",
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/role:Role",
        {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        {},
        "administrator",
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/userPolicy:UserPolicy",
        {"policy": '{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}'},
        {},
        "NotAction",
    ),
    ("iam-no-static-credentials", "aws:iam/user:User", {"name": "ci"}, {}, "User"),
    ("iam-no-static-credentials", "aws:iam/accessKey:AccessKey", {"user": "ci"}, {}, "AccessKey"),
    (
        "required-tags",
        "aws:s3/bucket:Bucket",
        {"tags": {"project": "jobapptracker", "stack": "dev"}},
        {},
        "owner",
    ),
    ("required-tags", "aws:sqs/queue:Queue", {}, {}, "project, stack, owner"),
    (
        "required-tags",
        "aws:ecr/repository:Repository",
        {"tags": {"project": "", "stack": "dev", "owner": "o"}},
        {},
        "project",
    ),
    (
        "secrets-recovery-window",
        SECRET,
        {"recoveryWindowInDays": 0},
        {},
        "recoveryWindowInDays is 0",
    ),
    ("secrets-kms-key", SECRET, {"recoveryWindowInDays": 7}, {}, "customer key"),
]


@pytest.mark.parametrize(("rule", "type_", "props", "config", "expected"), CASES)
def test_rule_function_fails_on_bad_resource(rule, type_, props, config, expected):
    messages = list(RULES[rule].check(type_, props, config))
    assert messages, f"{rule} accepted {props}"
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize(("rule", "type_", "props", "config", "expected"), CASES)
def test_bad_resource_fails_through_the_pack(rule, type_, props, config, expected):
    entry = res(type_, "subject", props)
    found = violations([entry], {rule: config} if config else {}, rule=rule, level=None)
    assert found and all(f.resource == "subject" for f in found)
    assert found[0].level == RULES[rule].enforcement.value


GOOD = [
    ("rds-storage-encrypted", DB, GOOD_DB),
    ("rds-not-public", DB, _with(GOOD_DB, publiclyAccessible=None)),
    ("rds-deletion-protection", DB, GOOD_DB),
    ("rds-no-literal-master-password", DB, GOOD_DB),
    ("rds-auto-minor-upgrade", DB, _with(GOOD_DB, autoMinorVersionUpgrade=None)),
    (
        "service-no-plain-secrets",
        SVC,
        _svc_env(
            {
                "PASSWORD_MIN_LENGTH": "14",
                "ACCESS_TOKEN_TTL_SECONDS": "900",
                "DB_MASTER_SECRET_ARN": f"{SM}:secret:m-AbC",
            }
        ),
    ),
    ("service-no-plain-secrets", ECS, GOOD_ECS),
    ("service-health-check", TG, GOOD_TG),
    (
        "lambda-no-public-invoke",
        PERM,
        {
            "principal": "events.amazonaws.com",
            "sourceArn": "arn:aws:events:eu-west-1:123456789012:rule/r",
        },
    ),
    (
        "iam-no-wildcard-grants",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": '{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": '
            '"arn:aws:s3:::b/*"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
        },
    ),
    ("required-tags", "aws:lambda/invocation:Invocation", {}),
    ("required-tags", "aws:s3/bucket:Bucket", {"tags": TAGS}),
    ("secrets-recovery-window", SECRET, {}),
]


@pytest.mark.parametrize(("rule", "type_", "props"), GOOD)
def test_rule_function_accepts_good_resource(rule, type_, props):
    assert list(RULES[rule].check(type_, props, {"environment": "prod"})) == []


def test_environment_dependent_rules_do_not_apply_in_dev():
    bad = _with(GOOD_DB, deletionProtection=False, multiAz=False)
    for rule in ("rds-deletion-protection", "rds-multi-az"):
        with pytest.raises(NotApplicable):
            list(RULES[rule].check(DB, bad, {"environment": "dev"}))
    assert violations([res(DB, "db", bad)], DEV, rule="rds-deletion-protection") == []


def test_image_functions_are_not_applicable_to_the_runtime_rule():
    with pytest.raises(NotApplicable):
        list(RULES["lambda-supported-runtime"].check(FN, {"packageType": "Image"}, {}))


def test_unknown_values_defer_as_stated():
    # "defer": an unknown setting raises, which the pack reports as an advisory diagnostic
    with pytest.raises(UnknownValueError):
        list(
            RULES["rds-storage-encrypted"].check(
                DB, _with(GOOD_DB, storageEncrypted=UNKNOWN_BOOLEAN_VALUE), {}
            )
        )
    entry = res(DB, "db", _with(GOOD_DB, storageEncrypted=UNKNOWN_BOOLEAN_VALUE, tags=TAGS))
    found = violations([entry], rule="rds-storage-encrypted", level=None)
    assert [(f.rule, f.level, f.unknown) for f in found] == [
        ("rds-storage-encrypted", "advisory", True)
    ]
    assert "during preview" in found[0].message


def test_unknown_values_pass_where_stated():
    svc = _svc_env(
        secrets={"JWT_SECRET": UNKNOWN_STRING_VALUE},
        variables={"JWT_SECRET_ARN": UNKNOWN_STRING_VALUE},
    )
    assert list(RULES["service-no-plain-secrets"].check(SVC, svc, {})) == []
    db = _with(GOOD_DB, manageMasterUserPassword=None, password=UNKNOWN_STRING_VALUE)
    assert list(RULES["rds-no-literal-master-password"].check(DB, db, {})) == []
    fn = {"environment": {"variables": {"DB_JOBS_SECRET_ARN": UNKNOWN_STRING_VALUE}}}
    assert list(RULES["lambda-no-plain-secrets"].check(FN, fn, {})) == []


def test_rule_settings_come_from_policy_config():
    db = _with(GOOD_DB, backupRetentionPeriod=10)
    assert list(RULES["rds-backup-retention"].check(DB, db, {"minimumRetentionDays": 14}))
    svc = _svc_env({"SESSION_TOKEN": "x"})
    assert list(RULES["service-no-plain-secrets"].check(SVC, svc, {}))
    assert (
        list(RULES["service-no-plain-secrets"].check(SVC, svc, {"allowedNames": ["SESSION_TOKEN"]}))
        == []
    )


def test_the_good_stack_fixture_is_compliant():
    assert violations(good_stack(), DEV) == []
    assert violations(good_stack(with_image=False), DEV) == []
    prod_db = find(good_stack(), "db")
    assert {r.rule for r in violations([prod_db])} >= {"rds-deletion-protection", "rds-multi-az"}

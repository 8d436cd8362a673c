"""Test helpers: a hand-built, compliant stack in the shape
``infra.offline.capture_stack`` returns, and helpers
to run the pack's rules over resource lists the way the runner and CrossGuard do."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from policies.engine import evaluate
from policies.resources import normalise

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TAGS = {"project": "jobapptracker", "stack": "dev", "owner": "platform"}
FIXTURES = Path(__file__).parent / "fixtures"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/jobapptracker:placeholder"


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:dev::jobapptracker::{type_}::{name}"


def res(
    type_: str, name: str, props: dict, deps: dict | None = None, id_: str | None = None
) -> dict:
    return {
        "type": type_,
        "name": name,
        "urn": urn(type_, name),
        "id": id_ or f"{name}-id",
        "props": props,
        "propertyDependencies": {
            k: [urn(*v) if isinstance(v, tuple) else v for v in vs]
            for k, vs in (deps or {}).items()
        },
    }


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


BUCKET_T = "aws:s3/bucket:Bucket"
ROLE_T = "aws:iam/role:Role"
FN_T = "aws:lambda/function:Function"
SECRET_T = "aws:secretsmanager/secret:Secret"
RULE_T = "aws:cloudwatch/eventRule:EventRule"
SVC_T = "aws:apprunner/service:Service"
PG_T = "aws:rds/parameterGroup:ParameterGroup"
REPO_T = "aws:ecr/repository:Repository"
# The second-factor encryption key (generation 1): the API's alone.
MFA_KEY = "mfa-encryption-key-1"
SECRETS = ("app-db", "migrator-db", "jobs-db", "jwt", MFA_KEY)


def _role(name: str, service: str) -> dict:
    return res(
        ROLE_T,
        name,
        {
            "name": name,
            "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "assumeRolePolicy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": service},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            "tags": TAGS,
        },
    )


def _secret(name: str) -> dict:
    return res(
        SECRET_T,
        name,
        {
            "name": f"jobapptracker/dev/{name}",
            "arn": arn("secretsmanager", f"secret:jobapptracker/dev/{name}-AbCdEf"),
            "recoveryWindowInDays": 7,
            "kmsKeyId": arn("kms", "key/1234"),
            "tags": TAGS,
        },
    )


def _fn(name: str, env: dict, role: str) -> dict:
    return res(
        FN_T,
        name,
        {
            "name": f"jobapptracker-dev-{name}",
            "arn": arn("lambda", f"function:jobapptracker-dev-{name}"),
            "packageType": "Image",
            "imageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/jobapptracker:placeholder",
            "role": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "environment": {"variables": env},
            "tags": TAGS,
        },
        deps={"role": [(ROLE_T, role)]},
    )


def bucket_policy_doc(bucket_arn: str, guardduty_role: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "ReadsNeedCleanScan",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEquals": {
                        "s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "NO_THREATS_FOUND"
                    },
                    "ArnNotEquals": {"aws:PrincipalArn": guardduty_role},
                },
            },
            {
                "Sid": "OnlyGuardDutyTags",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
                "Resource": f"{bucket_arn}/*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": guardduty_role}},
            },
        ],
    }


def good_stack(*, with_image: bool = True) -> list[dict]:
    bucket_name = "jobapptracker-dev-uploads"
    bucket_arn = f"arn:aws:s3:::{bucket_name}"
    gd_role = f"arn:aws:iam::{ACCOUNT}:role/guardduty-malware"
    b = (BUCKET_T, "uploads")
    out = [
        res(
            REPO_T,
            "registry",
            {
                "name": "jobapptracker",
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "tags": TAGS,
            },
            id_="jobapptracker",
        ),
        res(
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "registry-lifecycle",
            {
                "repository": "jobapptracker",
                "policy": json.dumps(
                    {
                        "rules": [
                            {
                                "rulePriority": 1,
                                "selection": {
                                    "tagStatus": "untagged",
                                    "countType": "sinceImagePushed",
                                    "countUnit": "days",
                                    "countNumber": 7,
                                },
                                "action": {"type": "expire"},
                            }
                        ]
                    }
                ),
            },
            deps={"repository": [(REPO_T, "registry")]},
        ),
        *[_secret(n) for n in SECRETS],
        res(
            PG_T,
            "db-params",
            {
                "name": "jobapptracker-dev-pg17",
                "family": "postgres17",
                "parameters": [
                    {"name": "rds.force_ssl", "value": "1"},
                    {"name": "log_min_duration_statement", "value": "500"},
                ],
                "tags": TAGS,
            },
        ),
        res(
            "aws:rds/instance:Instance",
            "db",
            {
                "engine": "postgres",
                "engineVersion": "17",
                "instanceClass": "db.t4g.micro",
                "allocatedStorage": 20,
                "storageEncrypted": True,
                "publiclyAccessible": False,
                "parameterGroupName": "jobapptracker-dev-pg17",
                "backupRetentionPeriod": 7,
                "deletionProtection": False,
                "multiAz": False,
                "manageMasterUserPassword": True,
                "username": "master",
                "autoMinorVersionUpgrade": True,
                "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
                "tags": TAGS,
            },
            deps={"parameterGroupName": [(PG_T, "db-params")]},
        ),
        res(
            BUCKET_T,
            "uploads",
            {"bucket": bucket_name, "arn": bucket_arn, "tags": TAGS},
            id_=bucket_name,
        ),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "uploads-public-access",
            {
                "bucket": bucket_name,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            deps={"bucket": [b]},
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "uploads-sse",
            {
                "bucket": bucket_name,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            deps={"bucket": [b]},
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "uploads-versioning",
            {"bucket": bucket_name, "versioningConfiguration": {"status": "Enabled"}},
            deps={"bucket": [b]},
        ),
        _role("guardduty-malware", "malware-protection-plan.guardduty.amazonaws.com"),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "uploads-policy",
            {"bucket": bucket_name, "policy": json.dumps(bucket_policy_doc(bucket_arn, gd_role))},
            deps={"bucket": [b], "policy": [b, (ROLE_T, "guardduty-malware")]},
        ),
        res(
            "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
            "uploads-scan",
            {
                "role": gd_role,
                "protectedResource": {"s3Bucket": {"bucketName": bucket_name}},
                "actions": [{"taggings": [{"status": "ENABLED"}]}],
                "tags": TAGS,
            },
            deps={"role": [(ROLE_T, "guardduty-malware")], "protectedResource": [b]},
        ),
    ]
    if not with_image:
        return out
    secret_arn = {n: arn("secretsmanager", f"secret:jobapptracker/dev/{n}-AbCdEf") for n in SECRETS}
    dlq = arn("sqs", "jobapptracker-dev-failures")
    out += [
        _role("scan-result-role", "lambda.amazonaws.com"),
        _role("maintenance-role", "lambda.amazonaws.com"),
        _role("api-instance-role", "tasks.apprunner.amazonaws.com"),
        _fn(
            "scan-result",
            {"DB_JOBS_SECRET_ARN": secret_arn["jobs-db"], "UPLOADS_BUCKET": bucket_name},
            "scan-result-role",
        ),
        _fn("maintenance", {"DB_JOBS_SECRET_ARN": secret_arn["jobs-db"]}, "maintenance-role"),
        res(
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "scan-result-async",
            {
                "functionName": "jobapptracker-dev-scan-result",
                "maximumRetryAttempts": 2,
                "destinationConfig": {"onFailure": {"destination": dlq}},
            },
            deps={"functionName": [(FN_T, "scan-result")]},
        ),
        res(
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "maintenance-async",
            {
                "functionName": "jobapptracker-dev-maintenance",
                "maximumRetryAttempts": 2,
                "destinationConfig": {"onFailure": {"destination": dlq}},
            },
            deps={"functionName": [(FN_T, "maintenance")]},
        ),
        res(
            RULE_T,
            "scan-results",
            {
                "name": "jobapptracker-dev-scan-results",
                "arn": arn("events", "rule/jobapptracker-dev-scan-results"),
                "eventPattern": json.dumps(
                    {
                        "source": ["aws.guardduty"],
                        "detail-type": ["GuardDuty Malware Protection Object Scan Result"],
                        "detail": {"s3ObjectDetails": {"bucketName": [bucket_name]}},
                    }
                ),
                "tags": TAGS,
            },
        ),
        res(
            "aws:cloudwatch/eventTarget:EventTarget",
            "scan-results-target",
            {
                "rule": "jobapptracker-dev-scan-results",
                "arn": arn("lambda", "function:jobapptracker-dev-scan-result"),
                "deadLetterConfig": {"arn": arn("sqs", "jobapptracker-dev-events-dlq")},
            },
            deps={"rule": [(RULE_T, "scan-results")], "arn": [(FN_T, "scan-result")]},
        ),
        res(
            "aws:lambda/permission:Permission",
            "scan-results-invoke",
            {
                "action": "lambda:InvokeFunction",
                "function": "jobapptracker-dev-scan-result",
                "principal": "events.amazonaws.com",
                "sourceArn": arn("events", "rule/jobapptracker-dev-scan-results"),
            },
        ),
        res(
            "aws:scheduler/schedule:Schedule",
            "maintenance-schedule",
            {
                "scheduleExpression": "rate(1 day)",
                "flexibleTimeWindow": {"mode": "OFF"},
                "target": {
                    "arn": arn("lambda", "function:jobapptracker-dev-maintenance"),
                    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
                },
            },
            deps={"target": [(FN_T, "maintenance")]},
        ),
        res(
            "aws:lambda/invocation:Invocation",
            "db-admin-migrate",
            {
                "functionName": "jobapptracker-dev-db-admin",
                "input": "{}",
                "triggers": {"imageTag": "placeholder"},
            },
        ),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "api-instance-secrets",
            {
                "role": "api-instance-role",
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "secretsmanager:GetSecretValue",
                                "Resource": [
                                    secret_arn["app-db"],
                                    secret_arn["jwt"],
                                    secret_arn[MFA_KEY],
                                ],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucketVersions"],
                                "Resource": [
                                    f"arn:aws:s3:::{bucket_name}",
                                    f"arn:aws:s3:::{bucket_name}/*",
                                ],
                            },
                        ],
                    }
                ),
            },
            deps={
                "role": [(ROLE_T, "api-instance-role")],
                "policy": [(SECRET_T, "app-db"), (SECRET_T, "jwt"), (SECRET_T, MFA_KEY), b],
            },
        ),
        res(
            SVC_T,
            "api",
            {
                "serviceName": "jobapptracker-dev-api",
                "sourceConfiguration": {
                    "authenticationConfiguration": {
                        "accessRoleArn": f"arn:aws:iam::{ACCOUNT}:role/apprunner-ecr"
                    },
                    "imageRepository": {
                        "imageIdentifier": IMAGE,
                        "imageRepositoryType": "ECR",
                        "imageConfiguration": {
                            "port": "8000",
                            "runtimeEnvironmentVariables": {
                                "APP_ENV": "production",
                                "PASSWORD_MIN_LENGTH": "14",
                                "UPLOADS_BUCKET": bucket_name,
                            },
                            "runtimeEnvironmentSecrets": {
                                "DB_APP_PASSWORD": f"{secret_arn['app-db']}:password::",
                                "JWT_SECRET": secret_arn["jwt"],
                                "MFA_ENCRYPTION_KEY": secret_arn[MFA_KEY],
                            },
                        },
                    },
                },
                "instanceConfiguration": {
                    "instanceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/api-instance-role"
                },
                "healthCheckConfiguration": {"protocol": "HTTP", "path": "/health"},
                "tags": TAGS,
            },
            deps={
                "sourceConfiguration": [
                    (SECRET_T, "app-db"),
                    (SECRET_T, "jwt"),
                    (SECRET_T, MFA_KEY),
                ],
                "instanceConfiguration": [(ROLE_T, "api-instance-role")],
            },
        ),
    ]
    return out


def find(entries: list[dict], name: str) -> dict:
    return next(e for e in entries if e["name"] == name)


def drop(entries: list[dict], *names: str) -> list[dict]:
    return [e for e in entries if e["name"] not in names]


def violations(
    entries: list[dict],
    config: dict | None = None,
    rule: str | None = None,
    level: str | None = "mandatory",
):
    outcome = evaluate(normalise(copy.deepcopy(entries)), config or {})
    return [
        f
        for f in outcome.findings
        if (rule is None or f.rule == rule) and (level is None or f.level == level)
    ]


def outcome_of(entries: list[dict], config: dict | None = None):
    return evaluate(normalise(copy.deepcopy(entries)), config or {})


DEV = {
    "rds-deletion-protection": {"environment": "dev"},
    "rds-multi-az": {"environment": "dev"},
    "mfa-key-api-only": {"environment": "dev"},
}

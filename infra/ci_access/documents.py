"""The CI roles' IAM documents, built in Python (json) so the tests evaluate exactly what AWS
receives. Sources:
https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
"""

from __future__ import annotations

import json
from typing import Any

from ..iam import PROGRAM_ROLE_PATH, VERSION, statement

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
NAME_PREFIX = "jobapptracker-ci"
BOUNDARY_NAME = "jobapptracker-permissions-boundary"

# Every AWS service the main program creates resources in or its roles call (infra/).
MANAGED_SERVICES = (
    "acm",
    "apprunner",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elasticloadbalancing",
    "events",
    "guardduty",
    "kms",
    "lambda",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "ses",
    "sns",
    "sqs",
    "wafv2",
)
# Actions whose only resource is "*" (no resource-level permissions), needed to deploy or run.
ACCOUNT_LEVEL_ACTIONS = (
    "acm:ListCertificates",
    "acm:RequestCertificate",
    "apprunner:ListServices",
    "cloudfront:ListDistributions",
    "ec2:Describe*",
    "ecr:GetAuthorizationToken",
    "ecs:CreateCluster",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:Describe*",
    "guardduty:CreateMalwareProtectionPlan",
    "guardduty:ListMalwareProtectionPlans",
    "kms:CreateKey",
    "kms:ListAliases",
    "lambda:GetAccountSettings",
    "logs:DescribeLogGroups",
    "rds:DescribeDBEngineVersions",
    "rds:DescribeOrderableDBInstanceOptions",
    "route53:ListHostedZones",
    "secretsmanager:GetRandomPassword",
    "sts:GetCallerIdentity",
    "wafv2:ListWebACLs",
)
# Role management the deploy needs, only on roles under the program's path (so never on the
# account's other roles, which it could otherwise re-trust or pass to a function); each action
# that can give a role permissions is allowed only when the role carries the boundary
# (iam:PermissionsBoundary).
ROLE_GRANTING_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
)
ROLE_UPKEEP_ACTIONS = (
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:PassRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
STATIC_CREDENTIAL_ACTIONS = (
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:CreateUser",
)
BOUNDARY_EDIT_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)

# What `pulumi preview` reads: the stack's state (and lock) in the backend, the secrets provider's
# key, and the data sources the program calls. Listed action by action, nothing else.
PREVIEW_READ_ACTIONS = (
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeManagedPrefixLists",
    "ec2:DescribePrefixLists",
    "sts:GetCallerIdentity",
)


def oidc_provider_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}"


def boundary_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:policy/{BOUNDARY_NAME}"


def preview_role_name() -> str:
    return f"{NAME_PREFIX}-preview"


def deploy_role_name(stack: str) -> str:
    return f"{NAME_PREFIX}-deploy-{stack}"


def pull_request_subject(repository: str) -> str:
    return f"repo:{repository}:pull_request"


def environment_subject(repository: str, environment: str) -> str:
    return f"repo:{repository}:environment:{environment}"


def github_trust(provider_arn: str, subject: str) -> str:
    """Trust for one exact GitHub OIDC subject, audience pinned to STS."""
    st: dict[str, Any] = {
        "Sid": "GitHubOidc",
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                f"{GITHUB_OIDC_HOST}:sub": subject,
            }
        },
    }
    return json.dumps({"Version": VERSION, "Statement": [st]})


def _state_statements(
    partition: str, bucket: str, key_arn: str, *, write: bool
) -> list[dict[str, Any]]:
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    out = [
        statement("StateList", ["s3:GetBucketLocation", "s3:ListBucket"], bucket_arn),
        statement("StateRead", ["s3:GetObject"], f"{bucket_arn}/*"),
    ]
    if write:
        out.append(statement("StateWrite", ["s3:DeleteObject", "s3:PutObject"], f"{bucket_arn}/*"))
        out.append(
            statement(
                "StateKey",
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                key_arn,
            )
        )
    else:
        # The backend writes a lock next to the state even for a preview.
        out.append(
            statement(
                "StateLock",
                ["s3:DeleteObject", "s3:PutObject"],
                f"{bucket_arn}/.pulumi/locks/*",
            )
        )
        out.append(statement("StateKey", ["kms:Decrypt"], key_arn))
    return out


def preview_policy(partition: str, bucket: str, key_arn: str) -> str:
    sts = [
        *_state_statements(partition, bucket, key_arn, write=False),
        statement("PreviewReads", list(PREVIEW_READ_ACTIONS), "*"),
    ]
    return json.dumps({"Version": VERSION, "Statement": sts})


def _account_resources(partition: str, account: str) -> list[str]:
    # Regional and global resources of this account; S3 and Route 53 ARNs carry no account.
    return [
        f"arn:{partition}:*:*:{account}:*",
        f"arn:{partition}:s3:::*",
        f"arn:{partition}:route53:::*",
    ]


def program_roles(partition: str, account: str) -> str:
    """Every role the program creates (under a boundary, they all live under its path)."""
    return f"arn:{partition}:iam::{account}:role{PROGRAM_ROLE_PATH}*"


def service_linked_roles(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:role/aws-service-role/*"


def deploy_policy(partition: str, account: str, bucket: str, key_arn: str, boundary: str) -> str:
    roles = program_roles(partition, account)
    sts = [
        *_state_statements(partition, bucket, key_arn, write=True),
        statement(
            "ManageProgramResources",
            [f"{s}:*" for s in MANAGED_SERVICES],
            _account_resources(partition, account),
        ),
        statement("AccountLevel", list(ACCOUNT_LEVEL_ACTIONS), "*"),
        statement(
            "GrantRolesOnlyWithinBoundary",
            list(ROLE_GRANTING_ACTIONS),
            roles,
            condition={"StringEquals": {"iam:PermissionsBoundary": boundary}},
        ),
        statement("RoleUpkeep", list(ROLE_UPKEEP_ACTIONS), roles),
        statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            service_linked_roles(partition, account),
        ),
    ]
    return json.dumps({"Version": VERSION, "Statement": sts})


def boundary_policy(partition: str, account: str, boundary: str, protected_roles: list[str]) -> str:
    """The most any deploy role or any role the program creates can ever do."""
    roles = program_roles(partition, account)
    sts = [
        statement(
            "ProgramServices",
            [f"{s}:*" for s in MANAGED_SERVICES],
            _account_resources(partition, account),
        ),
        statement("AccountLevel", list(ACCOUNT_LEVEL_ACTIONS), "*"),
        statement(
            "RoleManagement",
            [*ROLE_GRANTING_ACTIONS, *ROLE_UPKEEP_ACTIONS],
            roles,
        ),
        statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            service_linked_roles(partition, account),
        ),
        statement(
            "NoRoleWithoutThisBoundary",
            list(ROLE_GRANTING_ACTIONS),
            "*",
            effect="Deny",
            condition={"StringNotEquals": {"iam:PermissionsBoundary": boundary}},
        ),
        statement(
            "NoBoundaryRemoval",
            ["iam:DeleteRolePermissionsBoundary"],
            "*",
            effect="Deny",
        ),
        statement("NoBoundaryEdit", list(BOUNDARY_EDIT_ACTIONS), boundary, effect="Deny"),
        statement(
            "NoCiAccessEdit",
            ["iam:*"],
            [*protected_roles, oidc_provider_arn(partition, account)],
            effect="Deny",
        ),
        statement("NoStaticCredentials", list(STATIC_CREDENTIAL_ACTIONS), "*", effect="Deny"),
    ]
    return json.dumps({"Version": VERSION, "Statement": sts})

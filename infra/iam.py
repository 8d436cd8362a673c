"""IAM documents built in Python (json), never with ``aws.iam.get_policy_document``: under mocks
that call returns mock data, and the tests must see the real documents."""

from __future__ import annotations

import json
from typing import Any

import pulumi

VERSION = "2012-10-17"


def statement(
    sid: str,
    actions: list[str],
    resources: list[str] | str,
    *,
    effect: str = "Allow",
    condition: dict[str, Any] | None = None,
    principal: Any = None,
) -> dict[str, Any]:
    st: dict[str, Any] = {"Sid": sid, "Effect": effect}
    if principal is not None:
        st["Principal"] = principal
    st["Action"] = sorted(actions)
    st["Resource"] = resources
    if condition:
        st["Condition"] = condition
    return st


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=False)


def assume_role(service: str, *, source_account: str | None = None) -> str:
    st: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        st["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return json.dumps({"Version": VERSION, "Statement": [st]})


# The IAM path of every role the program creates when it runs under a permissions boundary: the CI
# deploy roles may manage and pass only roles under it (infra/ci_access), never the account's other
# roles.
PROGRAM_ROLE_PATH = "/jobapptracker/"


def boundary_transformation(boundary_arn: str) -> pulumi.ResourceTransformation:
    """A stack transformation giving every role created after it this permissions boundary and the
    program's role path (the same SDK-side mechanism as ``tags.register``, so the mocks see it
    too)."""

    def add_boundary(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "aws:iam/role:Role":
            return None
        props = dict(args.props)
        props["permissions_boundary"] = boundary_arn
        props["path"] = PROGRAM_ROLE_PATH
        return pulumi.ResourceTransformationResult(props, args.opts)

    return add_boundary


# AWS managed policies attached by ARN (documented by AWS for these exact purposes); the partition
# comes from aws.get_partition() so the program works outside the aws partition too.
LAMBDA_BASIC = "service-role/AWSLambdaBasicExecutionRole"
LAMBDA_VPC = "service-role/AWSLambdaVPCAccessExecutionRole"
APPRUNNER_ECR = "service-role/AWSAppRunnerServicePolicyForECRAccess"
ECS_TASK_EXECUTION = "service-role/AmazonECSTaskExecutionRolePolicy"


def managed(partition: str, policy: str) -> str:
    """The ARN of an AWS managed policy in ``partition``."""
    return f"arn:{partition}:iam::aws:policy/{policy}"

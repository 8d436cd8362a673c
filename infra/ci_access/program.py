"""The CI access program: GitHub's OIDC provider, the preview role, one deploy role per stack and
the permissions boundary. Role and policy names are fixed, so the workflows and the main stacks
can name them (docs/ci-cd.md)."""

from __future__ import annotations

from functools import partial

import pulumi
import pulumi_aws as aws

from . import documents as docs
from .config import CiAccessConfig

MAX_SESSION_SECONDS = 3600


def _trust(provider_arn: str, subject: str) -> str:
    return docs.github_trust(provider_arn, subject)


def build(cfg: CiAccessConfig) -> dict[str, object]:
    """Create the CI access resources; returns the stack outputs (also exported)."""
    account = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition
    key_arn = f"arn:{partition}:kms:{cfg.region}:{account}:key/{cfg.state_key_id}"
    boundary_arn = docs.boundary_arn(partition, account)
    tags = cfg.tags

    provider = aws.iam.OpenIdConnectProvider(
        "github",
        url=docs.GITHUB_OIDC_URL,
        client_id_lists=[docs.STS_AUDIENCE],
        tags=tags,
    )
    protected = [
        f"arn:{partition}:iam::{account}:role/{docs.preview_role_name()}",
        *(
            f"arn:{partition}:iam::{account}:role/{docs.deploy_role_name(s)}"
            for s in cfg.deploy_stacks
        ),
    ]
    boundary = aws.iam.Policy(
        "permissions-boundary",
        name=docs.BOUNDARY_NAME,
        description="The most a CI deploy role, or any role the program creates, may do",
        policy=docs.boundary_policy(partition, account, boundary_arn, protected),
        tags=tags,
    )

    preview = aws.iam.Role(
        "preview",
        name=docs.preview_role_name(),
        description=f"pulumi preview from pull requests of {cfg.repository}",
        assume_role_policy=provider.arn.apply(
            lambda arn: docs.github_trust(arn, docs.pull_request_subject(cfg.repository))
        ),
        max_session_duration=MAX_SESSION_SECONDS,
        inline_policies=[
            aws.iam.RoleInlinePolicyArgs(
                name="preview", policy=docs.preview_policy(partition, cfg.state_bucket, key_arn)
            )
        ],
        tags=tags,
    )

    deploy_roles: dict[str, aws.iam.Role] = {}
    for stack in cfg.deploy_stacks:
        subject = docs.environment_subject(cfg.repository, stack)
        deploy_roles[stack] = aws.iam.Role(
            f"deploy-{stack}",
            name=docs.deploy_role_name(stack),
            description=f"make deploy of stack {stack} from the GitHub environment {stack}",
            assume_role_policy=provider.arn.apply(partial(_trust, subject=subject)),
            permissions_boundary=boundary.arn,
            max_session_duration=MAX_SESSION_SECONDS,
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(
                    name="deploy",
                    policy=docs.deploy_policy(
                        partition, account, cfg.state_bucket, key_arn, boundary_arn
                    ),
                )
            ],
            tags=tags,
        )

    outputs: dict[str, object] = {
        "oidcProviderArn": provider.arn,
        "permissionsBoundaryArn": boundary.arn,
        "previewRoleArn": preview.arn,
        "deployRoleArns": {s: r.arn for s, r in deploy_roles.items()},
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs

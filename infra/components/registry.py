"""Registry: ECR with scan on push, immutable tags, KMS encryption, a lifecycle policy that keeps
the last N tagged images and expires untagged ones, and the repository policy that lets the Lambda
service pull this stack's images. Lambda needs that policy to create an image function; when it is
missing Lambda tries to add it itself, which only works for a deployer allowed
ecr:SetRepositoryPolicy and leaves a policy outside Pulumi's state:
https://docs.aws.amazon.com/lambda/latest/dg/images-create.html#configuration-images-permissions"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .. import iam
from ..config import RegistryConfig

TYPE = "jobapptracker:registry:Registry"


def lambda_pull_policy(partition: str, region: str, account: str, prefix: str) -> str:
    """Lambda (the service) may read the images, for this account's functions of this stack."""
    functions = f"arn:{partition}:lambda:{region}:{account}:function:{prefix}-*"
    return iam.document(
        iam.statement(
            "LambdaECRImageRetrievalPolicy",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "*",
            principal={"Service": "lambda.amazonaws.com"},
            condition={"StringLike": {"aws:sourceArn": functions}},
        )
    )


def lifecycle_document(keep_tagged: int, untagged_days: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {untagged_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the last {keep_tagged} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_tagged,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


@dataclass(frozen=True)
class RegistryArgs:
    prefix: str  # the repository's name, and the functions allowed to pull from it
    region: str
    account: str
    partition: str
    retention: RegistryConfig


class Registry(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            name,
            name=args.prefix,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            force_delete=False,
            opts=child,
        )
        self.lifecycle = aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=lifecycle_document(
                args.retention.keep_tagged_images, args.retention.untagged_expiry_days
            ),
            opts=child,
        )
        self.pull_policy = aws.ecr.RepositoryPolicy(
            f"{name}-lambda-pull",
            repository=self.repository.name,
            policy=lambda_pull_policy(args.partition, args.region, args.account, args.prefix),
            opts=child,
        )
        self.url = self.repository.repository_url
        self.register_outputs({"repositoryUrl": self.url, "repositoryArn": self.repository.arn})

    def image_uri(self, tag: str) -> pulumi.Output[str]:
        """The image's URI; whatever uses it waits for the pull policy Lambda needs."""
        return pulumi.Output.all(self.url, self.pull_policy.id).apply(lambda a: f"{a[0]}:{tag}")

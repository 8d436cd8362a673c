"""Registry: ECR with scan on push, immutable tags, KMS encryption and a lifecycle policy that keeps
the last N tagged images and expires untagged ones."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from ..config import StackConfig

TYPE = "jobapptracker:registry:Registry"


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


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            name,
            name=cfg.prefix,
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
                cfg.registry.keep_tagged_images, cfg.registry.untagged_expiry_days
            ),
            opts=child,
        )
        self.url = self.repository.repository_url
        self.register_outputs({"repositoryUrl": self.url, "repositoryArn": self.repository.arn})

    def image_uri(self, tag: str) -> pulumi.Output[str]:
        return self.url.apply(lambda url: f"{url}:{tag}")

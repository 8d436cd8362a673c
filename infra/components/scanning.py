"""Scanning: a GuardDuty Malware Protection plan on the uploads bucket with tagging enabled, and its
IAM role with exactly the permissions AWS documents for it
(https://docs.aws.amazon.com/guardduty/latest/ug/malware-protection-s3-iam-policy-prerequisite.html).
The bucket is encrypted with SSE-S3, so the documented KMS statement does not apply."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .. import iam

TYPE = "jobapptracker:scanning:Scanning"
SERVICE = "malware-protection-plan.guardduty.amazonaws.com"
MANAGED_RULE_PREFIX = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
VALIDATION_OBJECT = "malware-protection-resource-validation-object"


def guardduty_role_statements(region: str, account: str, bucket_arn: str) -> list[dict]:
    partition = bucket_arn.split(":")[1]  # arn:<partition>:s3:::<bucket>
    rule_arn = f"arn:{partition}:events:{region}:{account}:rule/{MANAGED_RULE_PREFIX}"
    return [
        iam.statement(
            "AllowManagedRuleToSendS3EventsToGuardDuty",
            ["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets"],
            [rule_arn],
            condition={"StringLike": {"events:ManagedBy": SERVICE}},
        ),
        iam.statement(
            "AllowGuardDutyToMonitorEventBridgeManagedRule",
            ["events:DescribeRule", "events:ListTargetsByRule"],
            [rule_arn],
        ),
        iam.statement(
            "AllowPostScanTag",
            [
                "s3:PutObjectTagging",
                "s3:GetObjectTagging",
                "s3:PutObjectVersionTagging",
                "s3:GetObjectVersionTagging",
            ],
            [f"{bucket_arn}/*"],
        ),
        iam.statement(
            "AllowEnableS3EventBridgeEvents",
            ["s3:PutBucketNotification", "s3:GetBucketNotification"],
            [bucket_arn],
        ),
        iam.statement(
            "AllowPutValidationObject", ["s3:PutObject"], [f"{bucket_arn}/{VALIDATION_OBJECT}"]
        ),
        iam.statement("AllowCheckBucketOwnership", ["s3:ListBucket"], [bucket_arn]),
        iam.statement(
            "AllowMalwareScan", ["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket_arn}/*"]
        ),
    ]


@dataclass(frozen=True)
class ScanningArgs:
    prefix: str
    region: str
    account: str
    bucket_name: pulumi.Input[str]  # the bucket the plan protects
    bucket_arn: pulumi.Output[str]


class Scanning(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ScanningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-guardduty-role",
            description=f"{args.prefix}: GuardDuty Malware Protection for S3 on the uploads bucket",
            assume_role_policy=iam.assume_role(SERVICE),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-guardduty-policy",
            role=self.role.id,
            policy=args.bucket_arn.apply(
                lambda arn: iam.document(*guardduty_role_statements(args.region, args.account, arn))
            ),
            opts=child,
        )
        self.plan = aws.guardduty.MalwareProtectionPlan(
            f"{name}-plan",
            role=self.role.arn,
            protected_resource={"s3_bucket": {"bucket_name": args.bucket_name}},
            actions=[{"taggings": [{"status": "ENABLED"}]}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.register_outputs({"planArn": self.plan.arn, "roleArn": self.role.arn})

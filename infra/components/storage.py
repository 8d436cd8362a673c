"""Storage: the uploads bucket. All four public-access blocks, SSE, versioning, TLS only, reads
gated on GuardDuty's scan tag, the scan tag writable by GuardDuty alone, CORS for the frontend,
and a lifecycle for incomplete multipart uploads and noncurrent versions."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from ..config import StackConfig

TYPE = "jobapptracker:storage:Storage"
SCAN_TAG = "GuardDutyMalwareScanStatus"
CLEAN = "NO_THREATS_FOUND"
READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
TAG_WRITE_ACTIONS = [
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
]


def bucket_policy(bucket_arn: str, guardduty_role_arn: str) -> dict:
    """The uploads bucket's policy. Pure, so the tests evaluate the very document AWS receives."""
    objects = f"{bucket_arn}/*"
    not_guardduty = {"ArnNotEquals": {"aws:PrincipalArn": guardduty_role_arn}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                # Without the GuardDuty exemption every scan would end ACCESS_DENIED.
                "Sid": "ReadsNeedCleanScan",
                "Effect": "Deny",
                "Principal": "*",
                "Action": READ_ACTIONS,
                "Resource": objects,
                "Condition": {
                    "StringNotEquals": {f"s3:ExistingObjectTag/{SCAN_TAG}": CLEAN},
                    **not_guardduty,
                },
            },
            {
                "Sid": "OnlyGuardDutyTagsObjects",
                "Effect": "Deny",
                "Principal": "*",
                "Action": TAG_WRITE_ACTIONS,
                "Resource": objects,
                "Condition": not_guardduty,
            },
            {
                # An upload must not arrive pre-tagged as scanned (x-amz-tagging / POST tagging).
                "Sid": "NoScanTagOnUpload",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {
                    "ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": [SCAN_TAG]},
                    **not_guardduty,
                },
            },
        ],
    }


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, force_destroy=False, opts=child)
        bucket_child = pulumi.ResourceOptions(parent=self)
        self.public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=bucket_child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=bucket_child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
                    "bucket_key_enabled": True,
                }
            ],
            opts=bucket_child,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=bucket_child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": cfg.uploads.abort_multipart_days
                    },
                },
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": cfg.uploads.noncurrent_version_days
                    },
                    "expiration": {"expired_object_delete_marker": True},
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[
                {
                    "allowed_origins": [cfg.frontend_url],
                    "allowed_methods": ["GET", "HEAD", "POST"],
                    "allowed_headers": ["content-type", "content-md5"],
                    "expose_headers": ["ETag"],
                    "max_age_seconds": 3000,
                }
            ],
            opts=bucket_child,
        )
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.policy: aws.s3.BucketPolicy | None = None
        self.register_outputs({"bucket": self.name, "arn": self.arn})

    def gate_reads(self, guardduty_role: aws.iam.Role) -> aws.s3.BucketPolicy:
        """The bucket policy; it needs the GuardDuty plan's role, which the scanning component
        owns."""
        self.policy = aws.s3.BucketPolicy(
            f"{self._name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, guardduty_role.arn).apply(
                lambda a: json.dumps(bucket_policy(a[0], a[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access]),
        )
        return self.policy

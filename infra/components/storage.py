"""Storage: the uploads bucket. All four public-access blocks, SSE, versioning, TLS only, reads
gated on GuardDuty's scan tag, the scan tag writable by GuardDuty alone, CORS for the frontend,
and a lifecycle for incomplete multipart uploads and noncurrent versions.

S3 server access logging records every request on the uploads bucket into a separate logs bucket
(SSE-S3, as the logging service requires; no public access; its own lifecycle), written by the
logging service principal for this bucket and account only:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..config import UploadsConfig

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


ACCESS_LOG_PREFIX = "uploads/"
LOGGING_SERVICE = "logging.s3.amazonaws.com"


def access_log_bucket_policy(logs_arn: str, source_bucket_arn: str, account: str) -> dict:
    """The logs bucket's policy: TLS only, and only S3's logging service may write, for the
    uploads bucket of this account, under its prefix."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [logs_arn, f"{logs_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": LOGGING_SERVICE},
                "Action": "s3:PutObject",
                "Resource": f"{logs_arn}/{ACCESS_LOG_PREFIX}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
        ],
    }


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


@dataclass(frozen=True)
class StorageArgs:
    uploads: UploadsConfig  # the lifecycle's ages
    frontend_url: str  # the one origin CORS admits
    account: str  # S3's logging service may write the access logs for this account only
    # The GuardDuty plan's role, exempt from the scan-tag gate. The scanning component creates it
    # from this bucket, so the program hands over a deferred output it resolves afterwards.
    scanner_role_arn: pulumi.Input[str]


class Storage(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name = name
        uploads = args.uploads
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
                        "days_after_initiation": uploads.abort_multipart_days
                    },
                },
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": uploads.noncurrent_version_days
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
                    "allowed_origins": [args.frontend_url],
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
        self._access_logs(uploads.access_log_days, args.account)
        self.policy = self._gate_reads(args.scanner_role_arn)
        self.register_outputs({"bucket": self.name, "arn": self.arn})

    def _access_logs(self, retention_days: int, account: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        logs = aws.s3.Bucket("access-logs", force_destroy=False, opts=child)
        self.logs_bucket = logs
        public = aws.s3.BucketPublicAccessBlock(
            "access-logs-public-access",
            bucket=logs.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            "access-logs-ownership",
            bucket=logs.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            "access-logs-sse",
            bucket=logs.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            "access-logs-versioning",
            bucket=logs.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            "access-logs-lifecycle",
            bucket=logs.id,
            rules=[
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        policy = aws.s3.BucketPolicy(
            "access-logs-policy",
            bucket=logs.id,
            policy=pulumi.Output.all(logs.arn, self.bucket.arn).apply(
                lambda a: json.dumps(access_log_bucket_policy(a[0], a[1], account))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public]),
        )
        aws.s3.BucketLogging(
            f"{self._name}-access-logging",
            bucket=self.bucket.id,
            target_bucket=logs.id,
            target_prefix=ACCESS_LOG_PREFIX,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    def _gate_reads(self, scanner_role_arn: pulumi.Input[str]) -> aws.s3.BucketPolicy:
        """The bucket policy: TLS only, reads gated on the scan tag, the tag GuardDuty's alone."""
        return aws.s3.BucketPolicy(
            f"{self._name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, scanner_role_arn).apply(
                lambda a: json.dumps(bucket_policy(a[0], a[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access]),
        )

"""Uploads bucket and GuardDuty scanning; the EventBridge pattern evaluated on real-shaped
events."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from infra.components.scanning import SERVICE

from .conftest import doc
from .event_pattern import matches

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "guardduty"


def test_all_four_public_access_blocks(dev):
    pab = dev.one(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "uploads-public-access"
    )["props"]
    assert all(
        pab[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )


def test_bucket_default_encryption(dev):
    """SSE-S3 on both buckets: the access-log bucket must use it for S3 to deliver logs."""
    sse = dev.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert {r["name"] for r in sse} == {"uploads-sse", "access-logs-sse"}
    for r in sse:
        assert r["props"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == (
            "AES256"
        )


def test_bucket_versioning_enabled(dev):
    v = dev.one("aws:s3/bucketVersioning:BucketVersioning", "uploads-versioning")["props"]
    assert v["versioningConfiguration"]["status"] == "Enabled"


def test_bucket_policy_denies_plain_http(dev):
    policy = doc(dev.one("aws:s3/bucketPolicy:BucketPolicy", "uploads-policy")["props"]["policy"])
    tls = [s for s in policy["Statement"] if s["Sid"] == "TlsOnly"][0]
    assert tls["Effect"] == "Deny" and tls["Action"] == "s3:*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cors_allows_only_the_frontend_origin(dev):
    rules = dev.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")["props"]["corsRules"]
    assert [r["allowedOrigins"] for r in rules] == [["https://dev.jobapptracker.example.com"]]


def test_lifecycle_aborts_multipart_and_expires_noncurrent_versions(dev):
    rules = dev.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "uploads-lifecycle"
    )["props"]["rules"]
    assert any(r.get("abortIncompleteMultipartUpload") for r in rules)
    assert any(r.get("noncurrentVersionExpiration") for r in rules)


def test_malware_plan_protects_the_uploads_bucket_with_tagging(dev):
    plan = dev.one("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")["props"]
    bucket = dev.one("aws:s3/bucket:Bucket", "uploads")["props"]["bucket"]
    assert plan["protectedResource"]["s3Bucket"]["bucketName"] == bucket
    assert plan["actions"] == [{"taggings": [{"status": "ENABLED"}]}]


def test_guardduty_role_trusts_only_the_malware_protection_service(dev):
    role = dev.one("aws:iam/role:Role", "scanning-guardduty-role")["props"]
    trust = doc(role["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": SERVICE}]


def test_guardduty_role_has_exactly_the_documented_permissions(dev):
    policy = doc(
        dev.one("aws:iam/rolePolicy:RolePolicy", "scanning-guardduty-policy")["props"]["policy"]
    )
    bucket = dev.one("aws:s3/bucket:Bucket", "uploads")["props"]["arn"]
    rule = (
        "arn:aws:events:eu-west-1:123456789012:rule/"
        "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
    )
    got = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["Statement"]}
    assert got == {
        "AllowManagedRuleToSendS3EventsToGuardDuty": (
            ["events:DeleteRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets"],
            [rule],
        ),
        "AllowGuardDutyToMonitorEventBridgeManagedRule": (
            ["events:DescribeRule", "events:ListTargetsByRule"],
            [rule],
        ),
        "AllowPostScanTag": (
            [
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging",
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
            ],
            [f"{bucket}/*"],
        ),
        "AllowEnableS3EventBridgeEvents": (
            ["s3:GetBucketNotification", "s3:PutBucketNotification"],
            [bucket],
        ),
        "AllowPutValidationObject": (
            ["s3:PutObject"],
            [f"{bucket}/malware-protection-resource-validation-object"],
        ),
        "AllowCheckBucketOwnership": (["s3:ListBucket"], [bucket]),
        "AllowMalwareScan": (["s3:GetObject", "s3:GetObjectVersion"], [f"{bucket}/*"]),
    }


# ----- the scan-result rule, evaluated ----------------------------------------------------------


@pytest.fixture(scope="module")
def pattern_and_bucket(dev):
    rule = dev.one("aws:cloudwatch/eventRule:EventRule", "jobs-scan-results")
    return json.loads(rule["props"]["eventPattern"]), dev.one("aws:s3/bucket:Bucket", "uploads")[
        "props"
    ]["bucket"]


def _event(name: str, bucket: str | None) -> dict:
    event = json.loads((FIXTURES / name).read_text())
    if bucket:
        event["detail"]["s3ObjectDetails"]["bucketName"] = bucket
    return event


@pytest.mark.parametrize(
    "fixture", ["scan_result_no_threats.json", "scan_result_threats_found.json"]
)
def test_scan_result_rule_matches_this_buckets_results(pattern_and_bucket, fixture):
    pattern, bucket = pattern_and_bucket
    assert matches(pattern, _event(fixture, bucket))


def test_scan_result_rule_ignores_other_buckets(pattern_and_bucket):
    pattern, _ = pattern_and_bucket
    assert not matches(pattern, _event("scan_result_threats_found.json", "someone-elses-bucket"))


def test_scan_result_rule_ignores_other_guardduty_events(pattern_and_bucket):
    pattern, bucket = pattern_and_bucket
    event = _event("scan_result_threats_found.json", bucket)
    other = copy.deepcopy(event)
    other["detail-type"] = "GuardDuty Malware Protection Post Scan Action Failed"
    assert not matches(pattern, other)


def test_scan_result_rule_targets_the_scan_result_lambda_with_a_dlq(dev):
    target = dev.one("aws:cloudwatch/eventTarget:EventTarget", "jobs-scan-results-target")
    fn = dev.one("aws:lambda/function:Function", "jobs-scan-result")
    dlq = dev.one("aws:sqs/queue:Queue", "jobs-events-dlq")
    assert target["props"]["arn"] == fn["props"]["arn"]
    assert target["props"]["deadLetterConfig"]["arn"] == dlq["props"]["arn"]

"""The uploads bucket's policy, evaluated (not eyeballed) for the requests that matter."""

from __future__ import annotations

import pytest

from infra.components.storage import CLEAN, SCAN_TAG

from .conftest import doc
from .iam_eval import Request, evaluate

API_ROLE = "arn:aws:iam::123456789012:role/api-instance-role"


@pytest.fixture(scope="module")
def setup(dev):
    bucket = dev.one("aws:s3/bucket:Bucket", "uploads")
    policy = doc(dev.one("aws:s3/bucketPolicy:BucketPolicy", "uploads-policy")["props"]["policy"])
    gd_role = dev.one("aws:iam/role:Role", "scanning-guardduty-role")["props"]["arn"]
    api_role = dev.one("aws:iam/role:Role", "api-instance-role")["props"]["arn"]
    api_identity = doc(
        dev.one("aws:iam/rolePolicy:RolePolicy", "api-instance-policy")["props"]["policy"]
    )
    return bucket["props"]["arn"], policy, gd_role, api_role, api_identity


def _read(principal, bucket_arn, tag=None, *, action="s3:GetObject", secure=True):
    ctx = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true" if secure else "false"}
    if tag is not None:
        ctx[f"s3:ExistingObjectTag/{SCAN_TAG}"] = tag
    return Request(principal, action, f"{bucket_arn}/attachments/a/resume.pdf", ctx)


def _guardduty_identity(dev, gd_role):
    return doc(
        dev.one("aws:iam/rolePolicy:RolePolicy", "scanning-guardduty-policy")["props"]["policy"]
    )


def test_guardduty_role_reads_an_untagged_object(dev, setup):
    bucket_arn, policy, gd_role, _, _ = setup
    req = _read(gd_role, bucket_arn)
    assert evaluate(req, policy, _guardduty_identity(dev, gd_role)) == "Allow"


def test_guardduty_role_reads_an_untagged_object_version(dev, setup):
    bucket_arn, policy, gd_role, _, _ = setup
    req = _read(gd_role, bucket_arn, action="s3:GetObjectVersion")
    assert evaluate(req, policy, _guardduty_identity(dev, gd_role)) == "Allow"


def test_api_role_reading_an_untagged_object_is_denied(setup):
    bucket_arn, policy, _, api_role, identity = setup
    assert evaluate(_read(api_role, bucket_arn), policy, identity) == "Deny"


def test_api_role_reading_an_infected_object_is_denied(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, "THREATS_FOUND")
    assert evaluate(req, policy, identity) == "Deny"


def test_api_role_reading_a_failed_scan_object_version_is_denied(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, "FAILED", action="s3:GetObjectVersion")
    assert evaluate(req, policy, identity) == "Deny"


def test_api_role_reads_a_clean_object(setup):
    bucket_arn, policy, _, api_role, identity = setup
    assert evaluate(_read(api_role, bucket_arn, CLEAN), policy, identity) == "Allow"


def test_api_role_reads_a_clean_object_version(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, CLEAN, action="s3:GetObjectVersion")
    assert evaluate(req, policy, identity) == "Allow"


@pytest.mark.parametrize("action", ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"])
def test_api_role_writing_the_scan_tag_is_denied(setup, action):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, action=action)
    req.context["s3:RequestObjectTagKeys"] = [SCAN_TAG]
    req.context[f"s3:RequestObjectTag/{SCAN_TAG}"] = CLEAN
    assert evaluate(req, policy, identity) == "Deny"


def test_api_role_uploading_an_object_pretagged_clean_is_denied(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, action="s3:PutObject")
    req.context["s3:RequestObjectTagKeys"] = [SCAN_TAG]
    assert evaluate(req, policy, identity) == "Deny"


def test_api_role_uploads_an_untagged_object(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, action="s3:PutObject")
    assert evaluate(req, policy, identity) == "Allow"


def test_guardduty_role_writes_the_scan_tag(dev, setup):
    bucket_arn, policy, gd_role, _, _ = setup
    req = _read(gd_role, bucket_arn, action="s3:PutObjectTagging")
    req.context["s3:RequestObjectTagKeys"] = [SCAN_TAG]
    assert evaluate(req, policy, _guardduty_identity(dev, gd_role)) == "Allow"


def test_requests_without_tls_are_denied_even_for_clean_objects(setup):
    bucket_arn, policy, _, api_role, identity = setup
    req = _read(api_role, bucket_arn, CLEAN, secure=False)
    assert evaluate(req, policy, identity) == "Deny"


def test_other_principals_get_nothing_from_the_bucket_policy(setup):
    bucket_arn, policy, _, _, _ = setup
    stranger = "arn:aws:iam::999999999999:role/someone"
    assert evaluate(_read(stranger, bucket_arn, CLEAN), policy) == "ImplicitDeny"


def test_the_policy_exempts_exactly_the_plan_role(dev, setup):
    _, policy, _, _, _ = setup
    plan_role = dev.one("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")["props"][
        "role"
    ]
    exempted = {
        st["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        for st in policy["Statement"]
        if "ArnNotEquals" in st.get("Condition", {})
    }
    assert exempted == {plan_role}

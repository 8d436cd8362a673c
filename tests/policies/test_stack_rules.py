"""Cross-resource rules: each join with its parts missing or mismatched, joins by
propertyDependencies
and by ids/ARNs/names, unknown join keys, and the image-less first phase."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policies.stacks import (
    ACCOUNT,
    DEV,
    bucket_policy_doc,
    drop,
    find,
    good_stack,
    outcome_of,
    violations,
)


def _rules(entries, **kw):
    return sorted({f.rule for f in violations(entries, DEV, **kw)})


def _without_deps(entries):
    for e in entries:
        e["propertyDependencies"] = {}
    return entries


# ----- S3 -----------------------------------------------------------------------------------


def test_bucket_without_public_access_block(stack):
    assert "s3-public-access-block" in _rules(drop(stack, "uploads-public-access"))


@pytest.mark.parametrize(
    "flag", ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]
)
def test_each_public_access_flag(stack, flag):
    find(stack, "uploads-public-access")["props"][flag] = False
    found = violations(stack, DEV, rule="s3-public-access-block")
    assert len(found) == 1 and flag in found[0].message and found[0].resource == "uploads"


def test_public_access_block_of_another_bucket_does_not_count(stack):
    pab = find(stack, "uploads-public-access")
    pab["props"]["bucket"] = "some-other-bucket"
    pab["propertyDependencies"] = {}
    assert "s3-public-access-block" in _rules(stack)


def test_joins_fall_back_to_ids_and_names(stack):
    stack = _without_deps(stack)
    assert violations(stack, DEV) == []
    find(stack, "uploads-versioning")["props"]["bucket"] = "jobapptracker-prod-uploads"
    assert _rules(stack) == ["s3-versioning"]


def test_join_by_mock_id_when_bucket_has_no_name(stack):
    stack = _without_deps(stack)
    bucket = find(stack, "uploads")
    bucket["id"] = "uploads-4f2a"
    del bucket["props"]["bucket"]
    for name in ("uploads-public-access", "uploads-sse", "uploads-versioning"):
        find(stack, name)["props"]["bucket"] = "uploads-4f2a"
    assert "s3-public-access-block" not in _rules(stack) and "s3-versioning" not in _rules(stack)


def test_unknown_join_key_without_dependencies_defers(stack):
    pab = find(stack, "uploads-public-access")
    pab["props"]["bucket"] = UNKNOWN_STRING_VALUE
    pab["propertyDependencies"] = {}
    found = violations(stack, DEV, rule="s3-public-access-block", level=None)
    assert [(f.level, f.unknown) for f in found] == [("advisory", True)]


def test_unknown_join_key_with_dependencies_still_joins(stack):
    find(stack, "uploads-public-access")["props"]["bucket"] = UNKNOWN_STRING_VALUE
    assert violations(stack, DEV, rule="s3-public-access-block", level=None) == []


def test_bucket_without_encryption(stack):
    assert "s3-server-side-encryption" in _rules(drop(stack, "uploads-sse"))


def test_bucket_with_unsupported_encryption(stack):
    sse = find(stack, "uploads-sse")
    sse["props"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] = "none"
    assert "s3-server-side-encryption" in _rules(stack)


def test_bucket_without_versioning_or_suspended(stack):
    assert "s3-versioning" in _rules(drop(stack, "uploads-versioning"))
    find(stack, "uploads-versioning")["props"]["versioningConfiguration"]["status"] = "Suspended"
    assert "s3-versioning" in _rules(stack)


def _set_policy(stack, doc):
    find(stack, "uploads-policy")["props"]["policy"] = json.dumps(doc)


def _doc(stack):
    return json.loads(find(stack, "uploads-policy")["props"]["policy"])


def test_no_bucket_policy_fails_tls_and_gates(stack):
    rules = _rules(drop(stack, "uploads-policy"))
    assert {"s3-tls-only", "s3-uploads-read-gate", "s3-uploads-scan-tag-writes"} <= set(rules)


def test_tls_statement_must_deny_insecure_transport(stack):
    doc = _doc(stack)
    doc["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    _set_policy(stack, doc)
    assert _rules(stack) == ["s3-tls-only"]


def test_tls_statement_must_cover_objects(stack):
    doc = _doc(stack)
    doc["Statement"][0]["Resource"] = "arn:aws:s3:::jobapptracker-dev-uploads"
    _set_policy(stack, doc)
    assert _rules(stack) == ["s3-tls-only"]


def test_read_gate_missing_version_action(stack):
    doc = _doc(stack)
    doc["Statement"][1]["Action"] = "s3:GetObject"
    _set_policy(stack, doc)
    found = violations(stack, DEV, rule="s3-uploads-read-gate")
    assert len(found) == 1 and "s3:GetObjectVersion" in found[0].message


def test_read_gate_without_guardduty_exemption(stack):
    doc = _doc(stack)
    del doc["Statement"][1]["Condition"]["ArnNotEquals"]
    _set_policy(stack, doc)
    found = violations(stack, DEV, rule="s3-uploads-read-gate")
    assert found and "ACCESS_DENIED" in found[0].message


def test_read_gate_exempting_the_wrong_role(stack):
    _set_policy(
        stack,
        bucket_policy_doc(
            "arn:aws:s3:::jobapptracker-dev-uploads",
            f"arn:aws:iam::{ACCOUNT}:role/api-instance-role",
        ),
    )
    found = violations(stack, DEV)
    assert {f.rule for f in found} == {"s3-uploads-read-gate", "s3-uploads-scan-tag-writes"}
    assert any("also exempts" in f.message for f in found)


def test_read_gate_on_the_wrong_tag_value(stack):
    doc = _doc(stack)
    doc["Statement"][1]["Condition"]["StringNotEquals"] = {
        "s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "THREATS_FOUND"
    }
    _set_policy(stack, doc)
    assert _rules(stack) == ["s3-uploads-read-gate"]


def test_tag_writes_open_to_everyone(stack):
    doc = _doc(stack)
    del doc["Statement"][2]
    _set_policy(stack, doc)
    found = violations(stack, DEV, rule="s3-uploads-scan-tag-writes")
    assert {
        ("PutObjectTagging" in f.message) or ("PutObjectVersionTagging" in f.message) for f in found
    } == {True}
    assert len(found) == 2


def test_uploads_bucket_without_malware_plan(stack):
    rules = _rules(drop(stack, "uploads-scan"))
    assert "s3-uploads-malware-scan" in rules
    assert "s3-uploads-read-gate" in rules  # nothing to exempt any more


def test_malware_plan_on_another_bucket(stack):
    plan = find(stack, "uploads-scan")
    plan["props"]["protectedResource"]["s3Bucket"]["bucketName"] = "someone-elses-bucket"
    plan["propertyDependencies"].pop("protectedResource")
    assert "s3-uploads-malware-scan" in _rules(stack)


def test_malware_plan_without_tagging(stack):
    find(stack, "uploads-scan")["props"]["actions"] = [{"taggings": [{"status": "DISABLED"}]}]
    found = violations(stack, DEV, rule="s3-uploads-malware-scan")
    assert found and "tag" in found[0].message


def test_uploads_rules_are_not_applicable_without_an_uploads_bucket():
    stack = [e for e in good_stack() if not e["name"].startswith("uploads")]
    o = outcome_of(stack, DEV)
    assert {"s3-uploads-malware-scan", "s3-uploads-read-gate", "s3-uploads-scan-tag-writes"} <= set(
        o.not_applicable
    )


# ----- RDS, ECR --------------------------------------------------------------------------------


def test_instance_without_parameter_group(stack):
    db = find(stack, "db")
    del db["props"]["parameterGroupName"]
    db["propertyDependencies"] = {}
    found = violations(stack, DEV, rule="rds-force-ssl")
    assert found and "default parameter group" in found[0].message


def test_parameter_group_missing_from_the_stack(stack):
    stack = drop(stack, "db-params")
    find(stack, "db")["propertyDependencies"] = {}
    found = violations(stack, DEV, rule="rds-force-ssl")
    assert found and "not defined in this stack" in found[0].message


@pytest.mark.parametrize("value", ["0", None])
def test_parameter_group_without_force_ssl(stack, value):
    pg = find(stack, "db-params")
    pg["props"]["parameters"] = [
        p for p in pg["props"]["parameters"] if p["name"] != "rds.force_ssl"
    ]
    if value is not None:
        pg["props"]["parameters"].append({"name": "rds.force_ssl", "value": value})
    found = violations(stack, DEV, rule="rds-force-ssl")
    assert found and "rds.force_ssl" in found[0].message


def test_instance_joined_to_the_wrong_group(stack):
    stack.append(
        {
            **find(stack, "db-params"),
            "name": "other-params",
            "urn": find(stack, "db-params")["urn"].replace("::db-params", "::other-params"),
            "props": {"name": "other", "family": "postgres17", "parameters": []},
        }
    )
    db = find(stack, "db")
    db["props"]["parameterGroupName"] = "other"
    db["propertyDependencies"] = {}
    assert "rds-force-ssl" in _rules(stack)


def test_repository_without_or_with_empty_lifecycle(stack):
    assert "ecr-lifecycle-policy" in _rules(drop(stack, "registry-lifecycle"))
    find(stack, "registry-lifecycle")["props"]["policy"] = json.dumps({"rules": []})
    assert "ecr-lifecycle-policy" in _rules(stack)


def test_lifecycle_of_another_repository(stack):
    lp = find(stack, "registry-lifecycle")
    lp["props"]["repository"] = "other-repo"
    lp["propertyDependencies"] = {}
    assert "ecr-lifecycle-policy" in _rules(stack)


# ----- service, Lambda, EventBridge ---------------------------------------------------------------


def test_service_injected_with_migrator_secret(stack):
    svc = find(stack, "api")
    cfg = svc["props"]["sourceConfiguration"]["imageRepository"]["imageConfiguration"]
    cfg["runtimeEnvironmentSecrets"]["DB_MIGRATOR_PASSWORD"] = find(stack, "migrator-db")["props"][
        "arn"
    ]
    svc["propertyDependencies"]["sourceConfiguration"].append(find(stack, "migrator-db")["urn"])
    found = violations(stack, DEV, rule="service-no-migrator-or-jobs-secret")
    assert len(found) >= 3 and all(f.resource == "api" for f in found)


def test_service_secret_reference_renamed_still_caught_by_arn(stack):
    cfg = find(stack, "api")["props"]["sourceConfiguration"]["imageRepository"][
        "imageConfiguration"
    ]
    cfg["runtimeEnvironmentSecrets"]["DB_PASSWORD_2"] = find(stack, "jobs-db")["props"]["arn"]
    found = violations(stack, DEV, rule="service-no-migrator-or-jobs-secret")
    assert found and "jobs" in found[0].message


def test_service_role_may_read_jobs_secret(stack):
    rp = find(stack, "api-instance-secrets")
    doc = json.loads(rp["props"]["policy"])
    doc["Statement"][0]["Resource"].append(find(stack, "jobs-db")["props"]["arn"])
    rp["props"]["policy"] = json.dumps(doc)
    found = violations(stack, DEV, rule="service-no-migrator-or-jobs-secret")
    assert found and "may read" in found[0].message


def test_service_role_with_wildcard_secret_access(stack):
    rp = find(stack, "api-instance-secrets")
    rp["propertyDependencies"] = {}
    doc = json.loads(rp["props"]["policy"])
    doc["Statement"][0]["Resource"] = (
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jobapptracker/dev/*"
    )
    rp["props"]["policy"] = json.dumps(doc)
    assert "service-no-migrator-or-jobs-secret" in _rules(_without_deps(stack))


def test_async_function_without_on_failure_destination(stack):
    found = violations(drop(stack, "maintenance-async"), DEV, rule="lambda-async-on-failure")
    assert [f.resource for f in found] == ["maintenance"] and "schedule" in found[0].message


def test_invoke_config_for_another_function(stack):
    cfg = find(stack, "scan-result-async")
    cfg["props"]["functionName"] = "jobapptracker-dev-maintenance"
    cfg["propertyDependencies"] = {}
    found = violations(stack, DEV, rule="lambda-async-on-failure")
    assert [f.resource for f in found] == ["scan-result"]


def test_invoke_config_without_destination(stack):
    del find(stack, "scan-result-async")["props"]["destinationConfig"]
    assert "lambda-async-on-failure" in _rules(stack)


def test_missing_scan_result_rule(stack):
    found = violations(
        drop(stack, "scan-results", "scan-results-target"), DEV, rule="eventbridge-scan-result-rule"
    )
    assert found and found[0].resource == "(stack)"


def test_scan_rule_targeting_the_wrong_function(stack):
    target = find(stack, "scan-results-target")
    target["props"]["arn"] = find(stack, "maintenance")["props"]["arn"]
    target["propertyDependencies"]["arn"] = [find(stack, "maintenance")["urn"]]
    found = violations(stack, DEV, rule="eventbridge-scan-result-rule")
    assert found and "does not target the scan-result Lambda" in found[0].message


def test_scan_rule_without_target(stack):
    assert "eventbridge-scan-result-rule" in _rules(drop(stack, "scan-results-target"))


def test_scan_rule_for_every_bucket_or_another_bucket(stack):
    rule = find(stack, "scan-results")
    pattern = json.loads(rule["props"]["eventPattern"])
    del pattern["detail"]
    rule["props"]["eventPattern"] = json.dumps(pattern)
    assert "eventbridge-scan-result-rule" in _rules(stack)
    pattern["detail"] = {"s3ObjectDetails": {"bucketName": ["elsewhere"]}}
    rule["props"]["eventPattern"] = json.dumps(pattern)
    assert "eventbridge-scan-result-rule" in _rules(stack)


def test_lambda_target_without_dlq_is_advisory(stack):
    del find(stack, "scan-results-target")["props"]["deadLetterConfig"]
    found = violations(stack, DEV, rule="eventbridge-lambda-target-dlq", level=None)
    assert [f.level for f in found] == ["advisory"]


def test_image_less_phase_reports_image_bound_stack_rules_not_applicable(bootstrap_stack):
    o = outcome_of(bootstrap_stack, DEV)
    assert not [f for f in o.findings if f.level == "mandatory"]
    for rule in (
        "eventbridge-scan-result-rule",
        "lambda-async-on-failure",
        "service-no-migrator-or-jobs-secret",
    ):
        assert rule in o.not_applicable and rule not in o.evaluated
        assert "image-less" in o.not_applicable[rule][0]


def test_secret_without_rotation_is_advisory(stack):
    found = violations(stack, DEV, rule="secrets-rotation", level=None)
    assert found and {f.level for f in found} == {"advisory"}

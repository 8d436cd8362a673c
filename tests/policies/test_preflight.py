"""Preflight rules: each fails on an input AWS would reject and passes on a good one; the mapping
is checked against botocore's models; the done-when resources file fails with the three findings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.apimap import AUTONAMED, CALLS
from policies.awsapi import input_shape
from tests.policies.stacks import ACCOUNT, FIXTURES, REGION, TAGS, good_stack, res, violations

ROOT = Path(__file__).resolve().parents[2]

PREFLIGHT_BAD = FIXTURES / "preflight_bad.json"


def _rule(entries, rule, level="mandatory", config=None):
    return violations(entries, config, rule=rule, level=level)


# ----- the done-when command -------------------------------------------------------------------


def test_done_when_resources_file_fails_with_a_preflight_finding_per_resource():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policies.check",
            "--resources",
            str(PREFLIGHT_BAD),
            "--environment",
            "prod",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[2:3] == ["mandatory"]]
    found = {(row[0], row[1]) for row in rows}
    assert found == {
        ("preflight-security-group-text", "connector-sg"),
        ("preflight-api-constraints", "api-instance-role"),
        ("preflight-alarm-topic-key", "rds-cpu"),
    }, proc.stdout
    assert "is 70 characters; the maximum is 64" in proc.stdout
    assert "alias/aws/sns" in proc.stdout and 'contains "\'"' in proc.stdout


def test_done_when_fixture_carries_the_required_tags():
    entries = json.loads(PREFLIGHT_BAD.read_text())
    assert _rule(entries, "required-tags") == []


# ----- service models --------------------------------------------------------------------------


def test_every_mapped_parameter_exists_in_the_botocore_model():
    for type_, calls in CALLS.items():
        for call in calls:
            members = input_shape(call.service, call.operation).members
            assert set(call.params) <= set(members), (type_, call.operation)
    for type_, prop in AUTONAMED.items():
        assert type_ in CALLS, type_
        assert any(src == prop for call in CALLS[type_] for src in call.params.values()), (
            type_,
            prop,
        )


def _one(type_, name, props):
    return [res(type_, name, {**props, "tags": TAGS})]


@pytest.mark.parametrize(
    ("type_", "props", "expected"),
    [
        ("aws:iam/role:Role", {"name": "r" * 65}, "RoleName"),
        ("aws:iam/role:Role", {"name": "has space"}, "does not match the pattern"),
        ("aws:iam/role:Role", {"name": "ok", "maxSessionDuration": 60}, "minimum is 3600"),
        ("aws:iam/rolePolicy:RolePolicy", {"name": "p" * 129, "role": "r"}, "PolicyName"),
        ("aws:lambda/function:Function", {"name": "fn", "memorySize": 64}, "MemorySize"),
        ("aws:lambda/function:Function", {"name": "my fn"}, "FunctionName"),
        ("aws:lambda/function:Function", {"name": "fn", "timeout": 5401}, "Timeout"),
        ("aws:lambda/function:Function", {"name": "fn", "packageType": "Docker"}, "PackageType"),
        ("aws:ecr/repository:Repository", {"name": "JobAppTracker"}, "repositoryName"),
        ("aws:ecr/repository:Repository", {"name": "x", "imageTagMutability": "NO"}, "one of"),
        ("aws:cloudwatch/eventRule:EventRule", {"name": "e" * 65}, "Name"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", {"name": "a", "statistic": "Avg"}, "Statistic"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", {"name": "a" * 256}, "AlarmName"),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/x", "retentionInDays": 45}, "45"),
        ("aws:secretsmanager/secret:Secret", {"name": "a b"}, "not allowed"),
        ("aws:secretsmanager/secret:Secret", {"name": "s", "recoveryWindowInDays": 3}, "minimum"),
        ("aws:sqs/queue:Queue", {"name": "q" * 81}, "maximum is 80"),
        ("aws:sqs/queue:Queue", {"name": "q", "messageRetentionSeconds": 30}, "minimum is 60"),
        ("aws:sns/topic:Topic", {"name": "alarms.prod"}, "not allowed"),
        ("aws:rds/instance:Instance", {"identifier": "1db"}, "DBInstanceIdentifier"),
        ("aws:rds/instance:Instance", {"identifier": "db--x"}, "DBInstanceIdentifier"),
        ("aws:rds/instance:Instance", {"identifier": "db", "dbName": "job-app"}, "DBName"),
        ("aws:rds/parameterGroup:ParameterGroup", {"name": "pg-"}, "DBParameterGroupName"),
        ("aws:s3/bucket:Bucket", {"bucket": "Uploads"}, "not allowed"),
        ("aws:kms/key:Key", {"deletionWindowInDays": 3}, "PendingWindowInDays"),
        ("aws:lb/loadBalancer:LoadBalancer", {"name": "a" * 33}, "maximum is 32"),
        ("aws:ecs/service:Service", {"name": "api.v2"}, "not allowed"),
        ("aws:appautoscaling/policy:Policy", {"name": "p", "policyType": "Target"}, "PolicyType"),
        (
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            {"functionName": "fn", "maximumRetryAttempts": 3},
            "MaximumRetryAttempts",
        ),
    ],
)
def test_api_constraint_violations(type_, props, expected):
    found = _rule(_one(type_, "subject", props), "preflight-api-constraints")
    assert found and any(expected in f.message for f in found), [f.message for f in found]
    assert all(f.resource == "subject" for f in found)


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        ("aws:iam/role:Role", {"name": "r" * 64, "maxSessionDuration": 3600}),
        ("aws:lambda/function:Function", {"name": "fn", "memorySize": 512.0, "timeout": 30.0}),
        ("aws:ecr/repository:Repository", {"name": "jobapptracker/api"}),
        ("aws:sqs/queue:Queue", {"name": "q" * 80, "messageRetentionSeconds": 1209600}),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/lambda/x", "retentionInDays": 30}),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/lambda/x", "retentionInDays": 0}),
        ("aws:secretsmanager/secret:Secret", {"name": "a/b_c+d=e@g-h", "recoveryWindowInDays": 0}),
        ("aws:rds/instance:Instance", {"identifier": "jobapptracker-prod-db", "dbName": "jat"}),
        ("aws:sns/topic:Topic", {"name": "alarms.fifo"}),
        (
            "aws:ecs/service:Service",
            {"name": "api", "networkConfiguration": {"subnets": ["s"], "assignPublicIp": False}},
        ),
    ],
)
def test_api_constraints_accept_valid_inputs(type_, props):
    assert _rule(_one(type_, "subject", props), "preflight-api-constraints") == []


def test_java_patterns_of_the_models_are_applied():
    role = [res("aws:iam/role:Role", "r", {"name": "r", "tags": {**TAGS, "team": "O'Brien"}})]
    found = _rule(role, "preflight-api-constraints")
    assert len(found) == 1 and "CreateRole Tags[" in found[0].message
    assert "O'Brien" in found[0].message and "does not match the pattern" in found[0].message
    policy = {"name": "p\tq", "serviceNamespace": "ecs", "policyType": "StepScaling"}
    found = _rule(
        _one("aws:appautoscaling/policy:Policy", "p", policy), "preflight-api-constraints"
    )
    assert len(found) == 1 and "PolicyName" in found[0].message


def test_autonamed_name_is_checked_with_pulumis_suffix():
    entries = _one("aws:iam/role:Role", "r" * 57, {})  # 57 + "-" + 7 hex = 65
    found = _rule(entries, "preflight-api-constraints")
    assert len(found) == 1 and "65 characters" in found[0].message
    assert "auto-named" in found[0].message
    assert _rule(_one("aws:iam/role:Role", "r" * 56, {}), "preflight-api-constraints") == []


def test_name_prefix_is_checked_with_the_unique_suffix():
    entries = _one("aws:lb/targetGroup:TargetGroup", "tg", {"namePrefix": "api-target"})
    found = _rule(entries, "preflight-api-constraints")
    assert found and "namePrefix" in found[0].message


def test_unknown_values_are_left_out_of_the_request():
    entries = _one(
        "aws:lambda/function:Function", "fn", {"name": UNKNOWN_STRING_VALUE, "memorySize": 64}
    )
    found = _rule(entries, "preflight-api-constraints", level=None)
    assert [f.level for f in found] == ["mandatory"] and "MemorySize" in found[0].message


def test_nested_values_follow_the_model():
    fn = {
        "name": "fn",
        "ephemeralStorage": {"size": 100},
        "environment": {"variables": {"1BAD": "v"}},
    }
    found = _rule(_one("aws:lambda/function:Function", "fn", fn), "preflight-api-constraints")
    messages = " ".join(f.message for f in found)
    assert "EphemeralStorage.Size is 100; the minimum is 512" in messages
    assert "Environment.Variables key '1BAD'" in messages


def test_unmapped_aws_types_are_listed_not_passed():
    entries = [
        *_one("aws:sfn/stateMachine:StateMachine", "flow", {"name": "flow"}),
        *_one("aws:sfn/stateMachine:StateMachine", "flow2", {"name": "flow2"}),
        *_one("aws:iam/role:Role", "role", {"name": "role"}),
        res("random:index/randomPassword:RandomPassword", "pw", {"length": 40}),
    ]
    found = _rule(entries, "preflight-unmapped-types", level=None)
    assert len(found) == 1 and found[0].level == "advisory"
    assert "aws:sfn/stateMachine:StateMachine" in found[0].message
    assert "flow, flow2" in found[0].message


def test_good_stack_passes_every_preflight_rule(stack, bootstrap_stack):
    for entries in (stack, bootstrap_stack):
        found = [f for f in violations(entries, level=None) if f.rule.startswith("preflight-")]
        assert [f.rule for f in found if f.level == "mandatory"] == []
        assert {f.rule for f in found} <= {"preflight-apprunner-availability"}


# ----- security group text ---------------------------------------------------------------------

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (SG, {"description": "the API's outbound traffic"}),
        (SG, {"description": 'say "hi"'}),
        (SG, {"description": "d" * 256}),
        (SG, {"description": "ok", "ingress": [{"description": "caf\u00e9"}]}),
        (INGRESS, {"description": "from the API's tasks", "securityGroupId": "sg-1"}),
        ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", {"description": "a`b"}),
    ],
)
def test_security_group_text_refused(type_, props):
    found = _rule(_one(type_, "sg", props), "preflight-security-group-text")
    assert found and found[0].resource == "sg"
    assert "docs.aws.amazon.com/AWSEC2/latest/APIReference" in found[0].message


def test_security_group_text_accepts_the_documented_characters():
    text = "PostgreSQL to RDS: 5432 (tasks) #1, @x [a]+=&;{}!$*_-./"
    entries = [*_one(SG, "sg", {"description": text}), *_one(INGRESS, "in", {"description": text})]
    assert _rule(entries, "preflight-security-group-text") == []


# ----- alarm topics ----------------------------------------------------------------------------

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111"


def _alarm_stack(key_id, key_policy=None, *, via_alias=False):
    topic_props = {"name": "alarms", "arn": TOPIC_ARN}
    if key_id is not None:
        topic_props["kmsMasterKeyId"] = key_id
    entries = [
        *_one("aws:sns/topic:Topic", "alarms", topic_props),
        *_one("aws:cloudwatch/metricAlarm:MetricAlarm", "cpu", {
            "name": "cpu", "alarmActions": [TOPIC_ARN], "okActions": [TOPIC_ARN],
        }),
    ]  # fmt: skip
    if key_policy is not None or via_alias:
        key_props = {"arn": KEY_ARN, "keyId": "1111"}
        if key_policy is not None:
            key_props["policy"] = json.dumps(key_policy)
        entries += _one("aws:kms/key:Key", "alarms-key", key_props)
    if via_alias:
        entries += [
            res("aws:kms/alias:Alias", "alarms-key-alias", {
                "name": "alias/alarms", "arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/alarms",
                "targetKeyId": "1111",
            }),
        ]  # fmt: skip
    return entries


def _key_policy(
    service="cloudwatch.amazonaws.com", actions=("kms:Decrypt", "kms:GenerateDataKey*")
):
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions),
             "Resource": "*"},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    "key_id", ["alias/aws/sns", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/sns"]
)
def test_alarm_on_topic_with_aws_managed_key(key_id):
    found = _rule(_alarm_stack(key_id), "preflight-alarm-topic-key")
    assert len(found) == 1 and found[0].resource == "cpu"
    assert "alarmActions, okActions" in found[0].message and "alias/aws/sns" in found[0].message


@pytest.mark.parametrize(
    "policy",
    [None, _key_policy(service="events.amazonaws.com"), _key_policy(actions=("kms:Decrypt",))],
)
def test_alarm_on_topic_whose_key_policy_does_not_allow_cloudwatch(policy):
    entries = _alarm_stack(KEY_ARN, policy if policy is not None else {}, via_alias=False)
    if policy is None:
        for e in entries:
            e["props"].pop("policy", None)
    found = _rule(entries, "preflight-alarm-topic-key")
    assert len(found) == 1 and "cloudwatch.amazonaws.com" in found[0].message


@pytest.mark.parametrize("key_id", [None, KEY_ARN, "alias/alarms"])
def test_alarm_topics_that_work(key_id):
    entries = _alarm_stack(key_id, _key_policy(), via_alias=key_id == "alias/alarms")
    assert _rule(entries, "preflight-alarm-topic-key") == []


def test_alarm_joined_through_property_dependencies():
    entries = _alarm_stack("alias/aws/sns")
    alarm = next(e for e in entries if e["name"] == "cpu")
    alarm["props"]["alarmActions"] = [UNKNOWN_STRING_VALUE]
    alarm["props"].pop("okActions")
    alarm["propertyDependencies"] = {"alarmActions": [entries[0]["urn"]]}
    assert len(_rule(entries, "preflight-alarm-topic-key")) == 1


def test_eventbridge_target_on_topic_with_aws_managed_key():
    entries = [
        *_one("aws:sns/topic:Topic", "alarms", {
            "name": "alarms", "arn": TOPIC_ARN, "kmsMasterKeyId": "alias/aws/sns",
        }),
        res("aws:cloudwatch/eventTarget:EventTarget", "to-topic", {"rule": "r", "arn": TOPIC_ARN}),
    ]  # fmt: skip
    found = _rule(entries, "preflight-alarm-topic-key")
    assert len(found) == 1 and "events.amazonaws.com" in found[0].message


# ----- CloudFront certificates -----------------------------------------------------------------

CERT_T = "aws:acm/certificate:Certificate"
VALIDATION_T = "aws:acm/certificateValidation:CertificateValidation"
DIST_T = "aws:cloudfront/distribution:Distribution"


def _cdn(cert_arn, *, cert_region="us-east-1", validated=True, in_stack=True):
    arn = f"arn:aws:acm:{cert_region}:{ACCOUNT}:certificate/abcd"
    entries = []
    if in_stack:
        entries += _one(CERT_T, "cert", {
            "arn": arn, "domainName": "api.example.com", "validationMethod": "DNS",
        })  # fmt: skip
    if in_stack and validated:
        entries.append(res(VALIDATION_T, "cert-validation", {"certificateArn": arn}))
    entries += _one(DIST_T, "cdn", {
        "comment": "api", "viewerCertificate": {"acmCertificateArn": cert_arn or arn},
    })  # fmt: skip
    return entries


def test_cloudfront_certificate_outside_us_east_1():
    found = _rule(_cdn(None, cert_region="eu-west-1"), "preflight-cloudfront-certificate")
    assert len(found) == 1 and "us-east-1 only" in found[0].message and found[0].resource == "cdn"


def test_cloudfront_certificate_not_validated():
    found = _rule(_cdn(None, validated=False), "preflight-cloudfront-certificate")
    assert len(found) == 1 and "nothing in the stack validates" in found[0].message


def test_cloudfront_certificates_that_work():
    external = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/issued"
    default = _one(DIST_T, "cdn", {"viewerCertificate": {"cloudfrontDefaultCertificate": True}})
    for entries in (_cdn(None), _cdn(external, in_stack=False), default):
        assert _rule(entries, "preflight-cloudfront-certificate") == []


# ----- reserved concurrency, App Runner --------------------------------------------------------


@pytest.mark.parametrize(("reserved", "bad"), [(1, True), (0, True), (-1, False), (None, False)])
def test_reserved_concurrency_needs_the_opt_in(reserved, bad):
    props = {"name": "db-admin"}
    if reserved is not None:
        props["reservedConcurrentExecutions"] = reserved
    entries = _one("aws:lambda/function:Function", "db-admin", props)
    found = _rule(entries, "preflight-lambda-reserved-concurrency")
    assert bool(found) is bad
    opt_in = {"preflight-lambda-reserved-concurrency": {"allowReservedConcurrency": True}}
    assert _rule(entries, "preflight-lambda-reserved-concurrency", config=opt_in) == []


def test_apprunner_service_is_flagged_as_advisory(stack):
    found = _rule(stack, "preflight-apprunner-availability", level=None)
    assert [(f.level, f.resource) for f in found] == [("advisory", "api")]
    assert "compute: ecs" in found[0].message
    ecs_only = [e for e in good_stack() if e["type"] != "aws:apprunner/service:Service"]
    assert _rule(ecs_only, "preflight-apprunner-availability", level=None) == []

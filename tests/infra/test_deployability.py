"""What AWS would refuse although the mocks accept it: each test here stands for a defect that
only a real account shows (security group text, alarm topic keys, reserved concurrency)."""

from __future__ import annotations

import re

from .conftest import doc, variant
from .iam_eval import Request, evaluate

# EC2's documented character set for security group and rule descriptions (255 characters at most):
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html
EC2_DESCRIPTION = re.compile(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}")
SG_TYPES = (
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
FN = "aws:lambda/function:Function"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_security_group_and_rule_descriptions_use_ec2s_character_set(all_stacks):
    bad = [
        (s.stack, r["name"], r["props"].get("description"))
        for s in all_stacks
        for t in SG_TYPES
        for r in s.of_type(t)
        if not EC2_DESCRIPTION.fullmatch(r["props"].get("description") or "")
    ]
    assert bad == []


def test_the_description_pattern_refuses_an_apostrophe():
    assert not EC2_DESCRIPTION.fullmatch("App Runner VPC connector (the API's outbound traffic)")


def _alarm_topics(stack) -> dict[str, dict]:
    topics = {t["props"]["arn"]: t for t in stack.of_type(TOPIC)}
    used = {a for r in stack.of_type(ALARM) for a in r["props"].get("alarmActions", [])}
    assert used and used <= set(topics)
    return {arn: topics[arn] for arn in used}


def test_every_alarm_topic_uses_a_key_that_cloudwatch_may_use(all_stacks):
    """An AWS managed key (alias/aws/sns) cannot grant cloudwatch.amazonaws.com, so the topic's key
    must be one of ours whose policy lets CloudWatch generate data keys and decrypt."""
    checked = 0
    for s in all_stacks:
        keys = {k["props"]["arn"]: k for k in s.of_type(KEY)}
        for arn, topic in _alarm_topics(s).items() if s.of_type(ALARM) else ():
            key = keys.get(topic["props"].get("kmsMasterKeyId"))
            assert key is not None, (s.stack, topic["name"], topic["props"].get("kmsMasterKeyId"))
            policy = doc(key["props"]["policy"])
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                request = Request(
                    principal_arn="cloudwatch.amazonaws.com",
                    action=action,
                    resource=key["props"]["arn"],
                    context={"aws:SourceAccount": "123456789012"},
                )
                assert _service_allowed(policy, request, "cloudwatch.amazonaws.com"), (
                    s.stack,
                    key["name"],
                    action,
                )
            assert arn.split(":")[3] == key["props"]["arn"].split(":")[3]  # key in topic's region
            checked += 1
    assert checked


def _service_allowed(policy: dict, request: Request, service: str) -> bool:
    """Key policies name services as principals; keep the statements for ``service``."""
    statements = [
        st
        for st in policy["Statement"]
        if isinstance(st.get("Principal"), dict)
        and service in _as_list(st["Principal"].get("Service"))
    ]
    return (
        evaluate(request, {"Statement": [{**st, "Principal": "*"} for st in statements]}) == "Allow"
    )


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v] if v else []


def test_cloudfront_latency_alarm_has_its_metric_subscription(ecs):
    latency = [a for a in ecs.of_type(ALARM) if a["props"].get("namespace") == "AWS/CloudFront"]
    assert latency
    subs = ecs.of_type("aws:cloudfront/monitoringSubscription:MonitoringSubscription")
    distribution = ecs.one("aws:cloudfront/distribution:Distribution")
    assert [s["props"]["distributionId"] for s in subs] == [distribution["id"]]
    status = subs[0]["props"]["monitoringSubscription"]["realtimeMetricsSubscriptionConfig"]
    assert status["realtimeMetricsSubscriptionStatus"] == "Enabled"


def test_no_function_reserves_concurrency_unless_the_stack_opts_in(all_stacks):
    reserved = [
        (s.stack, f["name"])
        for s in all_stacks
        for f in s.of_type(FN)
        if f["props"].get("reservedConcurrentExecutions") not in (None, -1)
    ]
    assert reserved == []


def test_reserved_concurrency_is_an_explicit_opt_in(tmp_path_factory):
    stack = variant(tmp_path_factory, "reserving", dbAdminReservedConcurrency=1)
    db_admin = stack.one(FN, "jobs-db-admin")
    assert db_admin["props"]["reservedConcurrentExecutions"] == 1


def test_plan_says_when_an_alarm_topic_has_no_subscriber(dev, prod):
    from infra.plan import notes

    assert any(
        "jobapptracker-dev-alarms" in n and "no subscriber" in n for n in notes(dev.resources)
    )
    assert notes(prod.resources) == []

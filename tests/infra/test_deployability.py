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


# ----- the registry lets Lambda pull (defect: only a deployer with ecr:SetRepositoryPolicy) ------


def test_the_repository_policy_lets_lambda_pull_this_stacks_images(all_stacks):
    for s in all_stacks:
        repo = s.one("aws:ecr/repository:Repository")["props"]
        policy = doc(s.one("aws:ecr/repositoryPolicy:RepositoryPolicy")["props"]["policy"])
        (st,) = policy["Statement"]
        assert st["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert set(st["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
        for fn in s.of_type(FN):
            request = Request(
                principal_arn="lambda.amazonaws.com",
                action="ecr:BatchGetImage",
                resource=repo["arn"],
                context={"aws:sourceArn": fn["props"]["arn"]},
            )
            assert _service_allowed(policy, request, "lambda.amazonaws.com"), fn["name"]
        stranger = Request(
            principal_arn="lambda.amazonaws.com",
            action="ecr:BatchGetImage",
            resource=repo["arn"],
            context={"aws:sourceArn": "arn:aws:lambda:eu-west-1:123456789012:function:other"},
        )
        assert not _service_allowed(policy, stranger, "lambda.amazonaws.com")


def test_every_function_waits_for_the_repository_policy(dev):
    for fn in dev.of_type(FN):
        assert "registry-lambda-pull" in dev.waits_for(fn), fn["name"]


# ----- logs: retention set before AWS creates the groups; access logs for the uploads --------


def test_rds_log_groups_exist_with_retention_before_the_instance(dev):
    db = dev.one("aws:rds/instance:Instance")
    groups = {
        g["props"]["name"]: g
        for g in dev.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g["props"]["name"].startswith("/aws/rds/")
    }
    assert set(groups) == {
        f"/aws/rds/instance/{db['props']['identifier']}/{log}"
        for log in db["props"]["enabledCloudwatchLogsExports"]
    }
    waits = dev.waits_for(db)
    for g in groups.values():
        assert g["props"]["retentionInDays"] == 30 and g["name"] in waits


def test_uploads_requests_are_logged_to_a_bucket_with_its_own_lifecycle(dev):
    uploads = dev.one("aws:s3/bucket:Bucket", "uploads")
    logs = dev.one("aws:s3/bucket:Bucket", "access-logs")
    logging = dev.one("aws:s3/bucketLogging:BucketLogging")["props"]
    assert (logging["bucket"], logging["targetBucket"]) == (uploads["id"], logs["id"])
    lifecycle = dev.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "access-logs-lifecycle"
    )["props"]["rules"][0]
    assert lifecycle["expiration"]["days"] == 90
    policy = doc(
        dev.one("aws:s3/bucketPolicy:BucketPolicy", "access-logs-policy")["props"]["policy"]
    )
    put = Request(
        principal_arn="logging.s3.amazonaws.com",
        action="s3:PutObject",
        resource=f"{logs['props']['arn']}/{logging['targetPrefix']}2026-11-29-00-00-00-ABC",
        context={"aws:SourceArn": uploads["props"]["arn"], "aws:SourceAccount": "123456789012"},
    )
    assert _service_allowed(policy, put, "logging.s3.amazonaws.com")
    other = Request(
        **{**put.__dict__, "context": {**put.context, "aws:SourceArn": "arn:aws:s3:::x"}}
    )
    assert not _service_allowed(policy, other, "logging.s3.amazonaws.com")


# ----- providers and partition ----------------------------------------------------------------


def test_the_us_east_1_provider_inherits_the_stacks_provider_settings(tmp_path):
    import yaml

    from infra.offline import STACKS_DIR, capture_stack

    data = yaml.safe_load((STACKS_DIR / "Pulumi.ecs.yaml").read_text())
    data["config"]["aws:profile"] = "deployer"
    data["config"]["aws:allowedAccountIds"] = ["123456789012"]
    data["config"]["aws:defaultTags"] = {"tags": {"costCenter": "jat"}}
    (tmp_path / "Pulumi.edge.yaml").write_text(yaml.safe_dump(data))
    providers = [
        r for r in capture_stack("edge", stacks_dir=tmp_path) if r["type"] == "pulumi:providers:aws"
    ]
    assert providers
    for p in providers:
        assert p["props"]["region"] == "us-east-1"
        assert p["props"]["profile"] == "deployer"
        assert p["props"]["allowedAccountIds"] in (["123456789012"], '["123456789012"]')
        assert "costCenter" in str(p["props"]["defaultTags"])


def test_no_arn_in_the_program_hard_codes_the_aws_partition():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "infra"
    program = [*root.glob("*.py"), *root.glob("components/*.py")]
    offenders = [
        str(p.relative_to(root))
        for p in program
        if p.name != "offline.py" and re.search(r'f?"arn:aws:', p.read_text())
    ]
    assert len(program) > 10 and offenders == []


def test_managed_policy_arns_follow_the_partition():
    from infra import iam

    assert iam.managed("aws-cn", iam.LAMBDA_BASIC) == (
        "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )

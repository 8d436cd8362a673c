"""The offline mocks answer with AWS's real shapes: every ARN and id the plans render matches the
format AWS documents for its resource type (and Pulumi's import id), in the region of the
resource's provider. Rules that join on ARNs and ids check what AWS would return, not a fiction.
"""

from __future__ import annotations

import re

import pytest

from infra.offline import read_stack_config

REGION = r"(?P<region>[a-z]{2}(-[a-z]+)+-\d)"
ACCOUNT = r"\d{12}"
HEX17 = r"0[0-9a-f]{16}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NAME = r"[A-Za-z0-9_.+=,@/-]+"
EC2_ARNS = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html"
ANY = r".+"

# type -> (ARN pattern or None when the resource has no ARN of its own, id pattern, source)
FORMATS: dict[str, tuple[str | None, str, str]] = {
    "aws:acm/certificate:Certificate": (
        rf"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{UUID}",
        rf"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{UUID}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscertificatemanager.html",
    ),
    "aws:acm/certificateValidation:CertificateValidation": (None, ANY, "pulumi-aws: a timestamp"),
    "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion": (
        rf"arn:aws:apprunner:{REGION}:{ACCOUNT}:autoscalingconfiguration/{NAME}/\d+/[0-9a-f]{{32}}",
        rf"arn:aws:apprunner:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsapprunner.html",
    ),
    "aws:apprunner/customDomainAssociation:CustomDomainAssociation": (
        None,
        rf"[a-z0-9.-]+,arn:aws:apprunner:{REGION}:{ACCOUNT}:service/.+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/apprunner/customdomainassociation/#import",
    ),
    "aws:apprunner/observabilityConfiguration:ObservabilityConfiguration": (
        rf"arn:aws:apprunner:{REGION}:{ACCOUNT}:observabilityconfiguration/{NAME}/\d+/[0-9a-f]{{32}}",
        rf"arn:aws:apprunner:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsapprunner.html",
    ),
    "aws:apprunner/service:Service": (
        rf"arn:aws:apprunner:{REGION}:{ACCOUNT}:service/{NAME}/[0-9a-f]{{32}}",
        rf"arn:aws:apprunner:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsapprunner.html",
    ),
    "aws:apprunner/vpcConnector:VpcConnector": (
        rf"arn:aws:apprunner:{REGION}:{ACCOUNT}:vpcconnector/{NAME}/\d+/[0-9a-f]{{32}}",
        rf"arn:aws:apprunner:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsapprunner.html",
    ),
    "aws:appautoscaling/target:Target": (
        rf"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/[0-9a-z]+",
        r"service/[^/]+/[^/]+",
        "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html",
    ),
    "aws:appautoscaling/policy:Policy": (
        rf"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:{UUID}:resource/ecs/service/.+"
        r":policyName/.+",
        NAME,
        "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html",
    ),
    "aws:cloudfront/distribution:Distribution": (
        rf"arn:aws:cloudfront::{ACCOUNT}:distribution/E[A-Z0-9]{{13}}",
        r"E[A-Z0-9]{13}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudfront.html",
    ),
    "aws:cloudfront/monitoringSubscription:MonitoringSubscription": (
        None,
        r"E[A-Z0-9]{13}",
        "https://www.pulumi.com/registry/packages/aws/api-docs/cloudfront/monitoringsubscription/#import",
    ),
    "aws:cloudfront/vpcOrigin:VpcOrigin": (
        rf"arn:aws:cloudfront::{ACCOUNT}:vpcorigin/vo_[A-Za-z0-9]+",
        r"vo_[A-Za-z0-9]+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudfront.html",
    ),
    "aws:cloudwatch/eventRule:EventRule": (
        rf"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}",
        NAME,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html",
    ),
    "aws:cloudwatch/eventTarget:EventTarget": (
        None,
        rf"{NAME}-{NAME}",
        "https://www.pulumi.com/registry/packages/aws/api-docs/cloudwatch/eventtarget/#import",
    ),
    "aws:cloudwatch/logGroup:LogGroup": (
        rf"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{NAME}",
        NAME,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html",
    ),
    # Its ARN is the dashboardArn output (arn:aws:cloudwatch::ACCOUNT:dashboard/NAME), not arn.
    "aws:cloudwatch/dashboard:Dashboard": (
        None,
        NAME,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        rf"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{NAME}",
        NAME,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    ),
    "aws:ec2/eip:Eip": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/eipalloc-{HEX17}",
        rf"eipalloc-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/internetGateway:InternetGateway": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:internet-gateway/igw-{HEX17}",
        rf"igw-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/natGateway:NatGateway": (None, rf"nat-{HEX17}", EC2_ARNS),
    "aws:ec2/route:Route": (None, rf"r-rtb-{HEX17}\d+", "pulumi-aws route import id"),
    "aws:ec2/routeTable:RouteTable": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:route-table/rtb-{HEX17}",
        rf"rtb-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (None, rf"rtbassoc-{HEX17}", EC2_ARNS),
    "aws:ec2/securityGroup:SecurityGroup": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-{HEX17}",
        rf"sg-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/subnet:Subnet": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-{HEX17}",
        rf"subnet-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/vpc:Vpc": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-{HEX17}",
        rf"vpc-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-endpoint/vpce-{HEX17}",
        rf"vpce-{HEX17}",
        EC2_ARNS,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/sgr-{HEX17}",
        rf"sgr-{HEX17}",
        EC2_ARNS,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        rf"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/sgr-{HEX17}",
        rf"sgr-{HEX17}",
        EC2_ARNS,
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": (
        None,
        r"[a-z0-9._/-]+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/ecr/lifecyclepolicy/#import",
    ),
    "aws:ecr/repository:Repository": (
        rf"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/[a-z0-9._/-]+",
        r"[a-z0-9._/-]+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html",
    ),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (
        None,
        r"[a-z0-9._/-]+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/ecr/repositorypolicy/#import",
    ),
    "aws:ecs/cluster:Cluster": (
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{NAME}",
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{NAME}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html",
    ),
    "aws:ecs/service:Service": (
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{NAME}/{NAME}",
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{NAME}/{NAME}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html",
    ),
    "aws:ecs/taskDefinition:TaskDefinition": (
        rf"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{NAME}:\d+",
        NAME,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html",
    ),
    "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan": (
        rf"arn:aws:guardduty:{REGION}:{ACCOUNT}:malware-protection-plan/[a-z0-9]+",
        r"[a-z0-9]+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonguardduty.html",
    ),
    "aws:iam/role:Role": (
        rf"arn:aws:iam::{ACCOUNT}:role/{NAME}",
        NAME,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns",
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        None,
        rf"{NAME}:{NAME}",
        "https://www.pulumi.com/registry/packages/aws/api-docs/iam/rolepolicy/#import",
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        None,
        rf"{NAME}-[0-9a-f]+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/iam/rolepolicyattachment/",
    ),
    "aws:kms/alias:Alias": (
        rf"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{NAME}",
        rf"alias/{NAME}",
        "https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-alias-ARN",
    ),
    "aws:kms/key:Key": (
        rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/{UUID}",
        UUID,
        "https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN",
    ),
    "aws:lambda/function:Function": (
        rf"arn:aws:lambda:{REGION}:{ACCOUNT}:function:[A-Za-z0-9_-]+",
        r"[A-Za-z0-9_-]+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html",
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        None,
        r"[A-Za-z0-9_-]+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/lambda/functioneventinvokeconfig/#import",
    ),
    "aws:lambda/invocation:Invocation": (None, r"[A-Za-z0-9_-]+_\$LATEST_[0-9a-f]+", "pulumi-aws"),
    "aws:lambda/permission:Permission": (None, r"[A-Za-z0-9_-]+", "pulumi-aws: the statement id"),
    "aws:lb/listener:Listener": (
        rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/{NAME}/[0-9a-f]{{16}}"
        r"/[0-9a-f]{16}",
        rf"arn:aws:elasticloadbalancing:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html",
    ),
    "aws:lb/listenerRule:ListenerRule": (
        rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/{NAME}/[0-9a-f]{{16}}"
        r"/[0-9a-f]{16}/[0-9a-f]{16}",
        rf"arn:aws:elasticloadbalancing:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/[A-Za-z0-9-]{{1,32}}"
        r"/[0-9a-f]{16}",
        rf"arn:aws:elasticloadbalancing:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html",
    ),
    "aws:lb/targetGroup:TargetGroup": (
        rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/[A-Za-z0-9-]{{1,32}}"
        r"/[0-9a-f]{16}",
        rf"arn:aws:elasticloadbalancing:{REGION}:.+",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html",
    ),
    "aws:rds/instance:Instance": (
        rf"arn:aws:rds:{REGION}:{ACCOUNT}:db:[a-z][a-z0-9-]*",
        r"db-[A-Z0-9]{26}",
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html",
    ),
    "aws:rds/parameterGroup:ParameterGroup": (
        rf"arn:aws:rds:{REGION}:{ACCOUNT}:pg:{NAME}",
        NAME,
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html",
    ),
    "aws:rds/subnetGroup:SubnetGroup": (
        rf"arn:aws:rds:{REGION}:{ACCOUNT}:subgrp:{NAME}",
        NAME,
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html",
    ),
    "aws:route53/record:Record": (None, r"[A-Z0-9]+_[a-z0-9._-]+_[A-Z]+", "pulumi-aws record id"),
    "aws:s3/bucket:Bucket": (
        r"arn:aws:s3:::[a-z0-9.-]{3,63}",
        r"[a-z0-9.-]{3,63}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html",
    ),
    "aws:secretsmanager/secret:Secret": (
        rf"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}-[A-Za-z0-9]{{6}}",
        rf"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}-[A-Za-z0-9]{{6}}",
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources",
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": (
        # pulumi-aws gives a secret version the ARN of its secret
        rf"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{NAME}-[A-Za-z0-9]{{6}}",
        rf"arn:aws:secretsmanager:{REGION}:.+\|{UUID}",
        "https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secretversion/#import",
    ),
    "aws:sns/topic:Topic": (
        rf"arn:aws:sns:{REGION}:{ACCOUNT}:[A-Za-z0-9_-]{{1,256}}",
        rf"arn:aws:sns:{REGION}:{ACCOUNT}:[A-Za-z0-9_-]{{1,256}}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html",
    ),
    "aws:sns/topicPolicy:TopicPolicy": (None, rf"arn:aws:sns:{REGION}:.+", "pulumi-aws"),
    "aws:sns/topicSubscription:TopicSubscription": (
        rf"arn:aws:sns:{REGION}:{ACCOUNT}:[A-Za-z0-9_-]+:{UUID}",
        rf"arn:aws:sns:{REGION}:{ACCOUNT}:[A-Za-z0-9_-]+:{UUID}",
        "https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html",
    ),
    "aws:sqs/queue:Queue": (
        rf"arn:aws:sqs:{REGION}:{ACCOUNT}:[A-Za-z0-9_-]{{1,80}}",
        rf"https://sqs\.{REGION}\.amazonaws\.com/{ACCOUNT}/[A-Za-z0-9_-]{{1,80}}",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html",
    ),
    "aws:sqs/queuePolicy:QueuePolicy": (
        None,
        rf"https://sqs\.{REGION}\.amazonaws\.com/{ACCOUNT}/.+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/sqs/queuepolicy/#import",
    ),
    "aws:wafv2/webAcl:WebAcl": (
        rf"arn:aws:wafv2:{REGION}:{ACCOUNT}:(regional|global)/webacl/{NAME}/{UUID}",
        UUID,
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awswafv2.html",
    ),
    "aws:wafv2/webAclAssociation:WebAclAssociation": (
        None,
        r"arn:aws:wafv2:.+,arn:aws:.+",
        "https://www.pulumi.com/registry/packages/aws/api-docs/wafv2/webaclassociation/#import",
    ),
}
S3_CONFIG = {
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
}
for _t in S3_CONFIG:
    FORMATS[_t] = (None, r"[a-z0-9.-]{3,63}", "pulumi-aws: the bucket name")
# Inputs named `arn` that are not the resource's own ARN (the target's, the topic's).
ARN_INPUTS = {"aws:cloudwatch/eventTarget:EventTarget", "aws:sns/topicPolicy:TopicPolicy"}


def _resources(all_stacks):
    for s in all_stacks:
        for r in s.resources:
            if r["type"].startswith("aws:"):
                yield s, r


def _region_of(stack, r) -> str:
    """The region of the resource's explicit provider, else the stack's."""
    for p in stack.resources:
        if p["type"] == "pulumi:providers:aws" and r.get("provider", "").startswith(
            p["urn"] + "::"
        ):
            return p["props"]["region"]
    return read_stack_config(stack.stack)["aws:region"]


def test_every_resource_type_in_the_plans_has_a_documented_format(all_stacks):
    types = {r["type"] for _, r in _resources(all_stacks)}
    assert types - set(FORMATS) == set()


def test_ids_match_the_documented_format(all_stacks):
    bad = [
        (s.stack, r["name"], r["id"])
        for s, r in _resources(all_stacks)
        if not re.fullmatch(FORMATS[r["type"]][1], str(r["id"]))
    ]
    assert bad == []


def test_arns_match_the_documented_format(all_stacks):
    bad = []
    for s, r in _resources(all_stacks):
        pattern = FORMATS[r["type"]][0]
        arn = r["props"].get("arn")
        if pattern is None:
            if arn is not None and r["type"] not in ARN_INPUTS:
                bad.append((s.stack, r["name"], "has no ARN in AWS", arn))
        elif not (arn and re.fullmatch(pattern, arn)):
            bad.append((s.stack, r["name"], arn))
    assert bad == []


def test_arns_carry_the_region_of_the_resources_provider(all_stacks):
    """The us-east-1 resources (CloudFront's certificate, alarms, topic, web ACL) say us-east-1;
    everything else says the stack's region."""
    edge_types = set()
    for s, r in _resources(all_stacks):
        match = re.match(r"arn:aws:[a-z0-9-]+:(?P<region>[a-z0-9-]*):", r["props"].get("arn") or "")
        if not match or not match["region"] or r["type"] in ARN_INPUTS:
            continue
        expected = _region_of(s, r)
        assert match["region"] == expected, (s.stack, r["name"], r["props"]["arn"])
        if expected == "us-east-1":
            edge_types.add(r["type"])
    assert {"aws:sns/topic:Topic", "aws:acm/certificate:Certificate"} <= edge_types


@pytest.mark.parametrize(
    ("token", "good", "bad"),
    [
        (
            "aws:sns/topic:Topic",
            "arn:aws:sns:eu-west-1:123456789012:alarms",
            "arn:aws:sns:eu-west-1:123456789012:topic/alarms",
        ),
        ("aws:ec2/securityGroup:SecurityGroup", None, "sg-1234567"),
        ("aws:kms/key:Key", None, "key-1234567"),
    ],
)
def test_the_formats_refuse_what_the_mocks_used_to_render(token, good, bad):
    arn_pattern, id_pattern, _ = FORMATS[token]
    if good is not None:
        assert re.fullmatch(arn_pattern, good)
        assert not re.fullmatch(arn_pattern, bad)
    else:
        assert not re.fullmatch(id_pattern, bad)

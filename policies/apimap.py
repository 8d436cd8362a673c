"""Pulumi resource types -> the AWS API calls that create them, for the preflight rules.

Each mapped type lists the calls pulumi-aws makes to create (and configure) the resource, with the
prop that fills each top-level parameter; :mod:`policies.awsapi` shapes nested values by the call's
botocore input model. Where the model lacks a limit AWS documents, the call carries a
:class:`~policies.awsapi.Documented` constraint naming its source page.

``AUTONAMED`` lists the prop Pulumi fills when a program leaves it out: the logical name, a hyphen
and 7 random hex characters. Types that create nothing through an AWS API (component resources,
providers, ``random:*``) are not AWS types and are never listed as unmapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .awsapi import Call, Documented

EC2_CREATE_SG = (
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html"
)
RDS_CREATE_INSTANCE = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html"
)
RDS_PARAMETER_GROUP = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html"
)
RDS_SUBNET_GROUP = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html"
)
S3_BUCKET_NAMES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
SQS_CREATE_QUEUE = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"
)
SNS_CREATE_TOPIC = "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html"
SNS_SUBSCRIBE = "https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html"
SM_CREATE_DOC = (
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"
)
SM_DELETE_DOC = (
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"
)
LOG_RETENTION = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"
KMS_DELETION = "https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"
CLOUDFRONT_COMMENT = (
    "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DistributionConfig.html"
)
ELB_NAME = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/"
    "API_CreateLoadBalancer.html"
)
TG_NAME = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/"
    "API_CreateTargetGroup.html"
)
ECS_CLUSTER = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html"
ECS_SERVICE = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html"
LAMBDA_ENV = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"

_RDS_IDENTIFIER = r"[A-Za-z](?:-?[A-Za-z0-9])*"
_RDS_IDENTIFIER_WHY = (
    "letters, digits and single hyphens, starting with a letter, not ending with a hyphen"
)
_SECURITY_GROUP_TEXT = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


def _tags(props: Mapping[str, Any]) -> Any:
    return props.get("tags")


def _reserved(props: Mapping[str, Any]) -> Any:
    v = props.get("reservedConcurrentExecutions")
    # -1 is pulumi-aws's "no reservation" (it then makes no PutFunctionConcurrency call).
    return None if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 else v


def _sqs_attributes(props: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "delaySeconds": "DelaySeconds",
        "maxMessageSize": "MaximumMessageSize",
        "messageRetentionSeconds": "MessageRetentionPeriod",
        "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
        "visibilityTimeoutSeconds": "VisibilityTimeout",
        "kmsMasterKeyId": "KmsMasterKeyId",
        "policy": "Policy",
    }
    return {api: props[p] for p, api in names.items() if props.get(p) is not None}


def _sns_attributes(props: Mapping[str, Any]) -> dict[str, Any]:
    names = {"kmsMasterKeyId": "KmsMasterKeyId", "displayName": "DisplayName", "policy": "Policy"}
    return {api: props[p] for p, api in names.items() if props.get(p) is not None}


def _aliases(props: Mapping[str, Any]) -> Any:
    items = props.get("aliases")
    return {"Quantity": len(items), "Items": items} if isinstance(items, list) and items else None


def _distribution(props: Mapping[str, Any]) -> dict[str, Any]:
    viewer = props.get("viewerCertificate") or {}
    out = {
        "Comment": props.get("comment"),
        "Enabled": props.get("enabled"),
        "PriceClass": props.get("priceClass"),
        "HttpVersion": props.get("httpVersion"),
        "WebACLId": props.get("webAclId"),
        "Aliases": _aliases(props),
        "ViewerCertificate": {
            "ACMCertificateArn": viewer.get("acmCertificateArn"),
            "SSLSupportMethod": viewer.get("sslSupportMethod"),
            "MinimumProtocolVersion": viewer.get("minimumProtocolVersion"),
            "CloudFrontDefaultCertificate": viewer.get("cloudfrontDefaultCertificate"),
        }
        if isinstance(viewer, Mapping)
        else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _ip_permissions(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    perm: dict[str, Any] = {
        "IpProtocol": props.get("ipProtocol"),
        "FromPort": props.get("fromPort"),
        "ToPort": props.get("toPort"),
    }
    if props.get("cidrIpv4"):
        perm["IpRanges"] = [{"CidrIp": props["cidrIpv4"]}]
    if props.get("cidrIpv6"):
        perm["Ipv6Ranges"] = [{"CidrIpv6": props["cidrIpv6"]}]
    if props.get("referencedSecurityGroupId"):
        perm["UserIdGroupPairs"] = [{"GroupId": props["referencedSecurityGroupId"]}]
    if props.get("prefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": props["prefixListId"]}]
    return [{k: v for k, v in perm.items() if v is not None}]


def _event_target(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    target = {
        "Id": props.get("targetId"),
        "Arn": props.get("arn"),
        "RoleArn": props.get("roleArn"),
        "Input": props.get("input"),
        "DeadLetterConfig": props.get("deadLetterConfig"),
        "RetryPolicy": props.get("retryPolicy"),
    }
    return [{k: v for k, v in target.items() if v is not None}]


def _lifecycle(props: Mapping[str, Any]) -> Any:
    rules = props.get("rules")
    return {"Rules": rules} if rules else None


def _cors(props: Mapping[str, Any]) -> Any:
    rules = props.get("corsRules")
    return {"CORSRules": rules} if rules else None


def _ownership(props: Mapping[str, Any]) -> Any:
    rule = props.get("rule")
    return {"Rules": [rule]} if rule else None


def _sse(props: Mapping[str, Any]) -> Any:
    rules = props.get("rules")
    return {"Rules": rules} if rules else None


def _public_access(props: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return {k: props[k] for k in keys if props.get(k) is not None}


def _param_group_parameters(props: Mapping[str, Any]) -> Any:
    params = props.get("parameters")
    if not isinstance(params, list):
        return None
    return [
        {
            "ParameterName": p.get("name"),
            "ParameterValue": p.get("value"),
            "ApplyMethod": p.get("applyMethod") or "immediate",
        }
        for p in params
        if isinstance(p, Mapping)
    ]


def _queue_policy(props: Mapping[str, Any]) -> Any:
    return {"Policy": props["policy"]} if props.get("policy") else None


def _subscription_endpoint(props: Mapping[str, Any]) -> Any:
    return props.get("endpoint")


def _express_network(props: Mapping[str, Any]) -> Any:
    configs = props.get("networkConfigurations")
    return configs[0] if isinstance(configs, list) and configs else None


def _ecs_network(props: Mapping[str, Any]) -> Any:
    net = props.get("networkConfiguration")
    if not isinstance(net, Mapping):
        return None
    vpc = {"subnets": net.get("subnets"), "securityGroups": net.get("securityGroups")}
    public = net.get("assignPublicIp")
    if isinstance(public, bool):  # pulumi-aws takes a boolean; the API ENABLED or DISABLED
        vpc["assignPublicIp"] = "ENABLED" if public else "DISABLED"
    return {"awsvpcConfiguration": {k: v for k, v in vpc.items() if v is not None}}


def _ecs_deployment(props: Mapping[str, Any]) -> Any:
    out = {
        "deploymentCircuitBreaker": props.get("deploymentCircuitBreaker"),
        "minimumHealthyPercent": props.get("deploymentMinimumHealthyPercent"),
        "maximumPercent": props.get("deploymentMaximumPercent"),
    }
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def _lb_subnets(props: Mapping[str, Any]) -> Any:
    return props.get("subnets")


RDS_NAME = Documented(RDS_CREATE_INSTANCE, min=1, max=63, pattern=_RDS_IDENTIFIER,
                      explain=_RDS_IDENTIFIER_WHY)  # fmt: skip

CALLS: dict[str, tuple[Call, ...]] = {
    "aws:acm/certificate:Certificate": (
        Call(
            "acm",
            "RequestCertificate",
            {
                "DomainName": "domainName",
                "ValidationMethod": "validationMethod",
                "SubjectAlternativeNames": "subjectAlternativeNames",
                "KeyAlgorithm": "keyAlgorithm",
                "Tags": _tags,
            },
        ),
    ),
    "aws:acm/certificateValidation:CertificateValidation": (
        # No create call: pulumi-aws waits on DescribeCertificate until the certificate is issued.
        Call("acm", "DescribeCertificate", {"CertificateArn": "certificateArn"}),
    ),
    "aws:appautoscaling/policy:Policy": (
        Call(
            "application-autoscaling",
            "PutScalingPolicy",
            {
                "PolicyName": "name",
                "ServiceNamespace": "serviceNamespace",
                "ResourceId": "resourceId",
                "ScalableDimension": "scalableDimension",
                "PolicyType": "policyType",
                "TargetTrackingScalingPolicyConfiguration": (
                    "targetTrackingScalingPolicyConfiguration"
                ),
                "StepScalingPolicyConfiguration": "stepScalingPolicyConfiguration",
            },
        ),
    ),
    "aws:appautoscaling/target:Target": (
        Call(
            "application-autoscaling",
            "RegisterScalableTarget",
            {
                "ServiceNamespace": "serviceNamespace",
                "ResourceId": "resourceId",
                "ScalableDimension": "scalableDimension",
                "MinCapacity": "minCapacity",
                "MaxCapacity": "maxCapacity",
                "RoleARN": "roleArn",
                "Tags": _tags,
            },
        ),
    ),
    "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion": (
        Call(
            "apprunner",
            "CreateAutoScalingConfiguration",
            {
                "AutoScalingConfigurationName": "autoScalingConfigurationName",
                "MaxConcurrency": "maxConcurrency",
                "MinSize": "minSize",
                "MaxSize": "maxSize",
                "Tags": _tags,
            },
        ),
    ),
    "aws:apprunner/customDomainAssociation:CustomDomainAssociation": (
        Call(
            "apprunner",
            "AssociateCustomDomain",
            {
                "ServiceArn": "serviceArn",
                "DomainName": "domainName",
                "EnableWWWSubdomain": "enableWwwSubdomain",
            },
        ),
    ),
    "aws:apprunner/observabilityConfiguration:ObservabilityConfiguration": (
        Call(
            "apprunner",
            "CreateObservabilityConfiguration",
            {
                "ObservabilityConfigurationName": "observabilityConfigurationName",
                "TraceConfiguration": "traceConfiguration",
                "Tags": _tags,
            },
        ),
    ),
    "aws:apprunner/service:Service": (
        Call(
            "apprunner",
            "CreateService",
            {
                "ServiceName": "serviceName",
                "SourceConfiguration": "sourceConfiguration",
                "InstanceConfiguration": "instanceConfiguration",
                "HealthCheckConfiguration": "healthCheckConfiguration",
                "AutoScalingConfigurationArn": "autoScalingConfigurationArn",
                "NetworkConfiguration": "networkConfiguration",
                "ObservabilityConfiguration": "observabilityConfiguration",
                "EncryptionConfiguration": "encryptionConfiguration",
                "Tags": _tags,
            },
        ),
    ),
    "aws:apprunner/vpcConnector:VpcConnector": (
        Call(
            "apprunner",
            "CreateVpcConnector",
            {
                "VpcConnectorName": "vpcConnectorName",
                "Subnets": "subnets",
                "SecurityGroups": "securityGroups",
                "Tags": _tags,
            },
        ),
    ),
    "aws:cloudfront/distribution:Distribution": (
        Call(
            "cloudfront",
            "CreateDistribution",
            {"DistributionConfig": _distribution},
            documented={"DistributionConfig.Comment": Documented(CLOUDFRONT_COMMENT, max=128)},
        ),
    ),
    "aws:cloudfront/vpcOrigin:VpcOrigin": (
        Call(
            "cloudfront",
            "CreateVpcOrigin",
            {"VpcOriginEndpointConfig": "vpcOriginEndpointConfig", "Tags": _tags},
        ),
    ),
    "aws:cloudfront/monitoringSubscription:MonitoringSubscription": (
        Call(
            "cloudfront",
            "CreateMonitoringSubscription",
            {
                "DistributionId": "distributionId",
                "MonitoringSubscription": "monitoringSubscription",
            },
        ),
    ),
    "aws:cloudwatch/eventRule:EventRule": (
        Call(
            "events",
            "PutRule",
            {
                "Name": "name",
                "ScheduleExpression": "scheduleExpression",
                "EventPattern": "eventPattern",
                "State": "state",
                "Description": "description",
                "RoleArn": "roleArn",
                "EventBusName": "eventBusName",
                "Tags": _tags,
            },
        ),
    ),
    "aws:cloudwatch/eventTarget:EventTarget": (
        Call(
            "events",
            "PutTargets",
            {
                "Rule": "rule",
                "EventBusName": "eventBusName",
                "Targets": _event_target,
            },
        ),
    ),
    "aws:cloudwatch/logGroup:LogGroup": (
        Call(
            "logs",
            "CreateLogGroup",
            {
                "logGroupName": "name",
                "kmsKeyId": "kmsKeyId",
                "logGroupClass": "logGroupClass",
                "tags": _tags,
            },
        ),
        Call(
            "logs",
            "PutRetentionPolicy",
            {
                "logGroupName": "name",
                # 0 is pulumi-aws's "never expire": no retention policy is put.
                "retentionInDays": lambda p: p.get("retentionInDays") or None,
            },
            documented={"retentionInDays": Documented(LOG_RETENTION, one_of=_RETENTION_DAYS)},
        ),
    ),
    "aws:cloudwatch/dashboard:Dashboard": (
        Call(
            "cloudwatch",
            "PutDashboard",
            {"DashboardName": "dashboardName", "DashboardBody": "dashboardBody"},
        ),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        Call(
            "cloudwatch",
            "PutMetricAlarm",
            {
                "AlarmName": "name",
                "AlarmDescription": "alarmDescription",
                "ActionsEnabled": "actionsEnabled",
                "OKActions": "okActions",
                "AlarmActions": "alarmActions",
                "InsufficientDataActions": "insufficientDataActions",
                "MetricName": "metricName",
                "Namespace": "namespace",
                "Statistic": "statistic",
                "ExtendedStatistic": "extendedStatistic",
                "Dimensions": "dimensions",
                "Period": "period",
                "Unit": "unit",
                "EvaluationPeriods": "evaluationPeriods",
                "DatapointsToAlarm": "datapointsToAlarm",
                "Threshold": "threshold",
                "ComparisonOperator": "comparisonOperator",
                "TreatMissingData": "treatMissingData",
                "Metrics": "metricQueries",
                "Tags": _tags,
            },
        ),
    ),
    "aws:ec2/eip:Eip": (Call("ec2", "AllocateAddress", {"Domain": "domain"}),),
    "aws:ec2/internetGateway:InternetGateway": (
        Call("ec2", "AttachInternetGateway", {"VpcId": "vpcId"}),
    ),
    "aws:ec2/natGateway:NatGateway": (
        Call(
            "ec2",
            "CreateNatGateway",
            {
                "SubnetId": "subnetId",
                "AllocationId": "allocationId",
                "ConnectivityType": "connectivityType",
            },
        ),
    ),
    "aws:ec2/route:Route": (
        Call(
            "ec2",
            "CreateRoute",
            {
                "RouteTableId": "routeTableId",
                "DestinationCidrBlock": "destinationCidrBlock",
                "GatewayId": "gatewayId",
                "NatGatewayId": "natGatewayId",
                "VpcEndpointId": "vpcEndpointId",
            },
        ),
    ),
    "aws:ec2/routeTable:RouteTable": (Call("ec2", "CreateRouteTable", {"VpcId": "vpcId"}),),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (
        Call(
            "ec2",
            "AssociateRouteTable",
            {
                "RouteTableId": "routeTableId",
                "SubnetId": "subnetId",
                "GatewayId": "gatewayId",
            },
        ),
    ),
    "aws:ec2/securityGroup:SecurityGroup": (
        Call(
            "ec2",
            "CreateSecurityGroup",
            {"GroupName": "name", "VpcId": "vpcId"},
            documented={
                "GroupName": Documented(
                    EC2_CREATE_SG,
                    max=255,
                    pattern=_SECURITY_GROUP_TEXT,
                    forbid=r"^sg-",
                    explain="a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*, "
                    "not starting with sg-",
                )
            },
        ),
    ),
    "aws:ec2/subnet:Subnet": (
        Call(
            "ec2",
            "CreateSubnet",
            {
                "VpcId": "vpcId",
                "CidrBlock": "cidrBlock",
                "AvailabilityZone": "availabilityZone",
            },
        ),
        Call(
            "ec2",
            "ModifySubnetAttribute",
            {
                "MapPublicIpOnLaunch": lambda p: (
                    {"Value": p.get("mapPublicIpOnLaunch")}
                    if p.get("mapPublicIpOnLaunch") is not None
                    else None
                ),
            },
        ),
    ),
    "aws:ec2/vpc:Vpc": (
        Call("ec2", "CreateVpc", {"CidrBlock": "cidrBlock", "InstanceTenancy": "instanceTenancy"}),
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (
        Call(
            "ec2",
            "CreateVpcEndpoint",
            {
                "VpcId": "vpcId",
                "ServiceName": "serviceName",
                "VpcEndpointType": "vpcEndpointType",
                "RouteTableIds": "routeTableIds",
                "SubnetIds": "subnetIds",
                "SecurityGroupIds": "securityGroupIds",
                "PrivateDnsEnabled": "privateDnsEnabled",
                "PolicyDocument": "policy",
                "IpAddressType": "ipAddressType",
            },
        ),
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": (
        Call(
            "ecr",
            "PutLifecyclePolicy",
            {
                "repositoryName": "repository",
                "lifecyclePolicyText": "policy",
            },
        ),
    ),
    "aws:ecr/repository:Repository": (
        Call(
            "ecr",
            "CreateRepository",
            {
                "repositoryName": "name",
                "imageTagMutability": "imageTagMutability",
                "imageScanningConfiguration": "imageScanningConfiguration",
                "encryptionConfiguration": "encryptionConfigurations",
                "tags": _tags,
            },
        ),
    ),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (
        Call(
            "ecr",
            "SetRepositoryPolicy",
            {
                "repositoryName": "repository",
                "policyText": "policy",
            },
        ),
    ),
    "aws:ecs/cluster:Cluster": (
        Call(
            "ecs",
            "CreateCluster",
            {"clusterName": "name", "settings": "settings", "tags": _tags},
            documented={"clusterName": Documented(ECS_CLUSTER, max=255, pattern=r"[A-Za-z0-9_-]+")},
        ),
    ),
    "aws:ecs/expressGatewayService:ExpressGatewayService": (
        Call(
            "ecs",
            "CreateExpressGatewayService",
            {
                "serviceName": "serviceName",
                "cluster": "cluster",
                "executionRoleArn": "executionRoleArn",
                "infrastructureRoleArn": "infrastructureRoleArn",
                "taskRoleArn": "taskRoleArn",
                "healthCheckPath": "healthCheckPath",
                "primaryContainer": "primaryContainer",
                "networkConfiguration": _express_network,
                "cpu": "cpu",
                "memory": "memory",
                "scalingTarget": "scalingTargets",
                "tags": _tags,
            },
        ),
    ),
    "aws:ecs/service:Service": (
        Call(
            "ecs",
            "CreateService",
            {
                "serviceName": "name",
                "cluster": "cluster",
                "taskDefinition": "taskDefinition",
                "desiredCount": "desiredCount",
                "launchType": "launchType",
                "platformVersion": "platformVersion",
                "networkConfiguration": _ecs_network,
                "deploymentConfiguration": _ecs_deployment,
                "loadBalancers": "loadBalancers",
                "healthCheckGracePeriodSeconds": "healthCheckGracePeriodSeconds",
                "enableExecuteCommand": "enableExecuteCommand",
                "propagateTags": "propagateTags",
                "tags": _tags,
            },
            documented={"serviceName": Documented(ECS_SERVICE, max=255, pattern=r"[A-Za-z0-9_-]+")},
        ),
    ),
    "aws:ecs/taskDefinition:TaskDefinition": (
        Call(
            "ecs",
            "RegisterTaskDefinition",
            {
                "family": "family",
                "taskRoleArn": "taskRoleArn",
                "executionRoleArn": "executionRoleArn",
                "networkMode": "networkMode",
                "requiresCompatibilities": "requiresCompatibilities",
                "cpu": "cpu",
                "memory": "memory",
                "runtimePlatform": "runtimePlatform",
                "tags": _tags,
            },
        ),
    ),
    "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan": (
        Call(
            "guardduty",
            "CreateMalwareProtectionPlan",
            {
                "Role": "role",
                "ProtectedResource": "protectedResource",
                "Actions": "actions",
                "Tags": _tags,
            },
        ),
    ),
    "aws:iam/role:Role": (
        Call(
            "iam",
            "CreateRole",
            {
                "RoleName": "name",
                "Path": "path",
                "Description": "description",
                "AssumeRolePolicyDocument": "assumeRolePolicy",
                "MaxSessionDuration": "maxSessionDuration",
                "PermissionsBoundary": "permissionsBoundary",
                "Tags": _tags,
            },
        ),
    ),
    "aws:iam/policy:Policy": (
        Call(
            "iam",
            "CreatePolicy",
            {
                "PolicyName": "name",
                "Path": "path",
                "PolicyDocument": "policy",
                "Description": "description",
                "Tags": _tags,
            },
        ),
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        Call(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": "role",
                "PolicyName": "name",
                "PolicyDocument": "policy",
            },
        ),
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        Call("iam", "AttachRolePolicy", {"RoleName": "role", "PolicyArn": "policyArn"}),
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
        Call(
            "iam",
            "CreateOpenIDConnectProvider",
            {
                "Url": "url",
                "ClientIDList": "clientIdLists",
                "ThumbprintList": "thumbprintLists",
                "Tags": _tags,
            },
        ),
    ),
    "aws:kms/alias:Alias": (
        Call("kms", "CreateAlias", {"AliasName": "name", "TargetKeyId": "targetKeyId"}),
    ),
    "aws:kms/key:Key": (
        Call(
            "kms",
            "CreateKey",
            {
                "Description": "description",
                "KeyUsage": "keyUsage",
                "KeySpec": "customerMasterKeySpec",
                "Policy": "policy",
                "MultiRegion": "multiRegion",
                "BypassPolicyLockoutSafetyCheck": "bypassPolicyLockoutSafetyCheck",
                "Tags": _tags,
            },
        ),
        Call("kms", "EnableKeyRotation", {"RotationPeriodInDays": "rotationPeriodInDays"}),
        Call(
            "kms",
            "ScheduleKeyDeletion",
            {"PendingWindowInDays": "deletionWindowInDays"},
            documented={
                "PendingWindowInDays": Documented(KMS_DELETION, number_min=7, number_max=30)
            },
        ),
    ),
    "aws:lambda/function:Function": (
        Call(
            "lambda",
            "CreateFunction",
            {
                "FunctionName": "name",
                "Role": "role",
                "Handler": "handler",
                "Runtime": "runtime",
                "PackageType": "packageType",
                "Code": lambda p: {"ImageUri": p.get("imageUri")} if p.get("imageUri") else None,
                "Description": "description",
                "Timeout": "timeout",
                "MemorySize": "memorySize",
                "Architectures": "architectures",
                "Environment": "environment",
                "ImageConfig": lambda p: (
                    {
                        "EntryPoint": (p.get("imageConfig") or {}).get("entryPoints"),
                        "Command": (p.get("imageConfig") or {}).get("commands"),
                        "WorkingDirectory": (p.get("imageConfig") or {}).get("workingDirectory"),
                    }
                    if isinstance(p.get("imageConfig"), Mapping)
                    else None
                ),
                "TracingConfig": "tracingConfig",
                "EphemeralStorage": "ephemeralStorage",
                "DeadLetterConfig": "deadLetterConfig",
                "VpcConfig": "vpcConfig",
                "LoggingConfig": "loggingConfig",
                "KMSKeyArn": "kmsKeyArn",
                "Tags": _tags,
            },
        ),
        Call("lambda", "PutFunctionConcurrency", {"ReservedConcurrentExecutions": _reserved}),
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        Call(
            "lambda",
            "PutFunctionEventInvokeConfig",
            {
                "FunctionName": "functionName",
                "Qualifier": "qualifier",
                "MaximumRetryAttempts": "maximumRetryAttempts",
                "MaximumEventAgeInSeconds": "maximumEventAgeInSeconds",
                "DestinationConfig": "destinationConfig",
            },
        ),
    ),
    "aws:lambda/invocation:Invocation": (
        Call("lambda", "Invoke", {"FunctionName": "functionName", "Qualifier": "qualifier"}),
    ),
    "aws:lambda/permission:Permission": (
        Call(
            "lambda",
            "AddPermission",
            {
                "FunctionName": "function",
                "StatementId": "statementId",
                "Action": "action",
                "Principal": "principal",
                "SourceArn": "sourceArn",
                "SourceAccount": "sourceAccount",
                "Qualifier": "qualifier",
                "FunctionUrlAuthType": "functionUrlAuthType",
            },
        ),
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        Call(
            "elbv2",
            "CreateLoadBalancer",
            {
                "Name": "name",
                "Subnets": _lb_subnets,
                "SecurityGroups": "securityGroups",
                "Scheme": lambda p: "internal" if p.get("internal") is True else None,
                "Type": "loadBalancerType",
                "IpAddressType": "ipAddressType",
                "Tags": _tags,
            },
            documented={
                "Name": Documented(
                    ELB_NAME,
                    max=32,
                    pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
                    forbid=r"^internal-",
                    explain="up to 32 alphanumerics and hyphens, not starting or ending with "
                    "a hyphen, not starting with internal-",
                )
            },
        ),
    ),
    "aws:lb/targetGroup:TargetGroup": (
        Call(
            "elbv2",
            "CreateTargetGroup",
            {
                "Name": "name",
                "Protocol": "protocol",
                "Port": "port",
                "VpcId": "vpcId",
                "TargetType": "targetType",
                "HealthCheckPath": "healthCheck.path",
                "HealthCheckIntervalSeconds": "healthCheck.interval",
                "HealthCheckTimeoutSeconds": "healthCheck.timeout",
                "HealthyThresholdCount": "healthCheck.healthyThreshold",
                "UnhealthyThresholdCount": "healthCheck.unhealthyThreshold",
                "Tags": _tags,
            },
            documented={
                "Name": Documented(
                    TG_NAME,
                    max=32,
                    pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
                    explain="up to 32 alphanumerics and hyphens, not starting or ending with "
                    "a hyphen",
                )
            },
        ),
    ),
    "aws:lb/listener:Listener": (
        Call(
            "elbv2",
            "CreateListener",
            {
                "LoadBalancerArn": "loadBalancerArn",
                "Protocol": "protocol",
                "Port": "port",
                "SslPolicy": "sslPolicy",
                "Tags": _tags,
            },
        ),
    ),
    "aws:lb/listenerRule:ListenerRule": (
        Call(
            "elbv2",
            "CreateRule",
            {"ListenerArn": "listenerArn", "Priority": "priority", "Tags": _tags},
        ),
    ),
    "aws:rds/instance:Instance": (
        Call(
            "rds",
            "CreateDBInstance",
            {
                "DBInstanceIdentifier": "identifier",
                "DBName": "dbName",
                "AllocatedStorage": "allocatedStorage",
                "MaxAllocatedStorage": "maxAllocatedStorage",
                "DBInstanceClass": "instanceClass",
                "Engine": "engine",
                "EngineVersion": "engineVersion",
                "MasterUsername": "username",
                "DBSubnetGroupName": "dbSubnetGroupName",
                "DBParameterGroupName": "parameterGroupName",
                "VpcSecurityGroupIds": "vpcSecurityGroupIds",
                "BackupRetentionPeriod": "backupRetentionPeriod",
                "PreferredBackupWindow": "backupWindow",
                "PreferredMaintenanceWindow": "maintenanceWindow",
                "MultiAZ": "multiAz",
                "StorageType": "storageType",
                "StorageEncrypted": "storageEncrypted",
                "KmsKeyId": "kmsKeyId",
                "PubliclyAccessible": "publiclyAccessible",
                "DeletionProtection": "deletionProtection",
                "EnableCloudwatchLogsExports": "enabledCloudwatchLogsExports",
                "CACertificateIdentifier": "caCertIdentifier",
                "ManageMasterUserPassword": "manageMasterUserPassword",
                "MasterUserSecretKmsKeyId": "masterUserSecretKmsKeyId",
                "MonitoringInterval": "monitoringInterval",
                "EnablePerformanceInsights": "performanceInsightsEnabled",
                "CopyTagsToSnapshot": "copyTagsToSnapshot",
                "AutoMinorVersionUpgrade": "autoMinorVersionUpgrade",
                "Port": "port",
                "Tags": _tags,
            },
            documented={
                "DBInstanceIdentifier": RDS_NAME,
                "DBName": Documented(
                    RDS_CREATE_INSTANCE,
                    min=1,
                    max=63,
                    pattern=r"[A-Za-z_][A-Za-z0-9_]*",
                    explain="PostgreSQL: letters, digits and underscores, starting "
                    "with a letter or underscore",
                ),
                "MasterUsername": Documented(
                    RDS_CREATE_INSTANCE,
                    min=1,
                    max=63,
                    pattern=r"[A-Za-z][A-Za-z0-9_]*",
                    explain="PostgreSQL: starts with a letter",
                ),
                "BackupRetentionPeriod": Documented(
                    RDS_CREATE_INSTANCE, number_min=0, number_max=35
                ),
                "AllocatedStorage": Documented(
                    RDS_CREATE_INSTANCE,
                    number_min=20,
                    number_max=65536,
                    explain="PostgreSQL on General Purpose SSD",
                ),
            },
        ),
        Call(
            "rds",
            "DeleteDBInstance",
            {"FinalDBSnapshotIdentifier": "finalSnapshotIdentifier"},
            documented={
                "FinalDBSnapshotIdentifier": Documented(
                    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/"
                    "API_DeleteDBInstance.html",
                    min=1,
                    max=255,
                    pattern=_RDS_IDENTIFIER,
                    explain=_RDS_IDENTIFIER_WHY,
                )
            },
        ),
    ),
    "aws:rds/parameterGroup:ParameterGroup": (
        Call(
            "rds",
            "CreateDBParameterGroup",
            {
                "DBParameterGroupName": "name",
                "DBParameterGroupFamily": "family",
                "Description": "description",
                "Tags": _tags,
            },
            documented={
                "DBParameterGroupName": Documented(
                    RDS_PARAMETER_GROUP,
                    min=1,
                    max=255,
                    pattern=_RDS_IDENTIFIER,
                    explain=_RDS_IDENTIFIER_WHY,
                ),
                "Description": Documented(RDS_PARAMETER_GROUP, min=1),
            },
        ),
        Call(
            "rds",
            "ModifyDBParameterGroup",
            {"Parameters": _param_group_parameters},
            documented={
                "Parameters[].ApplyMethod": Documented(
                    RDS_PARAMETER_GROUP, one_of=("immediate", "pending-reboot")
                )
            },
        ),
    ),
    "aws:rds/subnetGroup:SubnetGroup": (
        Call(
            "rds",
            "CreateDBSubnetGroup",
            {
                "DBSubnetGroupName": "name",
                "DBSubnetGroupDescription": "description",
                "SubnetIds": "subnetIds",
                "Tags": _tags,
            },
            documented={
                "DBSubnetGroupName": Documented(
                    RDS_SUBNET_GROUP,
                    min=1,
                    max=255,
                    pattern=r"[A-Za-z0-9._ -]+",
                    forbid=r"^default$",
                    explain="letters, numbers, periods, underscores, spaces or hyphens, "
                    "not 'default'",
                )
            },
        ),
    ),
    "aws:route53/record:Record": (
        Call("route53", "ChangeResourceRecordSets", {"HostedZoneId": "zoneId"}),
    ),
    "aws:s3/bucket:Bucket": (
        Call(
            "s3",
            "CreateBucket",
            {"Bucket": "bucket"},
            documented={
                "Bucket": Documented(
                    S3_BUCKET_NAMES,
                    min=3,
                    max=63,
                    pattern=r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
                    forbid=r"\.\.|^xn--|^sthree-|^amzn-s3-demo-|-s3alias$|--ol-s3$|\.mrap$|--x-s3$|"
                    r"--table-s3$|^\d+\.\d+\.\d+\.\d+$",
                    explain="lowercase letters, numbers, dots and hyphens, starting and ending "
                    "with a letter or number, none of the reserved prefixes and suffixes",
                )
            },
        ),
    ),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": (
        Call("s3", "PutBucketCors", {"Bucket": "bucket", "CORSConfiguration": _cors}),
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        Call(
            "s3",
            "PutBucketLifecycleConfiguration",
            {
                "Bucket": "bucket",
                "LifecycleConfiguration": _lifecycle,
            },
            documented={
                "LifecycleConfiguration.Rules[].ID": Documented(
                    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html",
                    max=255,
                )
            },
        ),
    ),
    "aws:s3/bucketLogging:BucketLogging": (
        Call(
            "s3",
            "PutBucketLogging",
            {
                "Bucket": "bucket",
                "BucketLoggingStatus": lambda p: (
                    {
                        "LoggingEnabled": {
                            "TargetBucket": p.get("targetBucket"),
                            "TargetPrefix": p.get("targetPrefix"),
                        }
                    }
                    if p.get("targetBucket")
                    else None
                ),
            },
        ),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        Call(
            "s3",
            "PutBucketOwnershipControls",
            {
                "Bucket": "bucket",
                "OwnershipControls": _ownership,
            },
        ),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": (
        Call(
            "s3",
            "PutBucketPolicy",
            {"Bucket": "bucket", "Policy": "policy"},
            documented={
                "Policy": Documented(
                    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/BucketRestrictions.html",
                    max=20480,
                    explain="bucket policies are limited to 20 KB",
                )
            },
        ),
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        Call(
            "s3",
            "PutPublicAccessBlock",
            {
                "Bucket": "bucket",
                "PublicAccessBlockConfiguration": _public_access,
            },
        ),
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        Call(
            "s3",
            "PutBucketEncryption",
            {
                "Bucket": "bucket",
                "ServerSideEncryptionConfiguration": _sse,
            },
        ),
    ),
    "aws:s3/bucketVersioning:BucketVersioning": (
        Call(
            "s3",
            "PutBucketVersioning",
            {
                "Bucket": "bucket",
                "VersioningConfiguration": "versioningConfiguration",
            },
        ),
    ),
    "aws:scheduler/schedule:Schedule": (
        Call(
            "scheduler",
            "CreateSchedule",
            {
                "Name": "name",
                "GroupName": "groupName",
                "ScheduleExpression": "scheduleExpression",
                "ScheduleExpressionTimezone": "scheduleExpressionTimezone",
                "FlexibleTimeWindow": "flexibleTimeWindow",
                "Target": "target",
                "State": "state",
                "Description": "description",
            },
        ),
    ),
    "aws:secretsmanager/secret:Secret": (
        Call(
            "secretsmanager",
            "CreateSecret",
            {
                "Name": "name",
                "Description": "description",
                "KmsKeyId": "kmsKeyId",
                "Tags": _tags,
            },
            documented={
                "Name": Documented(
                    SM_CREATE_DOC,
                    pattern=r"[A-Za-z0-9/_+=.@-]+",
                    explain="ASCII letters, numbers and /_+=.@-",
                )
            },
        ),
        Call(
            "secretsmanager",
            "DeleteSecret",
            {
                "RecoveryWindowInDays": lambda p: (
                    p.get("recoveryWindowInDays")
                    if p.get("recoveryWindowInDays") not in (0, 0.0)
                    else None
                ),
            },
            documented={
                "RecoveryWindowInDays": Documented(
                    SM_DELETE_DOC, number_min=7, number_max=30, explain="0 forces deletion"
                )
            },
        ),
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": (
        Call(
            "secretsmanager",
            "PutSecretValue",
            {
                "SecretId": "secretId",
                "SecretString": "secretString",
                "VersionStages": "versionStages",
            },
        ),
    ),
    "aws:sns/topic:Topic": (
        Call(
            "sns",
            "CreateTopic",
            {
                "Name": "name",
                "Attributes": _sns_attributes,
                "Tags": _tags,
            },
            documented={
                "Name": Documented(
                    SNS_CREATE_TOPIC,
                    min=1,
                    max=256,
                    pattern=r"[A-Za-z0-9_-]+(\.fifo)?",
                    explain="up to 256 letters, numbers, underscores and hyphens (.fifo for FIFO)",
                )
            },
        ),
    ),
    "aws:sns/topicSubscription:TopicSubscription": (
        Call(
            "sns",
            "Subscribe",
            {
                "TopicArn": "topic",
                "Protocol": "protocol",
                "Endpoint": _subscription_endpoint,
            },
            documented={
                "Protocol": Documented(
                    SNS_SUBSCRIBE,
                    one_of=(
                        "http",
                        "https",
                        "email",
                        "email-json",
                        "sms",
                        "sqs",
                        "application",
                        "lambda",
                        "firehose",
                    ),
                )
            },
        ),
    ),
    "aws:sqs/queue:Queue": (
        Call(
            "sqs",
            "CreateQueue",
            {
                "QueueName": "name",
                "Attributes": _sqs_attributes,
                "tags": _tags,
            },
            documented={
                "QueueName": Documented(
                    SQS_CREATE_QUEUE,
                    min=1,
                    max=80,
                    pattern=r"[A-Za-z0-9_-]+(\.fifo)?",
                    explain="up to 80 letters, numbers, hyphens and underscores (.fifo for FIFO)",
                ),
                "Attributes.DelaySeconds": Documented(
                    SQS_CREATE_QUEUE, number_min=0, number_max=900
                ),
                "Attributes.MessageRetentionPeriod": Documented(
                    SQS_CREATE_QUEUE, number_min=60, number_max=1209600
                ),
                "Attributes.ReceiveMessageWaitTimeSeconds": Documented(
                    SQS_CREATE_QUEUE, number_min=0, number_max=20
                ),
                "Attributes.VisibilityTimeout": Documented(
                    SQS_CREATE_QUEUE, number_min=0, number_max=43200
                ),
                "Attributes.MaximumMessageSize": Documented(
                    SQS_CREATE_QUEUE, number_min=1024, number_max=1048576
                ),
            },
        ),
    ),
    "aws:sqs/queuePolicy:QueuePolicy": (
        Call("sqs", "SetQueueAttributes", {"QueueUrl": "queueUrl", "Attributes": _queue_policy}),
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        Call(
            "ec2",
            "AuthorizeSecurityGroupEgress",
            {
                "GroupId": "securityGroupId",
                "IpPermissions": _ip_permissions,
            },
        ),
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        Call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {
                "GroupId": "securityGroupId",
                "IpPermissions": _ip_permissions,
            },
        ),
    ),
    "aws:wafv2/webAcl:WebAcl": (
        Call(
            "wafv2",
            "CreateWebACL",
            {
                "Name": "name",
                "Scope": "scope",
                "DefaultAction": "defaultAction",
                "Description": "description",
                "Rules": "rules",
                "VisibilityConfig": "visibilityConfig",
                "Tags": _tags,
            },
        ),
    ),
    "aws:wafv2/webAclAssociation:WebAclAssociation": (
        Call("wafv2", "AssociateWebACL", {"WebACLArn": "webAclArn", "ResourceArn": "resourceArn"}),
    ),
}

# The prop Pulumi auto-names (logical name + "-" + 7 hex characters) when the program omits it.
AUTONAMED: dict[str, str] = {
    "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion": (
        "autoScalingConfigurationName"
    ),
    "aws:apprunner/observabilityConfiguration:ObservabilityConfiguration": (
        "observabilityConfigurationName"
    ),
    "aws:apprunner/service:Service": "serviceName",
    "aws:apprunner/vpcConnector:VpcConnector": "vpcConnectorName",
    "aws:cloudwatch/eventRule:EventRule": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ecr/repository:Repository": "name",
    "aws:ecs/cluster:Cluster": "name",
    "aws:ecs/service:Service": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/role:Role": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:lambda/function:Function": "name",
    "aws:lb/loadBalancer:LoadBalancer": "name",
    "aws:lb/targetGroup:TargetGroup": "name",
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:sns/topic:Topic": "name",
    "aws:sqs/queue:Queue": "name",
    "aws:wafv2/webAcl:WebAcl": "name",
}

AUTONAME_SUFFIX = "-abcdef0"  # the shape of Pulumi's suffix: a hyphen and 7 hex characters


def is_aws_type(type_token: str) -> bool:
    return type_token.startswith("aws:")


def calls_for(type_token: str) -> tuple[Call, ...] | None:
    return CALLS.get(type_token)

"""Run the real program offline, under Pulumi's mocks: no cloud, no CLI.

``capture_stack(stack)`` returns ``[{type, name, urn, id, props, propertyDependencies,
dependencies, provider}]`` (``dependencies``: every URN the resource waits for, ``depends_on``
included; ``provider``: the explicit provider's reference, ``<urn>::<id>``, or empty).
It reads ``infra/stacks/Pulumi.<stack>.yaml``, replaces ``secure:`` values
(which only the stack's secrets provider can decrypt) and any external secret the stack has not set
yet with clear placeholders, sets a placeholder image tag (or none, for the image-less first phase),
runs ``infra.program.build`` under ``pulumi.runtime.set_mocks`` and returns every registered
resource with its resolved camelCase props.

Each capture runs in a fresh thread: Pulumi keeps its runtime state (settings, root stack, config)
in context variables, and a new thread starts with a clean context and its own event loop, so
captures can run any number of times in one process.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor

from .aws_types import takes_input

if TYPE_CHECKING:
    from .config import StackConfig

ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "infra" / "stacks"
PROJECT = "jobapptracker"
ACCOUNT = "123456789012"
PLACEHOLDER_IMAGE_TAG = "offline-placeholder"
SECRET_PLACEHOLDER = "offline-placeholder-{key}"  # noqa: S105 - the clear offline stand-in
SKIP_TYPES = ("pulumi:pulumi:Stack",)
# Pulumi's wire signature of a secret value ({sig: secret-sig, value: ...}).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a signature, not a secret


def list_stacks(stacks_dir: Path | None = None) -> list[str]:
    """Stack names with a Pulumi.<stack>.yaml in infra/stacks."""
    d = stacks_dir or STACKS_DIR
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in d.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, stacks_dir: Path | None = None) -> dict[str, Any]:
    """The stack file's config with ``secure:`` values replaced by clear placeholders."""
    path = (stacks_dir or STACKS_DIR) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path} (stacks: {', '.join(list_stacks())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, Any] = {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            out[key] = SECRET_PLACEHOLDER.format(key=key.split(":")[-1])
        else:
            out[key] = value
    return out


def stack_settings(
    stack: str, with_image: bool, stacks_dir: Path | None = None
) -> tuple[StackConfig, dict[str, str], list[str]]:
    """(typed config, flat Pulumi config dict, secret keys) for an offline run."""
    from . import config as cfgmod

    raw = read_stack_config(stack, stacks_dir)
    region = raw.get("aws:region", "eu-west-1")
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{cfgmod.PROJECT}:")}
    values.pop("imageTag", None)
    typed = cfgmod.from_mapping(
        values, stack=stack, region=region, image_tag=PLACEHOLDER_IMAGE_TAG if with_image else ""
    )
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for k, v in raw.items():
        flat[k] = v if isinstance(v, str) else json.dumps(v)
        if isinstance(v, str) and v.startswith("offline-placeholder-"):
            secret_keys.append(k)
    for key in cfgmod.required_secret_keys(typed):
        full = f"{cfgmod.PROJECT}:{key}"
        if full not in flat:
            flat[full] = SECRET_PLACEHOLDER.format(key=key)
        secret_keys.append(full)
    flat.setdefault("aws:region", region)
    return typed, flat, sorted(set(secret_keys))


# ----- mocks ----------------------------------------------------------------------------------


@functools.cache
def _takes_name(token: str) -> bool:
    return takes_input(token, "name")


def _digest(name: str, salt: str = "") -> str:
    return hashlib.sha256(f"{salt}{name}".encode()).hexdigest()


def _suffix(name: str) -> str:
    return _digest(name)[:7]


def _hex(name: str, n: int, salt: str = "") -> str:
    """``n`` lowercase hex digits, stable per logical name (and salt)."""
    return (_digest(name, salt) * 4)[:n]


def _uuid(name: str, salt: str = "") -> str:
    h = _hex(name, 32, salt)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _alnum(name: str, n: int, salt: str = "") -> str:
    """``n`` uppercase letters and digits, stable per logical name."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    raw = bytes.fromhex(_hex(name, 2 * n, salt))
    return "".join(alphabet[b % 32] for b in raw)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (China, GovCloud, or the standard one)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass
class Shaping:
    """One registration being shaped: the resource's type, logical name and state (its inputs,
    to which a shaper adds what AWS would return), and the region and partition it lives in."""

    typ: str
    name: str
    state: dict[str, Any]
    region: str
    partition: str

    def arn(self, service: str, resource: str) -> str:
        """A regional ARN of this account."""
        return f"arn:{self.partition}:{service}:{self.region}:{ACCOUNT}:{resource}"

    def global_arn(self, service: str, resource: str) -> str:
        """An ARN of this account with no region (IAM, CloudFront)."""
        return f"arn:{self.partition}:{service}::{ACCOUNT}:{resource}"


# A shaper fills in a resource's outputs and returns its id.
Shaper = Callable[[Shaping], str]
SHAPERS: dict[str, Shaper] = {}


def _shapes(*types: str) -> Callable[[Shaper], Shaper]:
    def register(shaper: Shaper) -> Shaper:
        for typ in types:
            SHAPERS[typ] = shaper
        return shaper

    return register


# EC2 resources: the id prefix AWS uses and the resource type in the ARN (ec2 ARN formats:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
_EC2 = {
    "aws:ec2/vpc:Vpc": ("vpc", "vpc"),
    "aws:ec2/subnet:Subnet": ("subnet", "subnet"),
    "aws:ec2/securityGroup:SecurityGroup": ("sg", "security-group"),
    "aws:ec2/internetGateway:InternetGateway": ("igw", "internet-gateway"),
    "aws:ec2/routeTable:RouteTable": ("rtb", "route-table"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpce", "vpc-endpoint"),
    "aws:ec2/eip:Eip": ("eipalloc", "elastic-ip"),
    "aws:ec2/natGateway:NatGateway": ("nat", None),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("rtbassoc", None),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("sgr", "security-group-rule"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("sgr", "security-group-rule"),
}
# Resources whose id is the name (or another input) of what they configure, and that have no ARN.
_ID_FROM_INPUT = {
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "repository",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "functionName",
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": "bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "bucket",
    "aws:s3/bucketLogging:BucketLogging": "bucket",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "bucket",
    "aws:sqs/queuePolicy:QueuePolicy": "queueUrl",
    "aws:cloudfront/monitoringSubscription:MonitoringSubscription": "distributionId",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "repository",
    "aws:sns/topicPolicy:TopicPolicy": "arn",
}


@_shapes(*_EC2)
def _ec2(m: Shaping) -> str:
    s = m.state
    prefix, kind = _EC2[m.typ]
    ident = f"{prefix}-0{_hex(m.name, 16)}"
    if kind is not None:
        s["arn"] = m.arn("ec2", f"{kind}/{ident}")
    if m.typ.endswith(("SecurityGroupIngressRule", "SecurityGroupEgressRule")):
        s["securityGroupRuleId"] = ident
    if m.typ == "aws:ec2/eip:Eip":
        s.update(allocationId=ident, publicIp=f"203.0.113.{int(_hex(m.name, 2), 16) % 250}")
    if m.typ == "aws:ec2/securityGroup:SecurityGroup":
        s["ownerId"] = ACCOUNT
    return ident


@_shapes(*_ID_FROM_INPUT)
def _id_from_input(m: Shaping) -> str:
    return str(m.state.get(_ID_FROM_INPUT[m.typ]) or f"{m.name}-{_suffix(m.name)}")


@_shapes("aws:ec2/route:Route")
def _route(m: Shaping) -> str:
    return f"r-{m.state.get('routeTableId')}1080289494"


@_shapes("aws:s3/bucket:Bucket")
def _bucket(m: Shaping) -> str:
    s = m.state
    bucket = s.get("bucket") or f"{m.name}-{_hex(m.name, 16)}"
    s.update(
        bucket=bucket,
        arn=f"arn:{m.partition}:s3:::{bucket}",
        bucketDomainName=f"{bucket}.s3.amazonaws.com",
        bucketRegionalDomainName=f"{bucket}.s3.{m.region}.amazonaws.com",
        region=m.region,
    )
    return str(bucket)


@_shapes("aws:iam/role:Role")
def _role(m: Shaping) -> str:
    s = m.state
    s["arn"] = m.global_arn("iam", f"role{s.get('path') or '/'}{s['name']}")
    s["uniqueId"] = f"AROA{_alnum(m.name, 17)}"
    return str(s["name"])


@_shapes("aws:iam/rolePolicy:RolePolicy")
def _role_policy(m: Shaping) -> str:
    return f"{m.state.get('role')}:{m.state['name']}"


@_shapes("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _role_policy_attachment(m: Shaping) -> str:
    return f"{m.state.get('role')}-{_hex(m.name, 26)}"


@_shapes("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def _oidc_provider(m: Shaping) -> str:
    host = str(m.state.get("url", "")).removeprefix("https://")
    m.state["arn"] = m.global_arn("iam", f"oidc-provider/{host}")
    return str(m.state["arn"])


@_shapes("aws:iam/policy:Policy")
def _managed_policy(m: Shaping) -> str:
    m.state.setdefault("name", f"{m.name}-{_suffix(m.name)}")
    m.state["arn"] = m.global_arn("iam", f"policy/{m.state['name']}")
    return str(m.state["arn"])


@_shapes("aws:secretsmanager/secret:Secret")
def _secret(m: Shaping) -> str:
    m.state["arn"] = m.arn("secretsmanager", f"secret:{m.state['name']}-{_alnum(m.name, 6)}")
    return str(m.state["arn"])


@_shapes("aws:secretsmanager/secretVersion:SecretVersion")
def _secret_version(m: Shaping) -> str:
    s = m.state
    s["versionId"] = _uuid(m.name)
    s["arn"] = s.get("secretId")
    return f"{s.get('secretId')}|{s['versionId']}"


@_shapes("aws:kms/key:Key")
def _kms_key(m: Shaping) -> str:
    key_id = _uuid(m.name)
    m.state.update(keyId=key_id, arn=m.arn("kms", f"key/{key_id}"))
    return key_id


@_shapes("aws:kms/alias:Alias")
def _kms_alias(m: Shaping) -> str:
    s = m.state
    s.update(arn=m.arn("kms", s["name"]), targetKeyArn=m.arn("kms", f"key/{s.get('targetKeyId')}"))
    return str(s["name"])


@_shapes("aws:lambda/function:Function")
def _function(m: Shaping) -> str:
    s = m.state
    fn_arn = m.arn("lambda", f"function:{s['name']}")
    s.update(
        arn=fn_arn,
        qualifiedArn=f"{fn_arn}:$LATEST",
        version="$LATEST",
        invokeArn=(
            f"arn:{m.partition}:apigateway:{m.region}:lambda:path/2015-03-31/functions/"
            f"{fn_arn}/invocations"
        ),
    )
    return str(s["name"])


@_shapes("aws:lambda/invocation:Invocation")
def _invocation(m: Shaping) -> str:
    m.state["result"] = json.dumps({"action": "migrate", "roles": [], "applied": []})
    return f"{m.state.get('functionName')}_$LATEST_{_hex(m.name, 32)}"


@_shapes("aws:lambda/permission:Permission")
def _lambda_permission(m: Shaping) -> str:
    return str(m.state.get("statementId") or f"terraform-{_hex(m.name, 26)}")


@_shapes("aws:sqs/queue:Queue")
def _queue(m: Shaping) -> str:
    s = m.state
    url = f"https://sqs.{m.region}.amazonaws.com/{ACCOUNT}/{s['name']}"
    s.update(arn=m.arn("sqs", s["name"]), url=url)
    return url


@_shapes("aws:sns/topic:Topic")
def _topic(m: Shaping) -> str:
    m.state["arn"] = m.arn("sns", m.state["name"])
    return str(m.state["arn"])


@_shapes("aws:sns/topicSubscription:TopicSubscription")
def _subscription(m: Shaping) -> str:
    m.state["arn"] = f"{m.state.get('topic')}:{_uuid(m.name)}"
    return str(m.state["arn"])


@_shapes("aws:cloudwatch/eventRule:EventRule")
def _event_rule(m: Shaping) -> str:
    m.state["arn"] = m.arn("events", f"rule/{m.state['name']}")
    return str(m.state["name"])


@_shapes("aws:cloudwatch/eventTarget:EventTarget")
def _event_target(m: Shaping) -> str:
    target_id = m.state.get("targetId") or f"terraform-{_hex(m.name, 26)}"
    m.state["targetId"] = target_id
    return f"{m.state.get('rule')}-{target_id}"


@_shapes("aws:cloudwatch/logGroup:LogGroup")
def _log_group(m: Shaping) -> str:
    m.state["arn"] = m.arn("logs", f"log-group:{m.state['name']}")
    return str(m.state["name"])


@_shapes("aws:cloudwatch/dashboard:Dashboard")
def _dashboard(m: Shaping) -> str:
    # Dashboards are global: their ARN has no region, and it is the dashboardArn output.
    name = str(m.state["dashboardName"])
    m.state["dashboardArn"] = m.global_arn("cloudwatch", f"dashboard/{name}")
    return name


@_shapes("aws:cloudwatch/metricAlarm:MetricAlarm")
def _metric_alarm(m: Shaping) -> str:
    m.state["arn"] = m.arn("cloudwatch", f"alarm:{m.state['name']}")
    return str(m.state["name"])


@_shapes("aws:rds/instance:Instance")
def _db_instance(m: Shaping) -> str:
    s, name = m.state, m.name
    ident = s.get("identifier") or s.get("name") or f"{name}-{_hex(name, 7)}"
    resource_id = f"db-{_alnum(name, 26)}"
    s.update(
        identifier=ident,
        resourceId=resource_id,
        arn=m.arn("rds", f"db:{ident}"),
        address=f"{ident}.{_hex(name, 12)}.{m.region}.rds.amazonaws.com",
        port=int(s.get("port", 5432)),
        masterUserSecrets=[
            {
                "secretArn": m.arn(
                    "secretsmanager", f"secret:rds!db-{_uuid(name)}-{_alnum(name, 6, 'm')}"
                ),
                "secretStatus": "active",
                "kmsKeyId": s.get("masterUserSecretKmsKeyId", ""),
            }
        ],
    )
    s["endpoint"] = f"{s['address']}:{s['port']}"
    return resource_id


@_shapes("aws:rds/parameterGroup:ParameterGroup")
def _parameter_group(m: Shaping) -> str:
    m.state["arn"] = m.arn("rds", f"pg:{m.state['name']}")
    return str(m.state["name"])


@_shapes("aws:rds/subnetGroup:SubnetGroup")
def _subnet_group(m: Shaping) -> str:
    m.state["arn"] = m.arn("rds", f"subgrp:{m.state['name']}")
    return str(m.state["name"])


@_shapes("aws:ecr/repository:Repository")
def _repository(m: Shaping) -> str:
    s = m.state
    s.update(
        arn=m.arn("ecr", f"repository/{s['name']}"),
        repositoryUrl=f"{ACCOUNT}.dkr.ecr.{m.region}.amazonaws.com/{s['name']}",
        registryId=ACCOUNT,
    )
    return str(s["name"])


@_shapes("aws:ecs/cluster:Cluster")
def _cluster(m: Shaping) -> str:
    m.state["arn"] = m.arn("ecs", f"cluster/{m.state['name']}")
    return str(m.state["arn"])


@_shapes("aws:ecs/taskDefinition:TaskDefinition")
def _task_definition(m: Shaping) -> str:
    family = m.state.get("family")
    m.state.update(
        revision=1,
        arn=m.arn("ecs", f"task-definition/{family}:1"),
        arnWithoutRevision=m.arn("ecs", f"task-definition/{family}"),
    )
    return str(family)


@_shapes("aws:ecs/service:Service")
def _ecs_service(m: Shaping) -> str:
    cluster = str(m.state.get("cluster") or "default").rsplit("/", 1)[-1]
    m.state["arn"] = m.arn("ecs", f"service/{cluster}/{m.state['name']}")
    return str(m.state["arn"])


@_shapes("aws:lb/loadBalancer:LoadBalancer")
def _load_balancer(m: Shaping) -> str:
    s, name = m.state, m.name
    lb_name = s["name"]
    s.update(
        arn=m.arn("elasticloadbalancing", f"loadbalancer/app/{lb_name}/{_hex(name, 16)}"),
        arnSuffix=f"app/{lb_name}/{_hex(name, 16)}",
        dnsName=("internal-" if s.get("internal") else "")
        + f"{lb_name}-{int(_hex(name, 8), 16) % 10**10}.{m.region}.elb.amazonaws.com",
        zoneId="Z32O12XQLNTSW2",
    )
    return str(s["arn"])


@_shapes("aws:lb/targetGroup:TargetGroup")
def _target_group(m: Shaping) -> str:
    s = m.state
    s.update(
        arn=m.arn("elasticloadbalancing", f"targetgroup/{s['name']}/{_hex(m.name, 16)}"),
        arnSuffix=f"targetgroup/{s['name']}/{_hex(m.name, 16)}",
    )
    return str(s["arn"])


@_shapes("aws:lb/listener:Listener")
def _listener(m: Shaping) -> str:
    lb = str(m.state.get("loadBalancerArn", "")).split("loadbalancer/", 1)[-1]
    m.state["arn"] = m.arn("elasticloadbalancing", f"listener/{lb}/{_hex(m.name, 16)}")
    return str(m.state["arn"])


@_shapes("aws:lb/listenerRule:ListenerRule")
def _listener_rule(m: Shaping) -> str:
    listener = str(m.state.get("listenerArn", "")).split("listener/", 1)[-1]
    m.state["arn"] = m.arn("elasticloadbalancing", f"listener-rule/{listener}/{_hex(m.name, 16)}")
    return str(m.state["arn"])


@_shapes("aws:appautoscaling/target:Target")
def _scalable_target(m: Shaping) -> str:
    m.state["arn"] = m.arn(
        "application-autoscaling", f"scalable-target/{_alnum(m.name, 36).lower()}"
    )
    return str(m.state.get("resourceId"))


@_shapes("aws:appautoscaling/policy:Policy")
def _scaling_policy(m: Shaping) -> str:
    s = m.state
    s["arn"] = m.arn(
        "autoscaling",
        f"scalingPolicy:{_uuid(m.name)}:resource/{s.get('serviceNamespace')}/"
        f"{s.get('resourceId')}:policyName/{s['name']}",
    )
    return str(s["name"])


@_shapes("aws:apprunner/service:Service")
def _apprunner_service(m: Shaping) -> str:
    sid = _hex(m.name, 32)
    m.state.update(
        serviceId=sid,
        arn=m.arn("apprunner", f"service/{m.state.get('serviceName')}/{sid}"),
        serviceUrl=f"{_alnum(m.name, 10).lower()}.{m.region}.awsapprunner.com",
    )
    return str(m.state["arn"])


@_shapes("aws:apprunner/customDomainAssociation:CustomDomainAssociation")
def _apprunner_domain(m: Shaping) -> str:
    s, name = m.state, m.name
    s.update(
        dnsTarget=f"{_alnum(name, 10).lower()}.{m.region}.awsapprunner.com",
        certificateValidationRecords=[
            {
                "name": f"_{_hex(name, 32)}.{s.get('domainName')}.",
                "type": "CNAME",
                "value": f"_{_hex(name, 32, 'v')}.acm-validations.aws.",
                "status": "PENDING_VALIDATION",
            }
        ],
    )
    return f"{s.get('domainName')},{s.get('serviceArn')}"


# App Runner configurations: the ARN's resource type and the prefix of the name input.
_APPRUNNER_CONFIGURATIONS = {
    "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion": (
        "autoscalingconfiguration",
        "autoScaling",
    ),
    "aws:apprunner/observabilityConfiguration:ObservabilityConfiguration": (
        "observabilityconfiguration",
        "observability",
    ),
    "aws:apprunner/vpcConnector:VpcConnector": ("vpcconnector", "vpcConnector"),
}


@_shapes(*_APPRUNNER_CONFIGURATIONS)
def _apprunner_configuration(m: Shaping) -> str:
    s = m.state
    kind, field_prefix = _APPRUNNER_CONFIGURATIONS[m.typ]
    own_name = s.get(f"{field_prefix}ConfigurationName") or s.get(f"{field_prefix}Name")
    s["arn"] = m.arn("apprunner", f"{kind}/{own_name}/1/{_hex(m.name, 32)}")
    return str(s["arn"])


@_shapes("aws:acm/certificate:Certificate")
def _certificate(m: Shaping) -> str:
    s, name = m.state, m.name
    s.update(
        arn=m.arn("acm", f"certificate/{_uuid(name)}"),
        domainValidationOptions=[
            {
                "domainName": s.get("domainName"),
                "resourceRecordName": f"_{_hex(name, 32)}.{s.get('domainName')}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_hex(name, 32, 'v')}.acm-validations.aws.",
            }
        ],
    )
    return str(s["arn"])


@_shapes("aws:acm/certificateValidation:CertificateValidation")
def _certificate_validation(m: Shaping) -> str:
    return "0001-01-01 00:00:00 +0000 UTC"


@_shapes("aws:cloudfront/distribution:Distribution")
def _distribution(m: Shaping) -> str:
    did = f"E{_alnum(m.name, 13)}"
    m.state.update(
        arn=m.global_arn("cloudfront", f"distribution/{did}"),
        domainName=f"d{_alnum(m.name, 13).lower()}.cloudfront.net",
        hostedZoneId="Z2FDTNDATAQYW2",
    )
    return did


@_shapes("aws:cloudfront/vpcOrigin:VpcOrigin")
def _vpc_origin(m: Shaping) -> str:
    vid = f"vo_{_alnum(m.name, 22)}"
    m.state["arn"] = m.global_arn("cloudfront", f"vpcorigin/{vid}")
    return vid


@_shapes("aws:route53/record:Record")
def _record(m: Shaping) -> str:
    s = m.state
    s["fqdn"] = str(s.get("name", "")).rstrip(".")
    return f"{s.get('zoneId')}_{s['fqdn']}_{s.get('type')}"


@_shapes("aws:wafv2/webAcl:WebAcl")
def _web_acl(m: Shaping) -> str:
    acl_id = _uuid(m.name)
    scope = "global" if m.state.get("scope") == "CLOUDFRONT" else "regional"
    m.state["arn"] = m.arn("wafv2", f"{scope}/webacl/{m.state['name']}/{acl_id}")
    return acl_id


@_shapes("aws:wafv2/webAclAssociation:WebAclAssociation")
def _web_acl_association(m: Shaping) -> str:
    return f"{m.state.get('webAclArn')},{m.state.get('resourceArn')}"


@_shapes("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")
def _malware_plan(m: Shaping) -> str:
    plan_id = _alnum(m.name, 20).lower()
    m.state["arn"] = m.arn("guardduty", f"malware-protection-plan/{plan_id}")
    return plan_id


class _Mocks(pulumi.runtime.Mocks):
    """Outputs shaped like AWS's (ARN and id formats per resource type, in the region of the
    resource's provider and that region's partition), so joins by ARN, id and name work as they
    would for real. tests/infra/test_mock_shapes.py holds each format beside AWS's
    documentation."""

    def __init__(self, region: str, shapers: Mapping[str, Shaper] = SHAPERS) -> None:
        self.region = region
        self.partition = partition_of(region)
        self.shapers = shapers
        self.provider_regions: dict[str, str] = {}

    # Pulumi calls these two.
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == "pulumi:providers:aws" and state.get("region"):
            self.provider_regions[name] = state["region"]
        region = self.region
        if args.provider:
            # A provider reference is "<provider urn>::<provider id>"; the urn ends in its name.
            provider_name = args.provider.split("::")[-2]
            region = self.provider_regions.get(provider_name, self.region)
        return self._shape(typ, name, state, region)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        invoked = args.token
        partition = self.partition
        if invoked == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{c}" for c in "abc"]
            return {"names": names, "zoneIds": [f"zone-{n}" for n in names], "id": self.region}, []
        if invoked == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:{partition}:sts::{ACCOUNT}:assumed-role/deployer/session",
                "userId": "AROAEXAMPLEDEPLOYER01:session",
                "id": ACCOUNT,
            }, []
        if invoked == "aws:index/getPartition:getPartition":
            china = partition == "aws-cn"
            return {
                "partition": partition,
                "dnsSuffix": "amazonaws.com.cn" if china else "amazonaws.com",
                "reverseDnsPrefix": "cn.com.amazonaws" if china else "com.amazonaws",
                "id": partition,
            }, []
        if invoked == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []

    def _shape(
        self, typ: str, name: str, s: dict[str, Any], region: str
    ) -> tuple[str, dict[str, Any]]:
        rid = f"{name}-{_suffix(name)}"
        if typ.startswith("pulumi:providers:") or typ.startswith(f"{PROJECT}:"):
            return rid, s  # providers and components: no cloud state of their own
        if typ.startswith("random:"):
            s["result"] = f"offline-random-{name}"
            if typ == "random:index/randomId:RandomId":
                s.update(hex=_hex(name, 2 * int(s.get("byteLength", 4))), b64Url=name)
            return rid, s
        if "name" not in s and _takes_name(typ):
            s["name"] = f"{name}-{_hex(name, 7)}"  # what Pulumi's autonaming would give it
        shaper = self.shapers.get(typ)
        if shaper is None:
            raise ValueError(
                f"offline mocks: no AWS shape for {typ}; add its documented ARN and id format to "
                "infra/offline.py and tests/infra/test_mock_shapes.py"
            )
        return shaper(Shaping(typ, name, s, region, partition_of(region))), s


class _CaptureMonitor(MockMonitor):
    """Records each registration's propertyDependencies beside the mock's state."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.order: list[str] = []
        self.dependencies: dict[str, dict[str, list[str]]] = {}
        self.types: dict[str, tuple[str, str]] = {}
        self.depends_on: dict[str, list[str]] = {}
        self.providers: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        urn = response.urn
        if request.type not in SKIP_TYPES and urn not in self.types:
            self.order.append(urn)
            self.types[urn] = (request.type, request.name)
            self.depends_on[urn] = list(request.dependencies)
            self.providers[urn] = request.provider
            self.dependencies[urn] = {
                k: list(v.urns) for k, v in request.propertyDependencies.items() if v.urns
            }
        return response


def run_offline(
    build: Callable[[], object],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    region: str,
) -> list[dict[str, Any]]:
    """Run ``build`` (a Pulumi program) under the mocks with this config, in a fresh thread, and
    return every resource it registered as ``{type, name, urn, id, props, propertyDependencies,
    dependencies, provider}``. Both projects (this one and ``infra/ci_access``) run through here.
    """
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = _run(build, project, stack, config, secret_keys, region)
        except BaseException as e:  # noqa: BLE001 - handed back to the calling thread
            result["error"] = e

    t = threading.Thread(target=run, name=f"capture-{project}-{stack}")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    resources: list[dict[str, Any]] = result["value"]
    return resources


def _run(
    build: Callable[[], object],
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    region: str,
) -> list[dict[str, Any]]:
    from pulumi.runtime.stack import run_pulumi_func

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(dict(config), secret_keys)
        mocks = _Mocks(region)
        monitor = _CaptureMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=project, stack=stack, preview=False, monitor=monitor
        )

        def program() -> None:
            build()

        loop.run_until_complete(run_pulumi_func(program))
        out = []
        for urn in monitor.order:
            typ, name = monitor.types[urn]
            reg = monitor.resources.get(urn)
            out.append(
                {
                    "type": typ,
                    "name": name,
                    "urn": urn,
                    "id": reg.id if reg else "",
                    "props": _plain(reg.state if reg else {}),
                    "propertyDependencies": monitor.dependencies.get(urn, {}),
                    "dependencies": monitor.depends_on.get(urn, []),
                    "provider": monitor.providers.get(urn, ""),
                }
            )
        return out
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def _plain(v: Any) -> Any:
    """Resolved state as plain JSON values (secret wrappers and resource references unwrapped)."""
    if isinstance(v, dict):
        if v.get(_SIG_KEY) == _SECRET_SIG and "value" in v:
            return _plain(v["value"])  # a secret, resolved: offline values are placeholders
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, pulumi.Resource):
        return getattr(v, "_name", str(v))
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def capture_stack(
    stack: str, *, with_image: bool = True, stacks_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Every resource of ``stack`` as ``{type, name, urn, id, props, propertyDependencies}``.

    ``with_image=False`` renders the image-less first phase of a first deploy."""
    from . import program

    typed, flat, secret_keys = stack_settings(stack, with_image, stacks_dir)
    return run_offline(
        lambda: program.build(typed),
        project=PROJECT,
        stack=stack,
        config=flat,
        secret_keys=secret_keys,
        region=typed.region,
    )

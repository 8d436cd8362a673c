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
from pathlib import Path
from typing import Any

import yaml

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


def stack_settings(stack: str, with_image: bool, stacks_dir: Path | None = None):
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
    import inspect

    from .tags import resource_class

    cls = resource_class(token)
    return cls is not None and "name" in inspect.signature(cls._internal_init).parameters


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


class _Mocks:
    """Outputs shaped like AWS's (ARN and id formats per resource type, in the region of the
    resource's provider), so joins by ARN, id and name work as they would for real.
    tests/infra/test_mock_shapes.py holds each format beside AWS's documentation."""

    def __init__(self, region: str):
        self.region = region
        self.provider_regions: dict[str, str] = {}

    # Pulumi calls these two.
    def new_resource(self, args) -> tuple[str, dict]:
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

    def call(self, args) -> tuple[dict, list]:
        invoked = args.token
        if invoked == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{c}" for c in "abc"]
            return {"names": names, "zoneIds": [f"zone-{n}" for n in names], "id": self.region}, []
        if invoked == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/session",
                "userId": "AROAEXAMPLEDEPLOYER01:session",
                "id": ACCOUNT,
            }, []
        if invoked == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if invoked == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []

    def register_transform(self, transform) -> None:  # pragma: no cover - interface only
        return None

    def register_invoke_transform(self, transform) -> None:  # pragma: no cover
        return None

    def _shape(self, typ: str, name: str, s: dict, r: str) -> tuple[str, dict]:  # noqa: C901, PLR0911, PLR0912, PLR0915 - one branch per resource type
        sx = _suffix(name)
        rid = f"{name}-{sx}"

        def arn(service: str, resource: str, region: str | None = r) -> str:
            return f"arn:aws:{service}:{region or ''}:{ACCOUNT}:{resource}"

        if typ.startswith("pulumi:providers:") or typ.startswith(f"{PROJECT}:"):
            return rid, s  # providers and components: no cloud state of their own
        if typ.startswith("random:"):
            s["result"] = f"offline-random-{name}"
            if typ == "random:index/randomId:RandomId":
                s.update(hex=_hex(name, 2 * int(s.get("byteLength", 4))), b64Url=name)
            return rid, s
        physical = s.get("name") or f"{name}-{_hex(name, 7)}"
        if "name" not in s and _takes_name(typ):
            s["name"] = physical  # what Pulumi's autonaming would give it
        if typ in _EC2:
            prefix, kind = _EC2[typ]
            ident = f"{prefix}-0{_hex(name, 16)}"
            if kind is not None:
                s["arn"] = arn("ec2", f"{kind}/{ident}")
            if typ.endswith("SecurityGroupIngressRule") or typ.endswith("SecurityGroupEgressRule"):
                s["securityGroupRuleId"] = ident
            if typ == "aws:ec2/eip:Eip":
                s.update(allocationId=ident, publicIp=f"203.0.113.{int(_hex(name, 2), 16) % 250}")
            if typ == "aws:ec2/securityGroup:SecurityGroup":
                s["ownerId"] = ACCOUNT
            return ident, s
        if typ == "aws:ec2/route:Route":
            return f"r-{s.get('routeTableId')}1080289494", s
        if typ in _ID_FROM_INPUT:
            return str(s.get(_ID_FROM_INPUT[typ]) or rid), s
        if typ == "aws:s3/bucket:Bucket":
            bucket = s.get("bucket") or f"{name}-{_hex(name, 16)}"
            s.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{r}.amazonaws.com",
                region=r,
            )
            return bucket, s
        if typ == "aws:iam/role:Role":
            s["arn"] = f"arn:aws:iam::{ACCOUNT}:role{s.get('path') or '/'}{s['name']}"
            s["uniqueId"] = f"AROA{_alnum(name, 17)}"
            return s["name"], s
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return f"{s.get('role')}:{s['name']}", s
        if typ == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            return f"{s.get('role')}-{_hex(name, 26)}", s
        if typ == "aws:secretsmanager/secret:Secret":
            s["arn"] = arn("secretsmanager", f"secret:{s['name']}-{_alnum(name, 6)}")
            return s["arn"], s
        if typ == "aws:secretsmanager/secretVersion:SecretVersion":
            s["versionId"] = _uuid(name)
            s["arn"] = s.get("secretId")
            return f"{s.get('secretId')}|{s['versionId']}", s
        if typ == "aws:kms/key:Key":
            key_id = _uuid(name)
            s.update(keyId=key_id, arn=arn("kms", f"key/{key_id}"))
            return key_id, s
        if typ == "aws:kms/alias:Alias":
            s.update(
                arn=arn("kms", s["name"]), targetKeyArn=arn("kms", f"key/{s.get('targetKeyId')}")
            )
            return s["name"], s
        if typ == "aws:lambda/function:Function":
            fn_arn = arn("lambda", f"function:{s['name']}")
            s.update(
                arn=fn_arn,
                qualifiedArn=f"{fn_arn}:$LATEST",
                version="$LATEST",
                invokeArn=(
                    f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{fn_arn}/invocations"
                ),
            )
            return s["name"], s
        if typ == "aws:lambda/invocation:Invocation":
            s["result"] = json.dumps({"action": "migrate", "roles": [], "applied": []})
            return f"{s.get('functionName')}_$LATEST_{_hex(name, 32)}", s
        if typ == "aws:lambda/permission:Permission":
            return str(s.get("statementId") or f"terraform-{_hex(name, 26)}"), s
        if typ == "aws:sqs/queue:Queue":
            url = f"https://sqs.{r}.amazonaws.com/{ACCOUNT}/{s['name']}"
            s.update(arn=arn("sqs", s["name"]), url=url)
            return url, s
        if typ == "aws:sns/topic:Topic":
            s["arn"] = arn("sns", s["name"])
            return s["arn"], s
        if typ == "aws:sns/topicSubscription:TopicSubscription":
            s["arn"] = f"{s.get('topic')}:{_uuid(name)}"
            return s["arn"], s
        if typ == "aws:cloudwatch/eventRule:EventRule":
            s["arn"] = arn("events", f"rule/{s['name']}")
            return s["name"], s
        if typ == "aws:cloudwatch/eventTarget:EventTarget":
            target_id = s.get("targetId") or f"terraform-{_hex(name, 26)}"
            s["targetId"] = target_id
            return f"{s.get('rule')}-{target_id}", s
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            s["arn"] = arn("logs", f"log-group:{s['name']}")
            return s["name"], s
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            s["arn"] = arn("cloudwatch", f"alarm:{s['name']}")
            return s["name"], s
        if typ == "aws:rds/instance:Instance":
            ident = s.get("identifier") or physical
            resource_id = f"db-{_alnum(name, 26)}"
            s.update(
                identifier=ident,
                resourceId=resource_id,
                arn=arn("rds", f"db:{ident}"),
                address=f"{ident}.{_hex(name, 12)}.{r}.rds.amazonaws.com",
                port=int(s.get("port", 5432)),
                masterUserSecrets=[
                    {
                        "secretArn": arn(
                            "secretsmanager", f"secret:rds!db-{_uuid(name)}-{_alnum(name, 6, 'm')}"
                        ),
                        "secretStatus": "active",
                        "kmsKeyId": s.get("masterUserSecretKmsKeyId", ""),
                    }
                ],
            )
            s["endpoint"] = f"{s['address']}:{s['port']}"
            return resource_id, s
        if typ == "aws:rds/parameterGroup:ParameterGroup":
            s["arn"] = arn("rds", f"pg:{s['name']}")
            return s["name"], s
        if typ == "aws:rds/subnetGroup:SubnetGroup":
            s["arn"] = arn("rds", f"subgrp:{s['name']}")
            return s["name"], s
        if typ == "aws:ecr/repository:Repository":
            s.update(
                arn=arn("ecr", f"repository/{s['name']}"),
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{r}.amazonaws.com/{s['name']}",
                registryId=ACCOUNT,
            )
            return s["name"], s
        if typ == "aws:ecs/cluster:Cluster":
            s["arn"] = arn("ecs", f"cluster/{s['name']}")
            return s["arn"], s
        if typ == "aws:ecs/taskDefinition:TaskDefinition":
            s.update(
                revision=1,
                arn=arn("ecs", f"task-definition/{s.get('family')}:1"),
                arnWithoutRevision=arn("ecs", f"task-definition/{s.get('family')}"),
            )
            return str(s.get("family")), s
        if typ == "aws:ecs/service:Service":
            cluster = str(s.get("cluster") or "default").rsplit("/", 1)[-1]
            s["arn"] = arn("ecs", f"service/{cluster}/{s['name']}")
            return s["arn"], s
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            lb_name = s["name"]
            s.update(
                arn=arn("elasticloadbalancing", f"loadbalancer/app/{lb_name}/{_hex(name, 16)}"),
                arnSuffix=f"app/{lb_name}/{_hex(name, 16)}",
                dnsName=("internal-" if s.get("internal") else "")
                + f"{lb_name}-{int(_hex(name, 8), 16) % 10**10}.{r}.elb.amazonaws.com",
                zoneId="Z32O12XQLNTSW2",
            )
            return s["arn"], s
        if typ == "aws:lb/targetGroup:TargetGroup":
            s.update(
                arn=arn("elasticloadbalancing", f"targetgroup/{s['name']}/{_hex(name, 16)}"),
                arnSuffix=f"targetgroup/{s['name']}/{_hex(name, 16)}",
            )
            return s["arn"], s
        if typ == "aws:lb/listener:Listener":
            lb = str(s.get("loadBalancerArn", "")).split("loadbalancer/", 1)[-1]
            s["arn"] = arn("elasticloadbalancing", f"listener/{lb}/{_hex(name, 16)}")
            return s["arn"], s
        if typ == "aws:lb/listenerRule:ListenerRule":
            listener = str(s.get("listenerArn", "")).split("listener/", 1)[-1]
            s["arn"] = arn("elasticloadbalancing", f"listener-rule/{listener}/{_hex(name, 16)}")
            return s["arn"], s
        if typ == "aws:appautoscaling/target:Target":
            rid_ = str(s.get("resourceId"))
            s["arn"] = arn("application-autoscaling", f"scalable-target/{_alnum(name, 36).lower()}")
            return rid_, s
        if typ == "aws:appautoscaling/policy:Policy":
            s["arn"] = arn(
                "autoscaling",
                f"scalingPolicy:{_uuid(name)}:resource/{s.get('serviceNamespace')}/"
                f"{s.get('resourceId')}:policyName/{s['name']}",
            )
            return s["name"], s
        if typ == "aws:apprunner/service:Service":
            sid = _hex(name, 32)
            s.update(
                serviceId=sid,
                arn=arn("apprunner", f"service/{s.get('serviceName')}/{sid}"),
                serviceUrl=f"{_alnum(name, 10).lower()}.{r}.awsapprunner.com",
            )
            return s["arn"], s
        if typ == "aws:apprunner/customDomainAssociation:CustomDomainAssociation":
            s.update(
                dnsTarget=f"{_alnum(name, 10).lower()}.{r}.awsapprunner.com",
                certificateValidationRecords=[
                    {
                        "name": f"_{_hex(name, 32)}.{s.get('domainName')}.",
                        "type": "CNAME",
                        "value": f"_{_hex(name, 32, 'v')}.acm-validations.aws.",
                        "status": "PENDING_VALIDATION",
                    }
                ],
            )
            return f"{s.get('domainName')},{s.get('serviceArn')}", s
        if typ.startswith("aws:apprunner/"):
            names = {
                "AutoScalingConfigurationVersion": ("autoscalingconfiguration", "autoScaling"),
                "ObservabilityConfiguration": ("observabilityconfiguration", "observability"),
                "VpcConnector": ("vpcconnector", "vpcConnector"),
            }
            kind, field_prefix = names[typ.rsplit(":", 1)[-1]]
            own_name = s.get(f"{field_prefix}ConfigurationName") or s.get(f"{field_prefix}Name")
            s["arn"] = arn("apprunner", f"{kind}/{own_name}/1/{_hex(name, 32)}")
            return s["arn"], s
        if typ == "aws:acm/certificate:Certificate":
            s.update(
                arn=arn("acm", f"certificate/{_uuid(name)}"),
                domainValidationOptions=[
                    {
                        "domainName": s.get("domainName"),
                        "resourceRecordName": f"_{_hex(name, 32)}.{s.get('domainName')}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{_hex(name, 32, 'v')}.acm-validations.aws.",
                    }
                ],
            )
            return s["arn"], s
        if typ == "aws:acm/certificateValidation:CertificateValidation":
            return "0001-01-01 00:00:00 +0000 UTC", s
        if typ == "aws:cloudfront/distribution:Distribution":
            did = f"E{_alnum(name, 13)}"
            s.update(
                arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{did}",
                domainName=f"d{_alnum(name, 13).lower()}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
            )
            return did, s
        if typ == "aws:cloudfront/vpcOrigin:VpcOrigin":
            vid = f"vo_{_alnum(name, 22)}"
            s["arn"] = f"arn:aws:cloudfront::{ACCOUNT}:vpcorigin/{vid}"
            return vid, s
        if typ == "aws:route53/record:Record":
            s["fqdn"] = str(s.get("name", "")).rstrip(".")
            return f"{s.get('zoneId')}_{s['fqdn']}_{s.get('type')}", s
        if typ == "aws:wafv2/webAcl:WebAcl":
            acl_id = _uuid(name)
            scope = "global" if s.get("scope") == "CLOUDFRONT" else "regional"
            s["arn"] = arn("wafv2", f"{scope}/webacl/{s['name']}/{acl_id}")
            return acl_id, s
        if typ == "aws:wafv2/webAclAssociation:WebAclAssociation":
            return f"{s.get('webAclArn')},{s.get('resourceArn')}", s
        if typ == "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan":
            plan_id = _alnum(name, 20).lower()
            s["arn"] = arn("guardduty", f"malware-protection-plan/{plan_id}")
            return plan_id, s
        raise ValueError(
            f"offline mocks: no AWS shape for {typ}; add its documented ARN and id format to "
            "infra/offline.py and tests/infra/test_mock_shapes.py"
        )


def _monitor_class():
    from pulumi.runtime.mocks import MockMonitor

    class CaptureMonitor(MockMonitor):
        """Records each registration's propertyDependencies beside the mock's state."""

        def __init__(self, mocks):
            super().__init__(mocks)
            self.order: list[str] = []
            self.dependencies: dict[str, dict[str, list[str]]] = {}
            self.types: dict[str, tuple[str, str]] = {}
            self.depends_on: dict[str, list[str]] = {}
            self.providers: dict[str, str] = {}

        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
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

    return CaptureMonitor


def _run(stack: str, with_image: bool, result: dict, stacks_dir: Path | None) -> None:
    try:
        result["value"] = _capture(stack, with_image, stacks_dir)
    except BaseException as e:  # noqa: BLE001 - handed back to the calling thread
        result["error"] = e


def _capture(stack: str, with_image: bool, stacks_dir: Path | None) -> list[dict]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func

    from . import program

    typed, flat, secret_keys = stack_settings(stack, with_image, stacks_dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(flat, secret_keys)
        mocks = _Mocks(typed.region)
        monitor = _monitor_class()(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor
        )
        loop.run_until_complete(run_pulumi_func(lambda: program.build(typed)))
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
    import pulumi

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
) -> list[dict]:
    """Every resource of ``stack`` as ``{type, name, urn, id, props, propertyDependencies}``.

    ``with_image=False`` renders the image-less first phase of a first deploy."""
    result: dict[str, Any] = {}
    t = threading.Thread(
        target=_run, args=(stack, with_image, result, stacks_dir), name=f"capture-{stack}"
    )
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]

"""Run the real program offline, under Pulumi's mocks: no cloud, no CLI.

``capture_stack(stack)`` returns ``[{type, name, urn, id, props, propertyDependencies,
dependencies}]`` (``dependencies``: every URN the resource waits for, ``depends_on`` included).
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


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


class _Mocks:
    """Outputs shaped like AWS's, so joins by ARN, id and name work as they would for real."""

    def __init__(self, region: str):
        self.region = region

    # Pulumi calls these two.
    def new_resource(self, args) -> tuple[str, dict]:
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        return self._shape(typ, name, state)

    def call(self, args) -> tuple[dict, list]:
        invoked = args.token
        if invoked == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{c}" for c in "abc"]
            return {"names": names, "zoneIds": [f"zone-{n}" for n in names], "id": self.region}, []
        if invoked == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/deployer",
                "userId": "AROAEXAMPLE",
                "id": ACCOUNT,
            }, []
        if invoked == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []

    def register_transform(self, transform) -> None:  # pragma: no cover - interface only
        return None

    def register_invoke_transform(self, transform) -> None:  # pragma: no cover
        return None

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{ACCOUNT}:{resource}"

    def _shape(self, typ: str, name: str, s: dict) -> tuple[str, dict]:
        r, sx = self.region, _suffix(name)
        physical = s.get("name") or f"{name}-{sx}"
        rid = f"{name}-{sx}"
        if typ.startswith("pulumi:providers:") or typ.startswith(f"{PROJECT}:"):
            return rid, s  # providers and components: no cloud state of their own
        if "name" not in s and _takes_name(typ):
            s["name"] = physical  # what Pulumi's autonaming would give it
        if typ == "aws:s3/bucket:Bucket":
            bucket = s.get("bucket") or f"{name}-{sx}"
            s.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                region=r,
            )
            return bucket, s
        if typ == "aws:iam/role:Role":
            s.setdefault("name", physical)
            s["arn"] = f"arn:aws:iam::{ACCOUNT}:role{s.get('path') or '/'}{s['name']}"
            s["uniqueId"] = f"AROA{sx.upper()}"
            return s["name"], s
        if typ == "aws:iam/rolePolicy:RolePolicy":
            s.setdefault("name", physical)
            return f"{s.get('role')}:{s['name']}", s
        if typ == "aws:secretsmanager/secret:Secret":
            s.setdefault("name", physical)
            s["arn"] = self._arn("secretsmanager", f"secret:{s['name']}-{sx[:6]}")
            return s["arn"], s
        if typ == "aws:secretsmanager/secretVersion:SecretVersion":
            s["versionId"] = f"v-{sx}"
            s["arn"] = s.get("secretId")
            return f"{s.get('secretId')}|v-{sx}", s
        if typ == "aws:kms/key:Key":
            s.update(keyId=f"key-{sx}", arn=self._arn("kms", f"key/key-{sx}"))
            return s["keyId"], s
        if typ == "aws:lambda/function:Function":
            s.setdefault("name", physical)
            arn = self._arn("lambda", f"function:{s['name']}")
            s.update(
                arn=arn,
                qualifiedArn=f"{arn}:$LATEST",
                invokeArn=f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{arn}/invocations",
            )
            return s["name"], s
        if typ == "aws:lambda/invocation:Invocation":
            s["result"] = json.dumps({"action": "migrate", "roles": [], "applied": []})
            return rid, s
        if typ == "aws:sqs/queue:Queue":
            s.setdefault("name", physical)
            url = f"https://sqs.{r}.amazonaws.com/{ACCOUNT}/{s['name']}"
            s.update(arn=self._arn("sqs", s["name"]), url=url)
            return url, s
        if typ == "aws:cloudwatch/eventRule:EventRule":
            s.setdefault("name", physical)
            s["arn"] = self._arn("events", f"rule/{s['name']}")
            return s["name"], s
        if typ == "aws:rds/instance:Instance":
            ident = s.get("identifier") or physical
            s.update(
                identifier=ident,
                arn=self._arn("rds", f"db:{ident}"),
                address=f"{ident}.c0ffee{sx[:6]}.{r}.rds.amazonaws.com",
                port=s.get("port", 5432),
                masterUserSecrets=[
                    {
                        "secretArn": self._arn("secretsmanager", f"secret:rds!db-{sx}-AbCdEf"),
                        "secretStatus": "active",
                        "kmsKeyId": s.get("masterUserSecretKmsKeyId", ""),
                    }
                ],
            )
            s["endpoint"] = f"{s['address']}:{s['port']}"
            return ident, s
        if typ == "aws:ecr/repository:Repository":
            s.setdefault("name", physical)
            s.update(
                arn=self._arn("ecr", f"repository/{s['name']}"),
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{r}.amazonaws.com/{s['name']}",
                registryId=ACCOUNT,
            )
            return s["name"], s
        if typ == "aws:apprunner/service:Service":
            sid = sx * 4
            s.update(
                serviceId=sid[:32],
                arn=self._arn("apprunner", f"service/{s.get('serviceName')}/{sid[:32]}"),
                serviceUrl=f"{sx}.{r}.awsapprunner.com",
            )
            s["serviceArn"] = s["arn"]
            return s["arn"], s
        if typ.startswith("aws:apprunner/"):
            kind = typ.rsplit(":", 1)[-1]
            s["arn"] = self._arn("apprunner", f"{kind.lower()}/{name}/1/{sx}")
            if kind == "CustomDomainAssociation":
                s.update(
                    dnsTarget=f"{sx}.{r}.awsapprunner.com",
                    certificateValidationRecords=[
                        {
                            "name": f"_{sx}.{s.get('domainName')}.",
                            "type": "CNAME",
                            "value": f"_{sx}.acm-validations.aws.",
                            "status": "PENDING_VALIDATION",
                        }
                    ],
                )
            return s["arn"], s
        if typ == "aws:ecs/expressGatewayService:ExpressGatewayService":
            s.update(
                serviceArn=self._arn("ecs", f"service/{s.get('cluster')}/{s.get('serviceName')}"),
                ingressPaths=[
                    {
                        "accessType": "PUBLIC",
                        "endpoint": f"https://{s.get('serviceName')}-{sx}.ecs.{r}.on.aws",
                    }
                ],
            )
            return s["serviceArn"], s
        if typ == "aws:acm/certificate:Certificate":
            s.update(
                arn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{sx}",
                domainValidationOptions=[
                    {
                        "domainName": s.get("domainName"),
                        "resourceRecordName": f"_{sx}.{s.get('domainName')}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{sx}.acm-validations.aws.",
                    }
                ],
            )
            return s["arn"], s
        if typ == "aws:acm/certificateValidation:CertificateValidation":
            return rid, s
        if typ == "aws:cloudfront/distribution:Distribution":
            did = f"E{sx.upper()}"
            s.update(
                arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{did}",
                domainName=f"d{sx}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
            )
            return did, s
        if typ == "aws:route53/record:Record":
            s["fqdn"] = str(s.get("name", "")).rstrip(".")
            return rid, s
        if typ.startswith("random:"):
            s["result"] = f"offline-random-{name}"
            return rid, s
        if typ.startswith("aws:ec2/") or typ.startswith("aws:vpc/"):
            prefixes = {
                "Vpc": "vpc",
                "Subnet": "subnet",
                "SecurityGroup": "sg",
                "InternetGateway": "igw",
                "NatGateway": "nat",
                "Eip": "eipalloc",
                "RouteTable": "rtb",
                "VpcEndpoint": "vpce",
            }
            kind = typ.rsplit(":", 1)[-1]
            rid = f"{prefixes.get(kind, kind.lower())}-{sx}"
            s["arn"] = self._arn("ec2", f"{kind.lower()}/{rid}")
            return rid, s
        # Everything else: an ARN in the resource's service, and its name when it takes one.
        service = typ.split(":")[1].split("/")[0]
        kind = typ.rsplit(":", 1)[-1]
        s.setdefault("arn", self._arn(service, f"{kind[0].lower() + kind[1:]}/{physical}"))
        if typ in (
            "aws:sns/topic:Topic",
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:wafv2/webAcl:WebAcl",
            "aws:ecs/cluster:Cluster",
        ):
            s.setdefault("name", physical)
        if typ == "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan":
            s["arn"] = self._arn("guardduty", f"malware-protection-plan/{sx}")
        return rid, s


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

        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            urn = response.urn
            if request.type not in SKIP_TYPES and urn not in self.types:
                self.order.append(urn)
                self.types[urn] = (request.type, request.name)
                self.depends_on[urn] = list(request.dependencies)
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

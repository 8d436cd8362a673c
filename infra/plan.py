"""Offline plan: ``python -m infra.plan --stack dev [--format json] [--no-image]`` (``make plan``).

Renders the real program under Pulumi mocks with the stack's configuration and a placeholder image
tag (no cloud, no CLI), prints one line per resource -- ``<type token> <logical name>`` and its key
properties -- or ``[{type, name, props}]`` with ``--format json``, and writes the picture of the
components and their dependencies to ``docs/architecture-<stack>.svg``.

``--stack ci-access/<stack>`` renders a stack of the CI access project (``infra/ci_access``:
OIDC provider, CI roles, permissions boundary) the same way, without a picture.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import picture
from .config import ConfigError
from .offline import ROOT, capture_stack, list_stacks

CI_ACCESS = "ci-access/"


def _ci_access_stacks() -> list[str]:
    from .ci_access.offline import list_stacks as ci_stacks

    return [CI_ACCESS + s for s in ci_stacks()]


# Props worth a glance per type; everything is in --format json.
KEY_PROPS = {
    "aws:ec2/vpc:Vpc": ["cidrBlock"],
    "aws:ec2/subnet:Subnet": ["cidrBlock", "availabilityZone"],
    "aws:ec2/vpcEndpoint:VpcEndpoint": ["serviceName", "vpcEndpointType"],
    "aws:ecr/repository:Repository": ["name", "imageTagMutability", "imageScanningConfiguration"],
    "aws:secretsmanager/secret:Secret": ["name", "recoveryWindowInDays"],
    "aws:rds/instance:Instance": [
        "engine",
        "engineVersion",
        "instanceClass",
        "allocatedStorage",
        "multiAz",
        "deletionProtection",
        "backupRetentionPeriod",
        "storageEncrypted",
        "publiclyAccessible",
        "manageMasterUserPassword",
        "skipFinalSnapshot",
    ],
    "aws:rds/parameterGroup:ParameterGroup": ["family"],
    "aws:s3/bucket:Bucket": ["bucket"],
    "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan": ["actions"],
    "aws:cloudwatch/eventRule:EventRule": ["name", "eventPattern", "scheduleExpression"],
    "aws:lambda/function:Function": ["name", "packageType", "imageUri", "imageConfig", "timeout"],
    "aws:lambda/invocation:Invocation": ["input", "triggers"],
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": [
        "maximumRetryAttempts",
        "destinationConfig",
    ],
    "aws:apprunner/service:Service": [
        "serviceName",
        "instanceConfiguration",
        "healthCheckConfiguration",
    ],
    "aws:apprunner/vpcConnector:VpcConnector": ["vpcConnectorName"],
    "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion": [
        "minSize",
        "maxSize",
        "maxConcurrency",
    ],
    "aws:ecs/taskDefinition:TaskDefinition": ["family", "cpu", "memory"],
    "aws:ecs/service:Service": ["name", "desiredCount", "launchType", "networkConfiguration"],
    "aws:lb/loadBalancer:LoadBalancer": ["name", "internal", "loadBalancerType"],
    "aws:lb/targetGroup:TargetGroup": ["port", "targetType", "healthCheck"],
    "aws:cloudfront/vpcOrigin:VpcOrigin": ["vpcOriginEndpointConfig"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["metricName", "threshold"],
    "aws:wafv2/webAcl:WebAcl": ["scope"],
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ["url", "clientIdLists"],
    "aws:iam/role:Role": ["name", "permissionsBoundary"],
}


def _short(value: object) -> str:
    text = (
        json.dumps(value, sort_keys=True, separators=(",", ":"))
        if not isinstance(value, str)
        else value
    )
    return text if len(text) <= 90 else text[:87] + "..."


def render_text(resources: list[dict]) -> str:
    lines = []
    for r in resources:
        props = r["props"]
        keys = KEY_PROPS.get(r["type"], [])
        shown = " ".join(f"{k}={_short(props[k])}" for k in keys if props.get(k) is not None)
        lines.append(f"{r['type']} {r['name']}" + (f"  {shown}" if shown else ""))
    return "\n".join(lines)


def notes(resources: list[dict]) -> list[str]:
    """What the plan should say beside its resources: alarm topics nobody is subscribed to."""
    subscribed = {
        r["props"].get("topic")
        for r in resources
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    }
    return [
        f"note: alarm topic {r['props'].get('name')} ({r['name']}) has no subscriber: its alarms "
        "notify nobody; set jobapptracker:alarms.email to be told"
        for r in resources
        if r["type"] == "aws:sns/topic:Topic" and r["props"].get("arn") not in subscribed
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=__doc__)
    every_stack = [*list_stacks(), *_ci_access_stacks()]
    parser.add_argument("--stack", default="dev", help=f"one of {', '.join(every_stack)}")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--no-image",
        action="store_true",
        help="the image-less first phase (no Lambdas, no service)",
    )
    parser.add_argument(
        "--picture-dir",
        type=Path,
        default=ROOT / "docs",
        help="where to write architecture-<stack>.svg (default docs/)",
    )
    args = parser.parse_args(argv)
    if args.stack not in every_stack:
        print(f"plan: no stack {args.stack!r} ({', '.join(every_stack)})", file=sys.stderr)
        return 2
    ci_access = args.stack.startswith(CI_ACCESS)
    try:
        if ci_access:
            from .ci_access import config as ci_config
            from .ci_access.offline import capture_stack as ci_capture

            try:
                resources = ci_capture(args.stack[len(CI_ACCESS) :])
            except ci_config.ConfigError as e:
                print(f"plan: {e}", file=sys.stderr)
                return 2
        else:
            resources = capture_stack(args.stack, with_image=not args.no_image)
    except ConfigError as e:
        print(f"plan: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(
            json.dumps(
                [{"type": r["type"], "name": r["name"], "props": r["props"]} for r in resources],
                indent=1,
                sort_keys=True,
            )
        )
    else:
        print(render_text(resources))
        for note in notes(resources):
            print(note, file=sys.stderr)
        counts: dict[str, int] = {}
        for r in resources:
            counts[r["type"]] = counts.get(r["type"], 0) + 1
        aws = sum(v for k, v in counts.items() if k.startswith("aws:"))
        print(
            f"\n{len(resources)} resources ({aws} AWS) in stack {args.stack}"
            + (" (image-less phase)" if args.no_image else ""),
            file=sys.stderr,
        )
    if not args.no_image and not ci_access:
        path = picture.write(resources, args.stack, args.picture_dir)
        print(f"picture: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Lambda: no public invoke, supported runtimes, on-failure destinations, secrets as ARNs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..joins import StackView
from ..model import (
    DEFER,
    PASS_UNKNOWN,
    UNKNOWN,
    NotApplicable,
    Rule,
    as_list,
    peek,
    value,
)
from ..secretnames import is_secret_reference, secret_looking

FUNCTION = ("aws:lambda/function:Function",)
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
INVOKE_CONFIG = ("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",)
EVENT_TARGET = ("aws:cloudwatch/eventTarget:EventTarget",)
SCHEDULE = ("aws:scheduler/schedule:Schedule",)
BUCKET_NOTIFICATION = ("aws:s3/bucketNotification:BucketNotification",)
SNS_SUBSCRIPTION = ("aws:sns/topicSubscription:TopicSubscription",)

# Lambda's supported (not deprecated) managed runtimes, checked against AWS's runtime table.
SUPPORTED_RUNTIMES = (
    "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "nodejs20.x", "nodejs22.x", "nodejs24.x",
    "java11", "java17", "java21", "java25", "java8.al2",
    "dotnet8", "dotnet10",
    "ruby3.2", "ruby3.3", "ruby3.4",
    "provided.al2", "provided.al2023",
)  # fmt: skip


def check_public_invoke(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if type_ == FUNCTION_URL:
        if (value(props, "authorizationType") or "") == "NONE":
            yield "function URL with authorizationType NONE: anyone on the internet can invoke it"
        return
    principal = value(props, "principal")
    if (value(props, "functionUrlAuthType") or "") == "NONE":
        yield "permission for a function URL with auth type NONE"
    scoped = any(
        peek(props, k) not in (None, "") for k in ("sourceArn", "sourceAccount", "principalOrgId")
    )
    if principal == "*" and not scoped:
        yield (
            "principal '*' with no sourceArn/sourceAccount/principalOrgId: any AWS account can "
            "invoke"
        )
    elif isinstance(principal, str) and principal.endswith(".amazonaws.com") and not scoped:
        yield (
            f"service principal {principal} without sourceArn or sourceAccount: any account's "
            f"{principal} can invoke"
        )


def check_runtime(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if (value(props, "packageType") or "Zip") == "Image":
        raise NotApplicable("container-image function: the runtime ships in the image")
    allowed = tuple(peek(config, "allowedRuntimes") or SUPPORTED_RUNTIMES)
    runtime = value(props, "runtime")
    if runtime not in allowed:
        yield f"runtime {runtime or 'unset'} is not a supported Lambda runtime"


def _async_sources(stack: StackView) -> dict[int, tuple[Any, list[str]]]:
    """Functions an event source invokes asynchronously -> (function, [source descriptions])."""
    found: dict[int, tuple[Any, list[str]]] = {}

    def add(fn: Any, source: str) -> None:
        found.setdefault(id(fn), (fn, []))[1].append(source)

    for t in stack.of_type(*EVENT_TARGET):
        for fn in stack.refs(t, "arn", FUNCTION):
            add(fn, f"EventBridge target {t.name}")
    for s in stack.of_type(*SCHEDULE):
        for fn in stack.refs(s, "target", FUNCTION, ["target", "arn"]):
            add(fn, f"schedule {s.name}")
    for n in stack.of_type(*BUCKET_NOTIFICATION):
        if n.property_dependencies.get("lambdaFunctions"):
            for fn in stack.refs(n, "lambdaFunctions", FUNCTION):
                add(fn, f"S3 notification {n.name}")
        else:
            arns = [
                value(lf, "lambdaFunctionArn") for lf in as_list(value(n.props, "lambdaFunctions"))
            ]
            for fn in stack.of_type(*FUNCTION):
                if stack.identifiers(fn) & set(arns):
                    add(fn, f"S3 notification {n.name}")
    for sub in stack.of_type(*SNS_SUBSCRIPTION):
        if value(sub.props, "protocol") == "lambda":
            for fn in stack.refs(sub, "endpoint", FUNCTION):
                add(fn, f"SNS subscription {sub.name}")
    return found


def check_on_failure(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    if not stack.of_type(*FUNCTION):
        raise NotApplicable("no Lambda function in this stack (image-less first phase)")
    for fn, sources in _async_sources(stack).values():
        configs = stack.referrers(fn, INVOKE_CONFIG, "functionName")
        destinations = [
            peek(c.props, "destinationConfig", "onFailure", "destination") for c in configs
        ]
        if not any(d is UNKNOWN or d for d in destinations):
            via = ", ".join(sources)
            yield (
                f"function {fn.name} is invoked asynchronously ({via}) but has no "
                "FunctionEventInvokeConfig "
                "with an on-failure destination",
                fn.urn,
            )


def check_env_secrets(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    allowed = frozenset(peek(config, "allowedNames") or [])
    variables = value(props, "environment", "variables") or {}
    for name in sorted(variables):
        v = peek(variables, name)
        if secret_looking(name, allowed):
            yield (
                f"plain environment variable {name} looks like a secret; pass {name}_SECRET_ARN "
                "instead"
            )
        elif name.upper().endswith("_SECRET_ARN") and not is_secret_reference(v):
            yield f"{name} must hold a Secrets Manager ARN, not {v!r}"


RULES = [
    Rule(
        name="lambda-no-public-invoke",
        description="No Lambda permission or function URL lets the public (or any account's "
        "service) invoke a function.",
        control="Lambda.1",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Grant lambda:InvokeFunction to a specific principal with source_arn (or "
        "source_account); "
        "use AWS_IAM auth on function URLs.",
        unknown=DEFER,
        check=check_public_invoke,
        types=(PERMISSION, FUNCTION_URL),
        image_bound=True,
    ),
    Rule(
        name="lambda-supported-runtime",
        description="Zip-packaged Lambda functions use a supported runtime (image functions are "
        "not applicable).",
        control="Lambda.2",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Move to a supported runtime, or package the function as a container image.",
        unknown=DEFER,
        check=check_runtime,
        types=FUNCTION,
        config={"allowedRuntimes": {"type": "array", "items": {"type": "string"}}},
        image_bound=True,
    ),
    Rule(
        name="lambda-async-on-failure",
        description="Every function that an event source (EventBridge rule, Scheduler, S3 "
        "notification, SNS) "
        "invokes asynchronously has an on-failure destination.",
        control="JAT-LAMBDA-1",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add aws.lambda_.FunctionEventInvokeConfig(function_name=fn.name, "
        "maximum_retry_attempts=2, "
        "destination_config={'on_failure': {'destination': queue.arn}}).",
        unknown="defer: targets and invoke configs are joined through propertyDependencies during "
        "a "
        "preview; an unknown destination counts as set (it is another resource's ARN)",
        check=check_on_failure,
        kind="stack",
        image_bound=True,
    ),
    Rule(
        name="lambda-no-plain-secrets",
        description="Lambda functions have no secret-looking plain environment variables; secrets "
        "arrive as "
        "<NAME>_SECRET_ARN holding a Secrets Manager ARN.",
        control="JAT-LAMBDA-2",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Store the value in Secrets Manager and pass <NAME>_SECRET_ARN=secret.arn; "
        "resolve it at cold start.",
        unknown=PASS_UNKNOWN + "; an unknown variables map as a whole defers",
        check=check_env_secrets,
        types=FUNCTION,
        config={"allowedNames": {"type": "array", "items": {"type": "string"}}},
        image_bound=True,
    ),
]

"""Preflight: inputs AWS would reject, found before ``pulumi up``.

* ``preflight-api-constraints`` builds each mapped resource's API requests (``policies.apimap``)
  and validates them against botocore's service models and the documented limits they lack;
* ``preflight-unmapped-types`` lists the AWS types in the stack that have no mapping, so nothing
  passes unchecked in silence;
* the others check rules AWS documents but no service model carries, each citing its source.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..apimap import AUTONAME_SUFFIX, AUTONAMED, calls_for, is_aws_type
from ..awsapi import build_request, check_request
from ..joins import StackView
from ..model import UNKNOWN, Rule, as_list, load_json_document, number, peek, plain, truthy

SG_TEXT_SOURCE = (
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html"
)
SG_RULE_TEXT_SOURCE = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html"
SNS_KEY_SOURCE = (
    "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html"
    "#compatibility-with-aws-services"
)
CLOUDFRONT_CERT_SOURCE = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
    "cnames-and-https-requirements.html"
)
ACM_REGION_SOURCE = "https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html"
LAMBDA_CONCURRENCY_SOURCE = (
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
)
LAMBDA_QUOTA_SOURCE = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
APPRUNNER_SOURCE = (
    "https://docs.aws.amazon.com/apprunner/latest/dg/apprunner-availability-change.html"
)

SECURITY_GROUP = ("aws:ec2/securityGroup:SecurityGroup",)
SG_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)
ALARMS = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
ALARM_ACTIONS = ("alarmActions", "okActions", "insufficientDataActions")
EVENT_TARGET = ("aws:cloudwatch/eventTarget:EventTarget",)
TOPIC = ("aws:sns/topic:Topic",)
KMS_KEY = ("aws:kms/key:Key",)
KMS_ALIAS = ("aws:kms/alias:Alias",)
DISTRIBUTION = ("aws:cloudfront/distribution:Distribution",)
CERTIFICATE = ("aws:acm/certificate:Certificate",)
CERT_VALIDATION = ("aws:acm/certificateValidation:CertificateValidation",)
FUNCTION = ("aws:lambda/function:Function",)
APPRUNNER_SERVICE = ("aws:apprunner/service:Service",)

PARTIAL = (
    "skip: a value unknown during a preview is left out of the request and the known ones are "
    "checked; during `pulumi up` the analyzer sees the resolved inputs and checks them all"
)

# ----- service models --------------------------------------------------------------------------


def _autonamed(r: Any) -> tuple[dict[str, Any], str | None]:
    """Plain props, with the name Pulumi would generate when the program leaves it out."""
    props = plain(r.props)
    key = AUTONAMED.get(r.resource_type)
    if key is None or props.get(key) is not None:
        return props, None
    prefix = props.get("namePrefix")
    if isinstance(prefix, str) and prefix:
        props[key] = prefix + "0" * 26  # pulumi-aws appends a 26-character unique id
        return props, f"{key} is auto-named from namePrefix (+26 characters)"
    props[key] = r.name + AUTONAME_SUFFIX
    return props, f"{key} is auto-named: the logical name, a hyphen and 7 hex characters"


def check_api_constraints(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for r in stack.resources:
        calls = calls_for(r.resource_type)
        if not calls:
            continue
        props, autonote = _autonamed(r)
        for call in calls:
            request = build_request(call, props)
            for problem in check_request(call, request):
                note = f" [{autonote}]" if autonote else ""
                yield f"{call.service} {problem}: AWS would reject this call{note}", r.urn


def check_unmapped(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    by_type: dict[str, list[Any]] = {}
    for r in stack.resources:
        if is_aws_type(r.resource_type) and calls_for(r.resource_type) is None:
            by_type.setdefault(r.resource_type, []).append(r)
    for type_, found in sorted(by_type.items()):
        names = ", ".join(r.name for r in found[:5]) + (", ..." if len(found) > 5 else "")
        yield (
            f"{type_} has no API mapping in policies/apimap.py: the inputs of {names} are not "
            "checked against AWS's constraints",
            found[0].urn,
        )


# ----- security group text ---------------------------------------------------------------------

_SG_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
_SG_TEXT_MAX = 255


def _sg_text_problems(label: str, text: Any, source: str) -> Iterator[str]:
    if not isinstance(text, str):
        return
    if len(text) > _SG_TEXT_MAX:
        yield f"{label} is {len(text)} characters; EC2 accepts at most {_SG_TEXT_MAX} ({source})"
    bad = sorted({c for c in text if not _SG_TEXT.fullmatch(c)})
    if bad:
        yield (
            f"{label} {text!r} contains {', '.join(repr(c) for c in bad)}: EC2 accepts only "
            f"a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{{}}!$* there and answers "
            f"InvalidParameterValue ({source})"
        )


def check_security_group_text(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if type_ in SECURITY_GROUP:
        yield from _sg_text_problems("description", peek(props, "description"), SG_TEXT_SOURCE)
        for direction in ("ingress", "egress"):
            for i, rule in enumerate(as_list(peek(props, direction))):
                yield from _sg_text_problems(
                    f"{direction}[{i}].description", peek(rule, "description"), SG_RULE_TEXT_SOURCE
                )
    else:
        yield from _sg_text_problems("description", peek(props, "description"), SG_RULE_TEXT_SOURCE)


# ----- alarm topics ----------------------------------------------------------------------------

_AWS_MANAGED_SNS_KEY = re.compile(r"^(arn:aws[a-z-]*:kms:[^:]*:[^:]*:)?alias/aws/sns$")
_PUBLISHERS = {"cloudwatch": "cloudwatch.amazonaws.com", "eventbridge": "events.amazonaws.com"}
_NEEDED_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def _allows_service(policy: Any, service: str) -> bool:
    doc = load_json_document(policy, ["policy"])
    if not isinstance(doc, dict):
        return False
    granted: set[str] = set()
    for st in as_list(doc.get("Statement")):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if service not in services and principal != "*":
            continue
        for action in as_list(st.get("Action")):
            for needed in _NEEDED_KEY_ACTIONS:
                if isinstance(action, str) and fnmatch.fnmatchcase(needed.lower(), action.lower()):
                    granted.add(needed)
    return granted == set(_NEEDED_KEY_ACTIONS)


def _topic_key_problem(stack: StackView, topic: Any, publisher: str) -> str | None:
    key_ref = peek(topic.props, "kmsMasterKeyId")
    if key_ref is UNKNOWN and not (topic.property_dependencies or {}).get("kmsMasterKeyId"):
        return None
    if isinstance(key_ref, str) and _AWS_MANAGED_SNS_KEY.match(key_ref):
        return (
            f"topic {topic.name} is encrypted with the AWS managed key alias/aws/sns, whose key "
            f"policy cannot grant {_PUBLISHERS[publisher]}: every notification fails "
            f"({SNS_KEY_SOURCE})"
        )
    if not key_ref:
        return None
    keys = stack.refs(topic, "kmsMasterKeyId", KMS_KEY)
    for alias in stack.refs(topic, "kmsMasterKeyId", KMS_ALIAS):
        keys += stack.refs(alias, "targetKeyId", KMS_KEY)
    for key in keys:
        policy = peek(key.props, "policy")
        if policy is UNKNOWN:
            continue
        if not policy or not _allows_service(policy, _PUBLISHERS[publisher]):
            return (
                f"topic {topic.name} is encrypted with key {key.name}, whose policy does not let "
                f"{_PUBLISHERS[publisher]} use kms:Decrypt and kms:GenerateDataKey*: every "
                f"notification fails ({SNS_KEY_SOURCE})"
            )
    return None


def check_alarm_topic_keys(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for alarm in stack.of_type(*ALARMS):
        by_topic: dict[str, tuple[Any, list[str]]] = {}
        for prop in ALARM_ACTIONS:
            if not peek(alarm.props, prop) and not (alarm.property_dependencies or {}).get(prop):
                continue
            for topic in stack.refs(alarm, prop, TOPIC):
                by_topic.setdefault(topic.urn, (topic, []))[1].append(prop)
        for topic, props in by_topic.values():
            problem = _topic_key_problem(stack, topic, "cloudwatch")
            if problem:
                yield f"alarm {alarm.name} ({', '.join(props)}): {problem}", alarm.urn
    for target in stack.of_type(*EVENT_TARGET):
        for topic in stack.refs(target, "arn", TOPIC):
            problem = _topic_key_problem(stack, topic, "eventbridge")
            if problem:
                yield f"EventBridge target {target.name}: {problem}", target.urn


# ----- CloudFront certificates -----------------------------------------------------------------

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:acm:([^:]*):")


def check_cloudfront_certificate(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    for dist in stack.of_type(*DISTRIBUTION):
        arn = peek(dist.props, "viewerCertificate", "acmCertificateArn")
        deps = (dist.property_dependencies or {}).get("viewerCertificate")
        if not arn and not deps:
            continue
        if isinstance(arn, str):
            m = _ARN_REGION.match(arn)
            if m and m.group(1) != "us-east-1":
                yield (
                    f"distribution {dist.name} uses certificate {arn} from {m.group(1)}: "
                    f"CloudFront takes ACM certificates from us-east-1 only ({ACM_REGION_SOURCE})",
                    dist.urn,
                )
                continue
        path = ("viewerCertificate", "acmCertificateArn")
        validations = stack.refs(dist, "viewerCertificate", CERT_VALIDATION, path)
        certs = stack.refs(dist, "viewerCertificate", CERTIFICATE, path)
        for v in validations:
            certs += [c for c in stack.refs(v, "certificateArn", CERTIFICATE) if c not in certs]
        for cert in certs:
            cert_arn = peek(cert.props, "arn")
            m = _ARN_REGION.match(cert_arn) if isinstance(cert_arn, str) else None
            if m and m.group(1) != "us-east-1":
                yield (
                    f"distribution {dist.name} uses certificate {cert.name}, created in "
                    f"{m.group(1)}: CloudFront takes ACM certificates from us-east-1 only "
                    f"({ACM_REGION_SOURCE})",
                    dist.urn,
                )
            if peek(cert.props, "privateKey") or peek(cert.props, "certificateBody"):
                continue  # an imported certificate is issued when it is created
            validated = stack.referrers(cert, CERT_VALIDATION, "certificateArn")
            if not validated:
                yield (
                    f"distribution {dist.name} uses certificate {cert.name}, which nothing in the "
                    "stack validates: CloudFront refuses a certificate that is not issued. "
                    "Validate it by DNS (aws.acm.CertificateValidation with the Route 53 records), "
                    "give the ARN of an issued us-east-1 certificate, or serve on the default "
                    f"CloudFront domain ({CLOUDFRONT_CERT_SOURCE})",
                    dist.urn,
                )


# ----- Lambda reserved concurrency -------------------------------------------------------------


def check_reserved_concurrency(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    reserved = number(peek(props, "reservedConcurrentExecutions"))
    if reserved is None or reserved < 0 or truthy(peek(config, "allowReservedConcurrency")):
        return
    yield (
        f"reservedConcurrentExecutions is {reserved:g}: Lambda keeps 100 of the account's "
        f"concurrency unreserved ({LAMBDA_CONCURRENCY_SOURCE}) and new accounts have a reduced "
        f"quota ({LAMBDA_QUOTA_SOURCE}), which is unknown offline, so the call can fail. Leave it "
        "unset, or opt in with this policy's allowReservedConcurrency setting (with a "
        "justification naming the account's quota)"
    )


# ----- App Runner ------------------------------------------------------------------------------


def check_apprunner(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    yield (
        "App Runner is closed to new customers since 2026-04-30: an account that has not used it "
        "before cannot create this service. Such an account deploys the ECS path instead "
        f"(jobapptracker:compute: ecs, as in infra/stacks/Pulumi.ecs.yaml) ({APPRUNNER_SOURCE})"
    )


RULES = [
    Rule(
        name="preflight-api-constraints",
        description="Each mapped resource's API requests satisfy botocore's service-model "
        "constraints (lengths, patterns, enums, ranges) and the documented limits the models "
        "lack.",
        control="JAT-PREFLIGHT-1",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Change the input the message names to a value the API accepts (the message "
        "gives the constraint and, for a documented limit, its source).",
        unknown=PARTIAL,
        check=check_api_constraints,
        kind="stack",
    ),
    Rule(
        name="preflight-unmapped-types",
        description="Lists the AWS resource types in the stack that have no API mapping, whose "
        "inputs the preflight therefore does not check.",
        control="JAT-PREFLIGHT-2",
        severity=Severity.LOW,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="Add the type's create call(s) to policies/apimap.py (CALLS).",
        unknown="not applicable: the rule reads resource types only",
        check=check_unmapped,
        kind="stack",
    ),
    Rule(
        name="preflight-security-group-text",
        description="Security group and security group rule descriptions use only the characters "
        "EC2 accepts and are at most 255 characters long.",
        control="JAT-PREFLIGHT-3",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Use only a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* (no apostrophes "
        "or quotes) and at most 255 characters.",
        unknown="pass: an unknown description is another resource's output, never a literal",
        check=check_security_group_text,
        types=SECURITY_GROUP + SG_RULES,
    ),
    Rule(
        name="preflight-alarm-topic-key",
        description="Alarm actions and EventBridge targets never publish to an SNS topic "
        "encrypted with the AWS managed key alias/aws/sns, or with a key whose policy does not "
        "let the publishing service use it.",
        control="JAT-PREFLIGHT-4",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Encrypt the topic with a customer managed key whose policy allows "
        "cloudwatch.amazonaws.com (and events.amazonaws.com) kms:Decrypt and "
        "kms:GenerateDataKey*, or leave the topic unencrypted.",
        unknown="defer: an unknown action ARN without dependency information reports the "
        "advisory 'can't run during preview'; an unknown key id or key policy passes",
        check=check_alarm_topic_keys,
        kind="stack",
    ),
    Rule(
        name="preflight-cloudfront-certificate",
        description="A CloudFront distribution's ACM certificate is in us-east-1 and, when the "
        "stack creates it, validated in the stack.",
        control="JAT-PREFLIGHT-5",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create the certificate with a us-east-1 provider and validate it by DNS in "
        "a Route 53 zone (aws.acm.CertificateValidation), pass the ARN of an issued us-east-1 "
        "certificate, or serve on the default CloudFront domain.",
        unknown="defer: an unknown certificate ARN without dependency information reports the "
        "advisory 'can't run during preview'",
        check=check_cloudfront_certificate,
        kind="stack",
    ),
    Rule(
        name="preflight-lambda-reserved-concurrency",
        description="No Lambda function reserves concurrency unless the policy config opts in "
        "(the account's concurrency quota is unknown offline).",
        control="JAT-PREFLIGHT-6",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Leave reserved_concurrent_executions unset (the migrations' advisory lock "
        "already serialises them), or set allowReservedConcurrency: true in the environment's "
        "policy config with a justification.",
        unknown="pass: an unknown reservation is checked during `pulumi up`",
        check=check_reserved_concurrency,
        types=FUNCTION,
        config={"allowReservedConcurrency": {"type": "boolean", "default": False}},
    ),
    Rule(
        name="preflight-apprunner-availability",
        description="App Runner services are flagged: App Runner is closed to new customers, so "
        "a new account cannot create them (advisory, naming the ECS alternative).",
        control="JAT-PREFLIGHT-7",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="For an account that has not used App Runner, set jobapptracker:compute: ecs.",
        unknown="not applicable: the rule reads the resource type only",
        check=check_apprunner,
        types=APPRUNNER_SERVICE,
    ),
]

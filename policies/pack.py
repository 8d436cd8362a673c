"""Rules -> pulumi_policy policies. Building the ``PolicyPack`` itself happens only in
``__main__.py`` (its constructor starts the analyzer's gRPC server and blocks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import ResourceValidation, StackValidation

from .joins import StackView
from .model import NotApplicable, Rule
from .rules import ALL_RULES

PACK_NAME = "jobapptracker-aws"

JUSTIFICATION: dict[str, dict[str, Any]] = {
    "justification": {
        "type": "string",
        "description": "Why this policy's enforcement level or settings differ from the pack's "
        "default "
        "(required by the offline runner for every override)",
    }
}


def _config_of(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def _framework(rule: Rule) -> PolicyComplianceFramework:
    fsbp = not rule.control.startswith("JAT-")
    return PolicyComplianceFramework(
        name="AWS Foundational Security Best Practices" if fsbp else "Job App Tracker",
        reference=rule.control,
    )


def resource_validator(rule: Rule) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        try:
            for message in rule.check(args.resource_type, args.props, _config_of(args)):
                report_violation(message, None)
        except NotApplicable as e:
            args.not_applicable(e.reason)

    return validate


def stack_validator(rule: Rule) -> StackValidation:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = StackView(args.resources)
        try:
            for message, urn in rule.check(stack, _config_of(args)):
                report_violation(message, urn)
        except NotApplicable as e:
            args.not_applicable(e.reason)

    return validate


def to_policy(rule: Rule) -> Policy:
    common: dict[str, Any] = dict(
        name=rule.name,
        description=rule.description,
        enforcement_level=rule.enforcement,
        config_schema=PolicyConfigSchema(
            properties={**JUSTIFICATION, **{k: dict(v) for k, v in rule.config.items()}}
        ),
        severity=rule.severity,
        framework=_framework(rule),
        tags=[rule.control, rule.kind],
        remediation_steps=rule.remediation,
    )
    if rule.kind == "stack":
        return StackValidationPolicy(validate=stack_validator(rule), **common)
    return ResourceValidationPolicy(validate=resource_validator(rule), **common)


def build_policies(rules: list[Rule] | None = None) -> list[Policy]:
    return [to_policy(r) for r in (rules if rules is not None else ALL_RULES)]

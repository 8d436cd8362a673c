"""Offline evaluation: the pack's policies over a resource list, through pulumi_policy's own
``ResourceValidationArgs`` / ``StackValidationArgs`` / ``PolicyResource`` objects, with the same
enforcement-level resolution, unknown-value and not-applicable handling as the analyzer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError  # the analyzer's own not-applicable signal
from pulumi_policy.proxy import UnknownValueError

from .model import Rule
from .pack import PACK_NAME, to_policy
from .resources import default_options, policy_resources
from .rules import ALL_RULES


@dataclass
class Finding:
    rule: str
    level: str  # mandatory | advisory
    message: str
    resource: str  # logical name, or "(stack)"
    type: str
    urn: str
    unknown: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "resource": self.resource,
            "type": self.type,
            "urn": self.urn,
            "unknownDuringPreview": self.unknown,
        }


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    evaluated: set[str] = field(default_factory=set)  # rules that reached a verdict on something
    disabled: set[str] = field(default_factory=set)


def enforcement_level(rule: Rule, config: Mapping[str, Any]) -> EnforcementLevel:
    """Per-policy config wins, then ``all``, then the rule's default (the analyzer's order)."""
    for key in (rule.name, "all"):
        entry = config.get(key)
        level = entry if isinstance(entry, str) else (entry or {}).get("enforcementLevel")
        if level:
            return EnforcementLevel(level)
    return rule.enforcement


def policy_properties(rule: Rule, config: Mapping[str, Any]) -> dict[str, Any]:
    entry = config.get(rule.name)
    if not isinstance(entry, Mapping):
        return {}
    return {k: v for k, v in entry.items() if k != "enforcementLevel"}


def _unknown_message(rule: Rule, e: UnknownValueError) -> str:
    return (
        f"can't run policy '{rule.name}' from policy pack '{PACK_NAME}' during preview: {e.message}"
    )


def evaluate(
    entries: list[dict], config: Mapping[str, Any] | None = None, rules: list[Rule] | None = None
) -> Outcome:
    config = config or {}
    rules = ALL_RULES if rules is None else rules
    outcome = Outcome()
    resources = policy_resources(entries)
    by_urn = {r.urn: r for r in resources}

    for rule in rules:
        level = enforcement_level(rule, config)
        if level == EnforcementLevel.DISABLED:
            outcome.disabled.add(rule.name)
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY
        policy = to_policy(rule)
        props_config = policy_properties(rule, config)

        def report(
            message: str,
            urn: str | None = None,
            *,
            _rule: Rule = rule,
            _level: EnforcementLevel = level,
            _subject: PolicyResource | None = None,
        ) -> None:
            target = _subject or by_urn.get(urn or "")
            outcome.findings.append(
                Finding(
                    rule=_rule.name,
                    level=_level.value,
                    message=message,
                    resource=target.name if target else "(stack)",
                    type=target.resource_type if target else "",
                    urn=target.urn if target else "",
                )
            )

        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                if not rule.applies_to(r.resource_type):
                    continue
                args = ResourceValidationArgs(
                    r.resource_type,
                    r.props,
                    r.urn,
                    r.name,
                    default_options(),
                    None,
                    props_config,
                    {},
                )
                try:
                    policy.validate(args, partial(report, _subject=r))
                    outcome.evaluated.add(rule.name)
                except UnknownValueError as e:
                    outcome.findings.append(
                        Finding(
                            rule.name,
                            "advisory",
                            _unknown_message(rule, e),
                            r.name,
                            r.resource_type,
                            r.urn,
                            True,
                        )
                    )
                except _NotApplicableError as e:
                    outcome.not_applicable.setdefault(rule.name, []).append(f"{r.name}: {e.reason}")
        elif isinstance(policy, StackValidationPolicy):
            stack_args = StackValidationArgs(resources, props_config, {})
            try:
                policy.validate(stack_args, report)
                outcome.evaluated.add(rule.name)
            except UnknownValueError as e:
                outcome.findings.append(
                    Finding(
                        rule.name, "advisory", _unknown_message(rule, e), "(stack)", "", "", True
                    )
                )
            except _NotApplicableError as e:
                outcome.not_applicable.setdefault(rule.name, []).append(e.reason or "")
    return outcome

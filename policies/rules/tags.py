"""Tags: project, stack and owner on every resource whose type takes tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from ..model import DEFER, Rule, peek, value
from ..taggable import taggable_types

REQUIRED = ("project", "stack", "owner")


def check_tags(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if type_ not in taggable_types():
        return
    required = list(peek(config, "requiredTags") or REQUIRED)
    tags = value(props, "tags") or {}
    missing = [k for k in required if not peek(tags, k)]
    if missing:
        yield f"missing tag(s) {', '.join(missing)} (has {sorted(tags) or 'none'})"


RULES = [
    Rule(
        name="required-tags",
        description="Every AWS resource whose type takes tags carries non-empty project, stack and "
        "owner tags.",
        control="JAT-TAGS-1",
        severity=Severity.LOW,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create the resource through the program's tagging transformation (or pass "
        "tags with "
        "project, stack and owner).",
        unknown=DEFER + "; an unknown single tag value counts as present",
        check=check_tags,
        types=None,
        config={"requiredTags": {"type": "array", "items": {"type": "string"}}},
    ),
]

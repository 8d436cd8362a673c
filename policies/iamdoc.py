"""IAM policy documents (identity and resource policies) as normalised statements."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import as_list, is_unknown


def arn_like(value: str, pattern: str) -> bool:
    """IAM's match of a resource against a policy's Resource pattern: ``*`` any run of characters
    (colons included), ``?`` one character, everything else literal and case-sensitive.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), value, re.DOTALL) is not None


@dataclass
class Statement:
    effect: str
    actions: list[str] = field(default_factory=list)
    not_actions: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    not_resources: list[str] = field(default_factory=list)
    principals: dict[str, list[str]] = field(default_factory=dict)
    not_principals: dict[str, list[str]] = field(default_factory=dict)
    conditions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    sid: str = ""

    def allows(self) -> bool:
        return self.effect == "Allow"

    def denies(self) -> bool:
        return self.effect == "Deny"

    def covers_action(self, action: str) -> bool:
        """True when the statement's Action list matches ``action`` (wildcards honoured)."""
        a = action.lower()
        if self.not_actions:
            return not any(fnmatch.fnmatchcase(a, p.lower()) for p in self.not_actions)
        return any(fnmatch.fnmatchcase(a, p.lower()) for p in self.actions)

    def covers_resource(self, arn: str) -> bool:
        """True when the statement's Resource (or NotResource) takes in ``arn``; a pattern unknown
        during a preview counts for nothing."""
        if self.not_resources:
            return not any(arn_like(arn, p) for p in self.not_resources if not is_unknown(p))
        return any(arn_like(arn, p) for p in self.resources if not is_unknown(p))

    def everyone(self) -> bool:
        return "*" in self.principals.get("*", []) or "*" in self.principals.get("AWS", [])

    def condition_values(self, operators: tuple[str, ...], key: str) -> list[str] | None:
        """Values of condition ``key`` under any of ``operators`` (case-insensitive key)."""
        found: list[str] | None = None
        for op, block in self.conditions.items():
            if op.lower() not in {o.lower() for o in operators}:
                continue
            for k, vals in block.items():
                if k.lower() == key.lower():
                    found = (found or []) + vals
        return found


def _strs(v: Any) -> list[str]:
    out = []
    for item in as_list(v):
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif item is not None:
            out.append(str(item))
    return out


def _principals(v: Any) -> dict[str, list[str]]:
    if v is None:
        return {}
    if isinstance(v, str):
        return {"*": [v]} if v == "*" else {"AWS": [v]}
    if isinstance(v, Mapping):
        return {str(k): _strs(val) for k, val in v.items()}
    return {}


def statements(doc: Any) -> list[Statement]:
    """The statements of a parsed policy document (a dict); anything else -> []."""
    if not isinstance(doc, Mapping):
        return []
    out = []
    for raw in as_list(doc.get("Statement")):
        if not isinstance(raw, Mapping):
            continue
        conditions: dict[str, dict[str, list[str]]] = {}
        for op, block in (raw.get("Condition") or {}).items():
            if isinstance(block, Mapping):
                conditions[str(op)] = {str(k): _strs(v) for k, v in block.items()}
        out.append(
            Statement(
                effect=str(raw.get("Effect", "")),
                actions=_strs(raw.get("Action")),
                not_actions=_strs(raw.get("NotAction")),
                resources=_strs(raw.get("Resource")),
                not_resources=_strs(raw.get("NotResource")),
                principals=_principals(raw.get("Principal")),
                not_principals=_principals(raw.get("NotPrincipal")),
                conditions=conditions,
                sid=str(raw.get("Sid", "")),
            )
        )
    return out


PRINCIPAL_EXEMPTION_OPERATORS = ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike")


def exempt_principals(st: Statement) -> set[str] | None:
    """Principals a Deny statement exempts via ``aws:PrincipalArn`` conditions or NotPrincipal;
    None when it exempts nobody."""
    vals = st.condition_values(PRINCIPAL_EXEMPTION_OPERATORS, "aws:PrincipalArn")
    exempt = set(vals or [])
    for v in st.not_principals.values():
        exempt.update(v)
    return exempt or None

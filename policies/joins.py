"""Joining resources by reference inside a stack rule.

A reference is resolved, in order, through:

1. ``propertyDependencies`` of the referencing property, when the engine (or the capture) supplies
   them: this works during a real preview, where the referenced IDs and ARNs are still unknown;
2. otherwise the property's value, matched against each candidate's identifiers: its id (the
   offline runner attaches it; an S3 bucket's id is its name), ``arn``, ``name``, ``bucket`` and
   ``urn``; a Lambda ARN also matches with a version/alias qualifier.

When neither gives an answer because the value is unknown, :meth:`StackView.refs` raises
``UnknownValueError`` (the pack then reports an advisory "can't run during preview").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .model import as_list, is_unknown, peek, value

IMAGE_BOUND_TYPES = frozenset(
    {
        "aws:lambda/function:Function",
        "aws:lambda/invocation:Invocation",
        "aws:apprunner/service:Service",
        "aws:ecs/service:Service",
        "aws:ecs/taskDefinition:TaskDefinition",
    }
)

_LAMBDA_ARN = re.compile(r"^(arn:aws[a-z-]*:lambda:[^:]+:[^:]+:function:[^:]+)(:[^:]+)?$")


def _norm(v: str) -> str:
    m = _LAMBDA_ARN.match(v)
    return m.group(1) if m else v


class StackView:
    """The resources of one stack with lookup and join helpers."""

    def __init__(self, resources: Iterable[Any]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[Any]:
        return [r for r in self.resources if r.resource_type in types]

    def image_deployed(self) -> bool:
        """True in the full phase: some resource runs the container image."""
        return any(r.resource_type in IMAGE_BOUND_TYPES for r in self.resources)

    @staticmethod
    def identifiers(r: Any) -> set[str]:
        ids = {r.urn, r.name}
        rid = getattr(r, "id", None)
        if isinstance(rid, str) and rid and not is_unknown(rid):
            ids.add(rid)
        for key in ("arn", "name", "bucket", "id", "functionName", "serviceArn"):
            v = peek(r.props, key)
            if isinstance(v, str) and v:
                ids.add(_norm(v))
        if r.resource_type.startswith("aws:s3/bucket"):
            for v in list(ids):
                if not v.startswith(("arn:", "urn:")):
                    ids.add(f"arn:aws:s3:::{v}")
        return ids

    def refs(
        self,
        r: Any,
        prop: str,
        types: Sequence[str],
        path: Sequence[Any] | None = None,
    ) -> list[Any]:
        """Resources of ``types`` that ``r``'s property ``prop`` (value at ``path`` inside it)
        refers to."""
        deps = [
            d for d in (r.property_dependencies or {}).get(prop, []) if d.resource_type in types
        ]
        if deps:
            return _unique(deps)
        raw = value(r.props, *(path or (prop,)))  # unknown and no dependency info -> defer
        wanted = {_norm(v) for v in _strings(raw)}
        if not wanted:
            return []
        return [c for c in self.of_type(*types) if self.identifiers(c) & wanted]

    def referrers(
        self, target: Any, types: Sequence[str], prop: str, path: Sequence[Any] | None = None
    ) -> list[Any]:
        """Resources of ``types`` whose ``prop`` refers to ``target``."""
        out = []
        for r in self.of_type(*types):
            if target in self.refs(r, prop, [target.resource_type], path):
                out.append(r)
        return out


def _strings(v: Any) -> list[str]:
    out = []
    for item in as_list(v):
        if isinstance(item, str) and item and not is_unknown(item):
            out.append(item)
    return out


def _unique(items: list[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for i in items:
        if id(i) not in seen:
            seen.add(id(i))
            out.append(i)
    return out

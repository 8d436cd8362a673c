"""What a rule is, and the helpers rules use to read camelCase props safely.

A rule is a plain function:

* a *resource* rule: ``check(type_token, props, config) -> Iterable[str]``, one message per
  violation;
* a *stack* rule: ``check(stack, config) -> Iterable[tuple[str, urn | None]]``, where ``stack`` is a
  :class:`policies.joins.StackView` over every resource of the stack.

``props`` are the resource's camelCase properties, exactly as CrossGuard hands them over: either
pulumi_policy's unknown-checking proxy or a plain mapping. Values not known during a preview are
Pulumi's sentinel strings; :func:`value` raises :class:`UnknownValueError` on them (the pack then
reports "can't run during preview" as an advisory diagnostic, and the check runs for real during
``pulumi up``), while :func:`peek` returns :data:`UNKNOWN` so a rule can decide for itself.
Every rule
states which of the two it does in ``unknown``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import EnforcementLevel, Severity
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)

# Handling of values unknown during a preview, as stated by each rule.
DEFER = (
    "defer: an unknown value makes the pack report an advisory 'can't run during preview' "
    "diagnostic; the rule runs on the real value during `pulumi up`"
)
PASS_UNKNOWN = "pass: an unknown value is a reference to another resource's output, never a literal"  # noqa: S105 - not a password


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()
_MISSING = object()


class NotApplicable(Exception):  # noqa: N818 - mirrors pulumi_policy's not_applicable()
    """Raised by a rule that does not apply (the adapter turns it into ``args.not_applicable``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_unknown(v: Any) -> bool:
    return v is UNKNOWN or (isinstance(v, str) and v in SENTINELS)


def peek(obj: Any, *path: Any, default: Any = None) -> Any:
    """The value at ``path``; :data:`UNKNOWN` if it (or a step on the way) is unknown; ``default``
    when missing."""
    cur = obj
    try:
        if is_unknown(cur):
            return UNKNOWN
        for step in path:
            if cur is None:
                return default
            if isinstance(step, int):
                if not isinstance(cur, Sequence) or isinstance(cur, str) or step >= len(cur):
                    return default
                cur = cur[step]
            else:
                if not isinstance(cur, Mapping):
                    return default
                cur = cur.get(step, _MISSING)
                if cur is _MISSING:
                    return default
            if is_unknown(cur):
                return UNKNOWN
    except UnknownValueError:
        return UNKNOWN
    return cur


def value(obj: Any, *path: Any, default: Any = None) -> Any:
    """Like :func:`peek`, but an unknown value raises :class:`UnknownValueError` (defer)."""
    v = peek(obj, *path, default=default)
    if v is UNKNOWN:
        raise UnknownValueError(UNKNOWN_STRING_VALUE, [str(p) for p in path])
    return v


def as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (str, bytes)) or isinstance(v, Mapping):
        return [v]
    if isinstance(v, Sequence):
        return list(v)
    return [v]


def plain(v: Any) -> Any:
    """A deep plain-Python copy of a (possibly proxied) value; unknowns stay sentinel strings."""
    if isinstance(v, Mapping):
        return {k: plain(v.get(k) if not _raw_unknown(v, k) else UNKNOWN_STRING_VALUE) for k in v}
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        out = []
        for i in range(len(v)):
            try:
                out.append(plain(v[i]))
            except UnknownValueError:
                out.append(UNKNOWN_STRING_VALUE)
        return out
    return v


def _raw_unknown(m: Mapping, k: Any) -> bool:
    try:
        m[k]
    except UnknownValueError:
        return True
    return False


def truthy(v: Any) -> bool:
    """Booleans as CrossGuard delivers them (true, "true")."""
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return v is True or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 1)


def number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_json_document(doc: Any, path: Sequence[str]) -> Any:
    """A JSON document prop (IAM policy, event pattern) as a dict; unknown -> defer."""
    if is_unknown(doc):
        raise UnknownValueError(UNKNOWN_STRING_VALUE, list(path))
    if isinstance(doc, str):
        try:
            return json.loads(doc)
        except ValueError:
            return None
    if isinstance(doc, Mapping):
        return plain(doc)
    return None


@dataclass(frozen=True)
class Rule:
    """One policy: metadata for the pack and docs, and the plain check function."""

    name: str
    description: str
    control: str
    severity: Severity
    enforcement: EnforcementLevel
    remediation: str
    unknown: str
    check: Callable[..., Iterable[Any]]
    kind: str = "resource"  # "resource" | "stack"
    types: tuple[str, ...] | None = None  # resource rules: the type tokens they look at
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    environment_dependent: bool = False
    image_bound: bool = False

    def applies_to(self, type_token: str) -> bool:
        return self.types is None or type_token in self.types

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "control": self.control,
            "severity": self.severity.value,
            "enforcementLevel": self.enforcement.value,
            "remediation": self.remediation,
            "unknownValues": self.unknown,
            "types": list(self.types) if self.types else None,
            "environmentDependent": self.environment_dependent,
            "imageBound": self.image_bound,
        }


def environment(config: Mapping[str, Any]) -> str:
    """The policy config's ``environment``; absent -> ``prod`` (the strictest reading)."""
    env = peek(config, "environment")
    return env if env in ("dev", "prod") else "prod"

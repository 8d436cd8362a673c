"""EventBridge pattern matching for the tests: exact values, prefix, anything-but and exists, with
arrays in the event matching when any element matches.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def _value_matches(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value is not _MISSING and value not in excluded
        if "exists" in rule:
            return (value is not _MISSING) == bool(rule["exists"])
        raise ValueError(f"content filter {rule} is not supported by this evaluator")
    return value is not _MISSING and rule == value


def matches(pattern: dict, event: dict) -> bool:
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not matches(rule, value):
                return False
            continue
        if not isinstance(rule, list):
            raise ValueError(f"pattern value for {key} must be an array or an object")
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(r, v) for r in rule for v in values):
            return False
    return True

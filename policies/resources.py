"""Resource lists from anywhere -> pulumi_policy's own ``PolicyResource`` objects.

Accepted inputs (``python -m policies.check --resources FILE.json``; schema in docs/policies.md):

* a JSON list of ``{"type", "name", "props"}`` with optional ``"urn"``, ``"id"`` and
  ``"propertyDependencies"`` (``{prop: [urn, ...]}``) -- what
  ``infra.offline.capture_stack`` returns;
* the output of ``pulumi preview --json`` (``{"steps": [{"newState": {...}}]}``): each step's new
  state, its inputs as props;
* the output of ``pulumi stack export`` (``{"deployment": {"resources": [...]}}``).

Props are passed through the same protobuf ``Struct`` round trip and unknown-checking proxy as in
the analyzer, so numbers arrive as floats and unknown sentinels raise exactly as they do under
``pulumi preview``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions
from pulumi_policy.deserialize import (
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    deserialize_properties,
)
from pulumi_policy.proxy import unknown_checking_proxy

SKIPPED_TYPES_PREFIX = ("pulumi:pulumi:Stack", "pulumi:providers:")


class ResourceFileError(ValueError):
    """The resources document does not follow the documented schema."""


def _unsecret(v: Any) -> Any:
    if isinstance(v, list):
        return [_unsecret(x) for x in v]
    if isinstance(v, dict):
        if v.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            if "value" in v:
                return _unsecret(v["value"])
            if "plaintext" in v:
                try:
                    return _unsecret(json.loads(v["plaintext"]))
                except ValueError:
                    return v["plaintext"]
            return "[secret]"
        return {k: _unsecret(x) for k, x in v.items()}
    return v


def _name_from_urn(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def normalise(doc: Any, *, stack: str = "offline", project: str = "jobapptracker") -> list[dict]:
    """Any accepted document -> the plain entry list (validated)."""
    if isinstance(doc, Mapping) and "steps" in doc:
        raw = []
        for step in doc.get("steps") or []:
            state = step.get("newState") if isinstance(step, Mapping) else None
            if not isinstance(state, Mapping):
                continue
            raw.append(
                {
                    "type": state.get("type"),
                    "urn": state.get("urn") or step.get("urn"),
                    "id": state.get("id"),
                    "props": state.get("inputs") or state.get("outputs") or {},
                    "propertyDependencies": state.get("propertyDependencies") or {},
                }
            )
        doc = raw
    elif isinstance(doc, Mapping) and isinstance(doc.get("deployment"), Mapping):
        doc = [
            {
                "type": r.get("type"),
                "urn": r.get("urn"),
                "id": r.get("id"),
                "props": r.get("inputs") or r.get("outputs") or {},
                "propertyDependencies": r.get("propertyDependencies") or {},
            }
            for r in doc["deployment"].get("resources") or []
        ]
    if not isinstance(doc, list):
        raise ResourceFileError(
            "expected a JSON list of resources (or `pulumi preview --json` output)"
        )
    out = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, Mapping):
            raise ResourceFileError(f"entry {i}: expected an object, got {type(entry).__name__}")
        type_ = entry.get("type")
        if not isinstance(type_, str) or not type_:
            raise ResourceFileError(f"entry {i}: 'type' must be a non-empty string")
        if type_.startswith(SKIPPED_TYPES_PREFIX):
            continue
        urn = entry.get("urn")
        name = entry.get("name") or (_name_from_urn(urn) if isinstance(urn, str) else None)
        if not isinstance(name, str) or not name:
            raise ResourceFileError(f"entry {i} ({type_}): 'name' must be a non-empty string")
        props = entry.get("props", {})
        if not isinstance(props, Mapping):
            raise ResourceFileError(f"entry {i} ({type_} {name}): 'props' must be an object")
        deps = entry.get("propertyDependencies") or {}
        if not isinstance(deps, Mapping) or not all(isinstance(v, list) for v in deps.values()):
            raise ResourceFileError(
                f"entry {i} ({type_} {name}): 'propertyDependencies' must map property names to "
                "URN lists"
            )
        out.append(
            {
                "type": type_,
                "name": name,
                "urn": urn
                if isinstance(urn, str) and urn
                else f"urn:pulumi:{stack}::{project}::{type_}::{name}",
                "id": entry.get("id") if isinstance(entry.get("id"), str) else None,
                "props": _unsecret(json.loads(json.dumps(props, default=str))),
                "propertyDependencies": {str(k): [str(u) for u in v] for k, v in deps.items()},
            }
        )
    return out


def analyzer_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Props exactly as the analyzer hands them to a policy: Struct round trip + unknown proxy."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def default_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


class CapturedResource(PolicyResource):
    """A PolicyResource that also carries the resource's id from the capture, which the joins
    match on (the analyzer's resources have none)."""

    id: str | None = None


def policy_resources(entries: list[dict]) -> list[PolicyResource]:
    """Entries -> PolicyResource objects with dependencies wired by URN, as AnalyzeStack does.
    The entry's id (the analyzer has none) is attached as ``.id`` for joins."""
    resources: list[PolicyResource] = []
    for e in entries:
        captured = CapturedResource(
            e["type"],
            analyzer_props(e["props"]),
            e["urn"],
            e["name"],
            default_options(),
            None,
            None,
            [],
            {},
        )
        captured.id = e.get("id")
        resources.append(captured)
    by_urn = {r.urn: r for r in resources}
    for e, r in zip(entries, resources, strict=True):
        all_deps: list[PolicyResource] = []
        for prop, urns in e.get("propertyDependencies", {}).items():
            deps = [by_urn[u] for u in urns if u in by_urn]
            r.property_dependencies[prop] = deps
            all_deps.extend(d for d in deps if d not in all_deps)
        r.dependencies = all_deps
    return resources

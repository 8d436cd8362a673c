"""Breaking-change diff between two OpenAPI 3 documents (pure functions over dicts).

Breaking, for a client written against ``old``:

* ``removed-path``, ``removed-operation``;
* ``removed-response``: a success (2xx) response status disappears;
* ``removed-response-field``: a response property disappears or stops being required;
* ``new-required-request-field``: a required request-body property or parameter appears, or an
  optional one becomes required (or a request body becomes required);
* ``changed-type``: a request value loses an accepted type, or a response value gains one;
* ``narrowed-enum``: a request value (body property or parameter) loses an enum member.

Every other difference is non-breaking; the runner then asks for the snapshot to be updated in the
same commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
BREAKING_KINDS = (
    "removed-path",
    "removed-operation",
    "removed-response",
    "removed-response-field",
    "new-required-request-field",
    "changed-type",
    "narrowed-enum",
)


@dataclass(frozen=True)
class Change:
    kind: str
    where: str
    detail: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


class _Ctx:
    def __init__(self, old_doc: Mapping, new_doc: Mapping) -> None:
        self.old_doc, self.new_doc = old_doc, new_doc
        self.changes: list[Change] = []
        self.active: set[tuple[str, str, str]] = set()

    def add(self, kind: str, where: str, detail: str, breaking: bool | None = None) -> None:
        self.changes.append(
            Change(kind, where, detail, kind in BREAKING_KINDS if breaking is None else breaking)
        )


def _resolve(doc: Mapping, schema: Any, depth: int = 0) -> dict:
    if not isinstance(schema, Mapping):
        return {}
    if "$ref" in schema and depth < 50:
        ref = schema["$ref"]
        if isinstance(ref, str) and ref.startswith("#/"):
            node: Any = doc
            for part in ref[2:].split("/"):
                node = (
                    node.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(node, Mapping)
                    else {}
                )
            merged = {
                **_resolve(doc, node, depth + 1),
                **{k: v for k, v in schema.items() if k != "$ref"},
            }
            return merged
    if "allOf" in schema and depth < 50:
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        props: dict = dict(merged.get("properties") or {})
        required = list(merged.get("required") or [])
        for part in schema["allOf"]:
            r = _resolve(doc, part, depth + 1)
            props.update(r.get("properties") or {})
            required.extend(r.get("required") or [])
            for k, v in r.items():
                if k not in ("properties", "required"):
                    merged.setdefault(k, v)
        if props:
            merged["properties"] = props
        if required:
            merged["required"] = sorted(set(required))
        return merged
    return dict(schema)


def _variants(doc: Mapping, schema: Mapping) -> list[dict]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [_resolve(doc, s) for s in schema[key]]
    return [schema]


def _types(doc: Mapping, schema: Mapping) -> frozenset[str]:
    out: set[str] = set()
    for v in _variants(doc, schema):
        t = v.get("type")
        if isinstance(t, list):
            out.update(t)
        elif isinstance(t, str):
            out.add(t)
        elif "properties" in v:
            out.add("object")
        elif "const" in v:
            out.add(type(v["const"]).__name__)
        elif "enum" in v:
            out.add("enum")
    if "integer" in out and "number" in out:
        out.discard("integer")
    return frozenset(out)


def _enum(doc: Mapping, schema: Mapping) -> set | None:
    values: set | None = None
    for v in _variants(doc, schema):
        if "enum" in v:
            values = (values or set()) | {repr(x) for x in v["enum"]}
        elif "const" in v:
            values = (values or set()) | {repr(v["const"])}
    return values


def _object_part(doc: Mapping, schema: Mapping) -> dict:
    """The object (or array) variant of a nullable union; the schema itself otherwise."""
    for v in _variants(doc, schema):
        if v.get("type") in ("object", "array") or "properties" in v or "items" in v:
            return v
    return schema


def _compare(ctx: _Ctx, old_s: Any, new_s: Any, where: str, request: bool) -> None:
    refs = (_ref(old_s), _ref(new_s), str(request))
    if refs[0] or refs[1]:
        if refs in ctx.active:  # a recursive schema: this pair is already being compared above
            return
        ctx.active.add(refs)
        try:
            _compare_resolved(ctx, old_s, new_s, where, request)
        finally:
            ctx.active.discard(refs)
    else:
        _compare_resolved(ctx, old_s, new_s, where, request)


def _ref(schema: Any) -> str:
    return schema.get("$ref", "") if isinstance(schema, Mapping) else ""


def _compare_resolved(ctx: _Ctx, old_s: Any, new_s: Any, where: str, request: bool) -> None:
    old = _resolve(ctx.old_doc, old_s)
    new = _resolve(ctx.new_doc, new_s)

    ot, nt = _types(ctx.old_doc, old), _types(ctx.new_doc, new)
    if ot and nt and ot != nt:
        lost, gained = ot - nt, nt - ot
        breaking = bool(lost) if request else bool(gained)
        ctx.add(
            "changed-type" if breaking else "widened-type" if request else "narrowed-type",
            where,
            f"{'/'.join(sorted(ot))} -> {'/'.join(sorted(nt))}",
            breaking,
        )

    oe, ne = _enum(ctx.old_doc, old), _enum(ctx.new_doc, new)
    if oe is not None:
        removed = oe - (ne or set()) if ne is not None else set()
        added = (ne or set()) - oe
        if removed:
            ctx.add(
                "narrowed-enum" if request else "response-enum-narrowed",
                where,
                f"no longer {'accepts' if request else 'returns'} {sorted(removed)}",
                request,
            )
        if added:
            ctx.add("widened-enum", where, f"adds {sorted(added)}", False)

    oo, no = _object_part(ctx.old_doc, old), _object_part(ctx.new_doc, new)
    oprops = oo.get("properties") or {}
    nprops = no.get("properties") or {}
    oreq = set(oo.get("required") or [])
    nreq = set(no.get("required") or [])
    for name in sorted(set(oprops) | set(nprops)):
        sub = f"{where}.{name}"
        if name in oprops and name not in nprops:
            if request:
                ctx.add("removed-request-field", sub, "no longer accepted", False)
            else:
                ctx.add("removed-response-field", sub, "no longer returned")
            continue
        if name not in oprops:
            if request and name in nreq:
                ctx.add("new-required-request-field", sub, "new required field")
            else:
                ctx.add("added-field", sub, "new optional field" if request else "new field", False)
            continue
        if request and name in nreq and name not in oreq:
            ctx.add("new-required-request-field", sub, "now required")
        if not request and name in oreq and name not in nreq:
            ctx.add(
                "removed-response-field", sub, "no longer always returned (not required any more)"
            )
        _compare(ctx, oprops[name], nprops[name], sub, request)

    if "items" in oo and "items" in no:
        _compare(ctx, oo["items"], no["items"], f"{where}[]", request)


def _json_schema(content: Any) -> Any:
    if not isinstance(content, Mapping):
        return None
    for media, body in content.items():
        if "json" in media and isinstance(body, Mapping):
            return body.get("schema")
    for body in content.values():
        if isinstance(body, Mapping) and "schema" in body:
            return body["schema"]
    return None


def _params(doc: Mapping, path_item: Mapping, op: Mapping) -> dict[tuple[str, str], dict]:
    out = {}
    for p in list(path_item.get("parameters") or []) + list(op.get("parameters") or []):
        p = _resolve(doc, p)
        if "name" in p:
            out[(p.get("in", "query"), p["name"])] = p
    return out


def diff(old: Mapping, new: Mapping) -> list[Change]:
    ctx = _Ctx(old, new)
    opaths, npaths = old.get("paths") or {}, new.get("paths") or {}
    for path in sorted(set(opaths) | set(npaths)):
        if path not in npaths:
            ctx.add("removed-path", path, "path removed")
            continue
        if path not in opaths:
            ctx.add("added-path", path, "new path", False)
            continue
        oi, ni = opaths[path] or {}, npaths[path] or {}
        for method in METHODS:
            if method not in oi and method not in ni:
                continue
            where = f"{method.upper()} {path}"
            if method not in ni:
                ctx.add("removed-operation", where, "operation removed")
                continue
            if method not in oi:
                ctx.add("added-operation", where, "new operation", False)
                continue
            _compare_operation(ctx, oi, ni, oi[method] or {}, ni[method] or {}, where)
    if not ctx.changes and old != new:
        ctx.add(
            "changed-document",
            "(document)",
            "the document differs in descriptions or metadata",
            False,
        )
    return ctx.changes


def _compare_operation(
    ctx: _Ctx, oi: Mapping, ni: Mapping, op: Mapping, np: Mapping, where: str
) -> None:
    oparams = _params(ctx.old_doc, oi, op)
    nparams = _params(ctx.new_doc, ni, np)
    for key in sorted(set(oparams) | set(nparams)):
        sub = f"{where} {key[0]} parameter {key[1]}"
        o, n = oparams.get(key), nparams.get(key)
        if n is None:
            ctx.add("removed-parameter", sub, "no longer accepted", False)
        elif o is None:
            if n.get("required"):
                ctx.add("new-required-request-field", sub, "new required parameter")
            else:
                ctx.add("added-parameter", sub, "new optional parameter", False)
        else:
            if n.get("required") and not o.get("required"):
                ctx.add("new-required-request-field", sub, "parameter now required")
            _compare(ctx, o.get("schema") or {}, n.get("schema") or {}, sub, request=True)

    obody = _resolve(ctx.old_doc, op.get("requestBody") or {})
    nbody = _resolve(ctx.new_doc, np.get("requestBody") or {})
    if nbody.get("required") and not obody:
        ctx.add(
            "new-required-request-field", f"{where} request body", "a request body is now required"
        )
    os_, ns_ = _json_schema(obody.get("content")), _json_schema(nbody.get("content"))
    if os_ is not None and ns_ is not None:
        _compare(ctx, os_, ns_, f"{where} request", request=True)
    elif ns_ is not None and nbody.get("required"):
        ctx.add(
            "new-required-request-field", f"{where} request body", "a request body is now required"
        )

    oresp, nresp = op.get("responses") or {}, np.get("responses") or {}
    for status in sorted(set(oresp) | set(nresp), key=str):
        sub = f"{where} response {status}"
        if status not in nresp:
            ctx.add("removed-response", sub, "response removed", str(status).startswith("2"))
            continue
        if status not in oresp:
            ctx.add("added-response", sub, "new response", False)
            continue
        o = _json_schema(_resolve(ctx.old_doc, oresp[status]).get("content"))
        n = _json_schema(_resolve(ctx.new_doc, nresp[status]).get("content"))
        if o is not None and n is None:
            ctx.add("removed-response-field", sub, "response body removed")
        elif o is not None and n is not None:
            _compare(ctx, o, n, sub, request=False)


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.breaking]

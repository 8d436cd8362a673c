"""Breaking-change diff between two OpenAPI 3.0/3.1 documents (pure functions over dicts).

Breaking, for a client written (or generated) against ``old``:

* operations: ``removed-path``, ``removed-operation``, ``renamed-operation`` (its operationId now
  lives under another method or path), ``changed-operation-id``, ``changed-security`` (the
  effective security requirement, or the definition of a scheme it names, differs -- whether it
  was added, removed or replaced);
* requests: ``new-required-request-field`` (a required body property, parameter or header appears,
  an optional one becomes required, a body becomes required), ``tightened-constraint`` (a length,
  item count, numeric bound, ``pattern``, ``format``, ``multipleOf``, ``uniqueItems`` or
  ``additionalProperties`` that accepts less than before), ``narrowed-enum`` (an accepted value
  disappears, or an ``enum``/``const`` appears where any value was accepted), ``changed-type``
  (a value loses an accepted type), ``changed-media-type`` (a media type is no longer accepted);
* responses: ``removed-response`` (a success status disappears), ``removed-response-field`` (a
  property disappears or stops being required, or the body goes), ``removed-response-enum-value``,
  ``changed-type`` (a value gains a type the client did not expect), ``changed-media-type`` (a
  media type the response had is gone, e.g. JSON switched to CSV), ``removed-response-header``.

``$ref`` (with 3.1 sibling keywords) and ``allOf`` are resolved; the null alternative of a 3.1
``anyOf``/``oneOf``/type list (and 3.0 ``nullable``) is set aside when constraints are compared,
and the other alternatives are paired by type. Paths are matched by their template, so renaming a
path parameter shows as that parameter's change rather than as a removed path.

Every other difference is non-breaking; the runner then asks for the snapshot to be updated in the
same commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
BREAKING_KINDS = (
    "removed-path",
    "removed-operation",
    "renamed-operation",
    "changed-operation-id",
    "changed-security",
    "removed-response",
    "removed-response-field",
    "removed-response-enum-value",
    "removed-response-header",
    "new-required-request-field",
    "tightened-constraint",
    "changed-type",
    "changed-media-type",
    "narrowed-enum",
)
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")
_CONSTRAINTS = (
    *_LOWER_BOUNDS,
    *_UPPER_BOUNDS,
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "pattern",
    "format",
    "const",
    "uniqueItems",
    "additionalProperties",
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


# ----- schema resolution ---------------------------------------------------------------------


def _pointer(doc: Mapping, ref: str) -> Any:
    node: Any = doc
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
    return node


def _resolve(doc: Mapping, schema: Any, depth: int = 0) -> dict:
    if not isinstance(schema, Mapping):
        return {}
    if "$ref" in schema and depth < 50:
        ref = schema["$ref"]
        if isinstance(ref, str) and ref.startswith("#/"):
            return {
                **_resolve(doc, _pointer(doc, ref), depth + 1),
                **{k: v for k, v in schema.items() if k != "$ref"},
            }
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
    """The alternatives of a schema; keywords beside ``anyOf``/``oneOf`` apply to each."""
    for key in ("anyOf", "oneOf"):
        if key in schema and isinstance(schema[key], list):
            outer = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            return [{**outer, **_resolve(doc, s)} for s in schema[key]]
    return [dict(schema)]


def _is_null(variant: Mapping) -> bool:
    return variant.get("type") == "null" or ("const" in variant and variant["const"] is None)


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
            out.add("null" if v["const"] is None else type(v["const"]).__name__)
        elif "enum" in v:
            out.add("enum")
        if v.get("nullable") is True:
            out.add("null")
    if "integer" in out and "number" in out:
        out.discard("integer")
    return frozenset(out)


def _enum(doc: Mapping, schema: Mapping) -> set | None:
    values: set | None = None
    for v in _variants(doc, schema):
        if _is_null(v):
            continue
        if "enum" in v:
            values = (values or set()) | {repr(x) for x in v["enum"] if x is not None}
        elif "const" in v:
            values = (values or set()) | {repr(v["const"])}
        else:  # an alternative without an enum accepts any value of its type
            return None
    return values


def _pairs(old_doc: Mapping, old: Mapping, new_doc: Mapping, new: Mapping) -> list[tuple]:
    """The non-null alternatives of ``old`` and ``new`` that describe the same kind of value."""
    ov = [v for v in _variants(old_doc, old) if not _is_null(v)]
    nv = [v for v in _variants(new_doc, new) if not _is_null(v)]
    if len(ov) == 1 and len(nv) == 1:
        return [(ov[0], nv[0])]
    pairs = []
    for v in ov:
        kind = _types(old_doc, v)
        same = [n for n in nv if _types(new_doc, n) == kind]
        if same:
            # Several alternatives of one type (two object shapes): the one with the most
            # properties in common describes the same value.
            fields = set(v.get("properties") or {})
            pairs.append((v, max(same, key=lambda n: len(fields & set(n.get("properties") or {})))))
    return pairs


# ----- constraints -----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _lower(s: Mapping) -> tuple[float, bool] | None:
    """The effective lower bound as (value, exclusive), 3.0 and 3.1 spellings alike."""
    bounds = []
    if (m := _number(s.get("minimum"))) is not None:
        bounds.append((m, s.get("exclusiveMinimum") is True))
    if (e := _number(s.get("exclusiveMinimum"))) is not None:
        bounds.append((e, True))
    return max(bounds) if bounds else None


def _upper(s: Mapping) -> tuple[float, bool] | None:
    bounds = []
    if (m := _number(s.get("maximum"))) is not None:
        bounds.append((m, s.get("exclusiveMaximum") is True))
    if (e := _number(s.get("exclusiveMaximum"))) is not None:
        bounds.append((e, True))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


def _show_bound(bound: tuple[float, bool] | None, op: str) -> str:
    if bound is None:
        return "none"
    return f"{op}{'' if bound[1] else '='} {bound[0]}"


def _accepts_any_extra(value: Any) -> bool:
    return value is None or value is True or value == {}


def _tightened(old: Mapping, new: Mapping) -> list[str]:
    """What ``new`` refuses that ``old`` accepted, one phrase per keyword."""
    out = []
    for key in _LOWER_BOUNDS:
        o, n = _number(old.get(key)), _number(new.get(key))
        if n is not None and (o is None or n > o):
            out.append(f"{key} {o} -> {n}")
    for key in _UPPER_BOUNDS:
        o, n = _number(old.get(key)), _number(new.get(key))
        if n is not None and (o is None or n < o):
            out.append(f"{key} {o} -> {n}")
    lo, ln = _lower(old), _lower(new)
    if ln is not None and (lo is None or ln[0] > lo[0] or (ln == (lo[0], True) and not lo[1])):
        out.append(f"lower bound {_show_bound(lo, '>')} -> {_show_bound(ln, '>')}")
    uo, un = _upper(old), _upper(new)
    if un is not None and (uo is None or un[0] < uo[0] or (un == (uo[0], True) and not uo[1])):
        out.append(f"upper bound {_show_bound(uo, '<')} -> {_show_bound(un, '<')}")
    om, nm = _number(old.get("multipleOf")), _number(new.get("multipleOf"))
    if nm is not None and (om is None or om % nm != 0):
        out.append(f"multipleOf {om} -> {nm}")
    for key in ("pattern", "format"):
        if new.get(key) is not None and new.get(key) != old.get(key):
            out.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        out.append("uniqueItems added")
    if _accepts_any_extra(old.get("additionalProperties")) and not _accepts_any_extra(
        new.get("additionalProperties")
    ):
        out.append("additional properties no longer accepted")
    return out


def _constraint_changes(ctx: _Ctx, old: Mapping, new: Mapping, where: str, request: bool) -> None:
    tightened = _tightened(old, new) if request else []
    for phrase in tightened:
        ctx.add("tightened-constraint", where, phrase)
    if not tightened and any(old.get(k) != new.get(k) for k in _CONSTRAINTS):
        ctx.add("changed-constraint", where, "constraints relaxed or changed compatibly", False)


# ----- schemas ---------------------------------------------------------------------------------


def _ref(schema: Any) -> str:
    return schema.get("$ref", "") if isinstance(schema, Mapping) else ""


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
    if oe is not None or ne is not None:
        if oe is not None and ne is not None:
            removed, added = oe - ne, ne - oe
        else:
            removed, added = set(), set()
        if request and oe is None:
            ctx.add("narrowed-enum", where, f"now limited to {sorted(ne or ())}")
        elif removed:
            ctx.add(
                "narrowed-enum" if request else "removed-response-enum-value",
                where,
                f"no longer {'accepts' if request else 'returns'} {sorted(removed)}",
            )
        if added:
            ctx.add("widened-enum", where, f"adds {sorted(added)}", False)

    for o, n in _pairs(ctx.old_doc, old, ctx.new_doc, new):
        _constraint_changes(ctx, o, n, where, request)
        _compare_properties(ctx, o, n, where, request)
        if "items" in o and "items" in n:
            _compare(ctx, o["items"], n["items"], f"{where}[]", request)


def _compare_properties(ctx: _Ctx, oo: Mapping, no: Mapping, where: str, request: bool) -> None:
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


# ----- content, parameters, headers ------------------------------------------------------------


def _content(doc: Mapping, holder: Mapping) -> dict[str, Any]:
    """media type -> schema (None when the media type has no schema)."""
    content = holder.get("content")
    if not isinstance(content, Mapping):
        return {}
    return {
        media: (_resolve(doc, body).get("schema") if isinstance(body, Mapping) else None)
        for media, body in content.items()
    }


def _compare_content(
    ctx: _Ctx, old: dict[str, Any], new: dict[str, Any], where: str, request: bool
) -> None:
    gone = sorted(set(old) - set(new))
    if gone:
        ctx.add(
            "changed-media-type",
            where,
            f"{', '.join(gone)} -> {', '.join(sorted(new)) or 'no body'}"
            if not request
            else f"no longer accepts {', '.join(gone)}",
        )
    for media in sorted(set(old) - set(gone)):
        o, n = old[media], new[media]
        if o is not None and n is None and not request:
            ctx.add("removed-response-field", f"{where} {media}", "response schema removed")
        elif o is not None and n is not None:
            label = where if len(old) == 1 and len(new) == 1 else f"{where} {media}"
            _compare(ctx, o, n, label, request)
    for media in sorted(set(new) - set(old)):
        ctx.add("added-media-type", where, f"adds {media}", False)


def _param_schema(doc: Mapping, param: Mapping) -> Any:
    if "schema" in param:
        return param["schema"]
    schemas = [s for s in _content(doc, param).values() if s is not None]
    return schemas[0] if schemas else {}


def _params(doc: Mapping, path_item: Mapping, op: Mapping) -> dict[tuple[str, str], dict]:
    out = {}
    for p in list(path_item.get("parameters") or []) + list(op.get("parameters") or []):
        p = _resolve(doc, p)
        if "name" in p:
            name = p["name"].lower() if p.get("in") == "header" else p["name"]
            out[(p.get("in", "query"), name)] = p
    return out


def _compare_parameters(
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
            _compare(
                ctx,
                _param_schema(ctx.old_doc, o),
                _param_schema(ctx.new_doc, n),
                sub,
                request=True,
            )


def _compare_headers(ctx: _Ctx, old: Mapping, new: Mapping, where: str) -> None:
    oh = {k.lower(): _resolve(ctx.old_doc, v) for k, v in (old.get("headers") or {}).items()}
    nh = {k.lower(): _resolve(ctx.new_doc, v) for k, v in (new.get("headers") or {}).items()}
    for name in sorted(oh):
        if name not in nh:
            ctx.add("removed-response-header", f"{where} header {name}", "no longer sent")
        else:
            _compare(
                ctx,
                _param_schema(ctx.old_doc, oh[name]),
                _param_schema(ctx.new_doc, nh[name]),
                f"{where} header {name}",
                request=False,
            )


# ----- security --------------------------------------------------------------------------------


def _security(doc: Mapping, op: Mapping) -> frozenset:
    requirements = op["security"] if "security" in op else doc.get("security") or []
    return frozenset(
        frozenset((name, tuple(sorted(scopes or ()))) for name, scopes in (req or {}).items())
        for req in requirements
    )


def _show_security(requirements: frozenset) -> str:
    if not requirements:
        return "none"
    alternatives = [
        " + ".join(sorted(name for name, _ in req)) or "anonymous" for req in requirements
    ]
    return " | ".join(sorted(alternatives))


def _scheme(doc: Mapping, name: str) -> dict:
    return _resolve(doc, ((doc.get("components") or {}).get("securitySchemes") or {}).get(name))


def _compare_security(ctx: _Ctx, op: Mapping, np: Mapping, where: str) -> None:
    old, new = _security(ctx.old_doc, op), _security(ctx.new_doc, np)
    if old != new:
        ctx.add("changed-security", where, f"{_show_security(old)} -> {_show_security(new)}")
        return
    for name in sorted({name for req in old for name, _ in req}):
        o, n = _scheme(ctx.old_doc, name), _scheme(ctx.new_doc, name)
        fields = ("type", "scheme", "in", "name", "bearerFormat", "flows", "openIdConnectUrl")
        if any(o.get(f) != n.get(f) for f in fields):
            ctx.add("changed-security", where, f"security scheme {name} changed")


# ----- operations ------------------------------------------------------------------------------


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _match_paths(opaths: Mapping, npaths: Mapping) -> dict[str, str]:
    """old path -> new path: the same string, else the same template under new parameter names."""
    matched = {p: p for p in opaths if p in npaths}
    by_template: dict[str, list[str]] = {}
    for p in npaths:
        if p not in opaths:
            by_template.setdefault(_template(p), []).append(p)
    for p in opaths:
        candidates = by_template.get(_template(p), [])
        if p not in matched and len(candidates) == 1:
            matched[p] = candidates[0]
    return matched


def _operation_ids(paths: Mapping) -> dict[str, tuple[str, str]]:
    out = {}
    for path, item in paths.items():
        for method in METHODS:
            op = (item or {}).get(method)
            if isinstance(op, Mapping) and op.get("operationId"):
                out[op["operationId"]] = (method, path)
    return out


def diff(old: Mapping, new: Mapping) -> list[Change]:
    ctx = _Ctx(old, new)
    opaths, npaths = old.get("paths") or {}, new.get("paths") or {}
    matched = _match_paths(opaths, npaths)
    new_ids = _operation_ids(npaths)

    def removed(method: str, path: str, kind: str, detail: str) -> None:
        op_id = ((opaths[path] or {}).get(method) or {}).get("operationId")
        moved = new_ids.get(op_id) if op_id else None
        if moved and moved != (method, matched.get(path)):
            where = f"{method.upper()} {path}"
            ctx.add("renamed-operation", where, f"{op_id} moved to {moved[0].upper()} {moved[1]}")
        else:
            ctx.add(kind, f"{method.upper()} {path}", detail)

    for path in sorted(opaths):
        if path not in matched:
            methods = [m for m in METHODS if m in (opaths[path] or {})]
            for method in methods:
                removed(method, path, "removed-path", "path removed")
            if not methods:
                ctx.add("removed-path", path, "path removed")
            continue
        oi, ni = opaths[path] or {}, npaths[matched[path]] or {}
        for method in METHODS:
            if method not in oi and method not in ni:
                continue
            where = f"{method.upper()} {path}"
            if method not in ni:
                removed(method, path, "removed-operation", "operation removed")
            elif method not in oi:
                ctx.add("added-operation", where, "new operation", False)
            else:
                _compare_operation(ctx, oi, ni, oi[method] or {}, ni[method] or {}, where)
    for path in sorted(set(npaths) - set(matched.values())):
        ctx.add("added-path", path, "new path", False)
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
    if op.get("operationId") != np.get("operationId"):
        ctx.add(
            "changed-operation-id",
            where,
            f"{op.get('operationId')} -> {np.get('operationId')} (generated clients rename it)",
        )
    _compare_security(ctx, op, np, where)
    _compare_parameters(ctx, oi, ni, op, np, where)

    obody = _resolve(ctx.old_doc, op.get("requestBody") or {})
    nbody = _resolve(ctx.new_doc, np.get("requestBody") or {})
    if nbody.get("required") and not obody.get("required"):
        ctx.add(
            "new-required-request-field", f"{where} request body", "a request body is now required"
        )
    if obody and nbody:
        _compare_content(
            ctx,
            _content(ctx.old_doc, obody),
            _content(ctx.new_doc, nbody),
            f"{where} request",
            request=True,
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
        o, n = _resolve(ctx.old_doc, oresp[status]), _resolve(ctx.new_doc, nresp[status])
        _compare_headers(ctx, o, n, sub)
        _compare_content(
            ctx, _content(ctx.old_doc, o), _content(ctx.new_doc, n), sub, request=False
        )


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.breaking]

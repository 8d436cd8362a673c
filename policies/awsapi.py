"""AWS API input constraints, offline: botocore's service models plus documented limits they lack.

botocore ships every AWS API's input shapes in its data files: string lengths, patterns and enums,
number ranges and list sizes (``shape.metadata``). :func:`build_request` turns a resource's
camelCase props into a request for one API call, shaped by the call's input model (nested keys are
matched to members case-insensitively, a one-element list fills a structure, a tag map fills a
``[{Key, Value}]`` list), and :func:`check_request` validates it against the model and against
:class:`Documented` constraints, each with the page of AWS's documentation it comes from.

Patterns are matched against the whole value: AWS's service models inherit them from the services'
own validation, which accepts a value only when the whole of it matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from .model import is_unknown, plain

if TYPE_CHECKING:
    from botocore.model import ListShape, MapShape, Shape, StructureShape
    from botocore.session import Session

_OMIT = object()


@dataclass(frozen=True)
class Documented:
    """A constraint AWS documents for a parameter but the service model does not carry."""

    source: str
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    explain: str = ""
    forbid: str | None = None  # a pattern the value must not match (``re.search``)
    number_min: float | None = None
    number_max: float | None = None
    one_of: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Call:
    """One API call a resource type's create (or configure) step makes.

    ``params`` maps a top-level parameter name to the prop that fills it: a dotted camelCase path,
    or a function of the props. ``documented`` maps a parameter path (``Attributes.Policy``,
    ``Rules[].Id``) to extra constraints.
    """

    service: str
    operation: str
    params: Mapping[str, str | Callable[[Mapping[str, Any]], Any]]
    documented: Mapping[str, Documented] = field(default_factory=dict)


@cache
def _session() -> Session:
    import botocore.session

    return botocore.session.get_session()


@cache
def input_shape(service: str, operation: str) -> StructureShape:
    shape = _session().get_service_model(service).operation_model(operation).input_shape
    if shape is None:
        raise ValueError(f"{service}.{operation} takes no input")
    return shape


def botocore_version() -> str:
    import botocore

    return botocore.__version__


# ----- props -> request ------------------------------------------------------------------------


def prop(props: Mapping[str, Any], path: str) -> Any:
    cur: Any = props
    for step in path.split("."):
        if not isinstance(cur, Mapping) or step not in cur:
            return None
        cur = cur[step]
    return cur


def _known(v: Any) -> bool:
    return v is not None and not is_unknown(v)


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


def _member(shape: StructureShape, key: str) -> str | None:
    lowered = {m.lower(): m for m in shape.members}
    k = key.lower()
    for candidate in (k, _singular(k), k + "s"):
        if candidate in lowered:
            return lowered[candidate]
    return None


def _pair_members(shape: StructureShape) -> tuple[str, str] | None:
    """A list member that is a key/value pair structure ({Key, Value}, {Name, Value}, ...)."""
    members = list(shape.members)
    if len(members) != 2:
        return None
    lowered = [m.lower() for m in members]
    for key, val in (("key", "value"), ("name", "value"), ("tagkey", "tagvalue")):
        if key in lowered and val in lowered:
            return members[lowered.index(key)], members[lowered.index(val)]
    return None


def convert(shape: Shape, value: Any) -> Any:
    """A plain prop value -> the value the API takes for ``shape``; unknowns are dropped."""
    if not _known(value):
        return _OMIT
    t = shape.type_name
    if t == "structure":
        shape = cast("StructureShape", shape)  # botocore's class for every structure
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 1:
            value = value[0]
        if not isinstance(value, Mapping):
            return value
        out = {}
        for k, v in value.items():
            name = _member(shape, str(k))
            if name is None:
                continue
            converted = convert(shape.members[name], v)
            if converted is not _OMIT:
                out[name] = converted
        return out
    if t == "list":
        member = cast("ListShape", shape).member
        if isinstance(value, Mapping) and member.type_name == "structure":
            pair = _pair_members(cast("StructureShape", member))
            if pair:
                value = [{pair[0]: k, pair[1]: v} for k, v in value.items()]
        if isinstance(value, str) or not isinstance(value, Sequence):
            value = [value]
        items = [convert(member, v) for v in value]
        return [i for i in items if i is not _OMIT]
    if t == "map":
        if not isinstance(value, Mapping):
            return value
        return {
            k: cv
            for k, v in value.items()
            if (cv := convert(cast("MapShape", shape).value, v)) is not _OMIT and _known(k)
        }
    if t == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, int):
            return str(value)
        return value
    if t in ("integer", "long") and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if t == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def build_request(call: Call, props: Mapping[str, Any]) -> dict[str, Any]:
    shape = input_shape(call.service, call.operation)
    request: dict[str, Any] = {}
    for param, source in call.params.items():
        raw = source(props) if callable(source) else prop(props, source)
        if raw is None:
            continue
        converted = convert(shape.members[param], plain(raw))
        if converted is not _OMIT and converted not in ({}, []):
            request[param] = converted
    return request


# ----- validation ------------------------------------------------------------------------------


# Java regex constructs the service models use, in Python's syntax. The translations of Unicode
# categories err on the side of accepting (\w holds letters, digits and more), never refusing more
# than AWS does.
_JAVA_CLASSES = (
    (r"\p{L}", r"\w"),
    (r"\p{N}", r"\w"),
    (r"\p{Z}", r"\s"),
    (r"\p{Print}", r"\x20-\x7e"),
    (r"\uD800\uDC00-\uDBFF\uDFFF", r"\U00010000-\U0010ffff"),
)


def python_pattern(pattern: str) -> str:
    for java, python in _JAVA_CLASSES:
        if java == r"\p{Print}" and java in pattern and f"[{java}" not in pattern:
            python = f"[{python}]"
        pattern = pattern.replace(java, python)
    return pattern


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(python_pattern(pattern), re.DOTALL)
    except re.error:
        return None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 72 else text[:69] + "..."


def _check_scalar(shape: Shape, value: Any, path: str) -> Iterator[str]:
    t = shape.type_name
    meta = shape.metadata
    if t == "string":
        if not isinstance(value, str):
            yield f"{path}: expected a string, got {_show(value)}"
            return
        if "min" in meta and len(value) < meta["min"]:
            yield f"{path} {_show(value)} is {len(value)} characters; the minimum is {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            yield f"{path} {_show(value)} is {len(value)} characters; the maximum is {meta['max']}"
        enum = getattr(shape, "enum", None) or []
        if enum and value not in enum:
            yield f"{path} {_show(value)} is not one of {', '.join(enum)}"
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            yield f"{path} {_show(value)} does not match the pattern {pattern}"
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            yield f"{path}: expected a number, got {_show(value)}"
            return
        if t in ("integer", "long") and not float(value).is_integer():
            yield f"{path}: expected a whole number, got {_show(value)}"
        if "min" in meta and value < meta["min"]:
            yield f"{path} is {value:g}; the minimum is {meta['min']}"
        if "max" in meta and value > meta["max"]:
            yield f"{path} is {value:g}; the maximum is {meta['max']}"
    elif t == "boolean" and not isinstance(value, bool):
        yield f"{path}: expected a boolean, got {_show(value)}"


def check_shape(shape: Shape, value: Any, path: str) -> Iterator[str]:
    """Violations of ``shape``'s model constraints by ``value`` (already converted)."""
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, Mapping):
            yield f"{path}: expected an object, got {_show(value)}"
            return
        members = cast("StructureShape", shape).members
        for name, v in value.items():
            yield from check_shape(members[name], v, f"{path}.{name}")
    elif t == "list":
        if not isinstance(value, list):
            yield f"{path}: expected a list, got {_show(value)}"
            return
        if "min" in meta and len(value) < meta["min"]:
            yield f"{path} has {len(value)} items; the minimum is {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            yield f"{path} has {len(value)} items; the maximum is {meta['max']}"
        for i, v in enumerate(value):
            yield from check_shape(cast("ListShape", shape).member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, Mapping):
            yield f"{path}: expected an object, got {_show(value)}"
            return
        if "max" in meta and len(value) > meta["max"]:
            yield f"{path} has {len(value)} entries; the maximum is {meta['max']}"
        map_shape = cast("MapShape", shape)
        for k, v in value.items():
            yield from _check_scalar(map_shape.key, k, f"{path} key")
            yield from check_shape(map_shape.value, v, f"{path}[{k!r}]")
    elif t in ("blob", "timestamp"):
        return
    else:
        yield from _check_scalar(shape, value, path)


def _at(request: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Values at a documented path (``A.B``, ``A[].B``), with their concrete paths."""

    def walk(cur: Any, steps: list[str], where: str) -> Iterator[tuple[str, Any]]:
        if not steps:
            yield where, cur
            return
        step, rest = steps[0], steps[1:]
        each = step.endswith("[]")
        key = step[:-2] if each else step
        if not isinstance(cur, Mapping) or key not in cur:
            return
        nxt = cur[key]
        here = f"{where}.{key}" if where else key
        if each:
            if isinstance(nxt, list):
                for i, item in enumerate(nxt):
                    yield from walk(item, rest, f"{here}[{i}]")
        else:
            yield from walk(nxt, rest, here)

    yield from walk(request, path.split("."), "")


def check_documented(doc: Documented, value: Any, path: str) -> Iterator[str]:
    cite = f" ({doc.explain + '; ' if doc.explain else ''}{doc.source})"
    if isinstance(value, str):
        if doc.min is not None and len(value) < doc.min:
            size = len(value)
            yield f"{path} {_show(value)} is {size} characters; the minimum is {doc.min}{cite}"
        if doc.max is not None and len(value) > doc.max:
            size = len(value)
            yield f"{path} {_show(value)} is {size} characters; the maximum is {doc.max}{cite}"
        if doc.pattern and not re.fullmatch(doc.pattern, value, re.DOTALL):
            yield f"{path} {_show(value)} is not allowed{cite}"
        elif doc.forbid and re.search(doc.forbid, value):
            yield f"{path} {_show(value)} is not allowed{cite}"
    number = value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        number = int(value)
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        if doc.number_min is not None and number < doc.number_min:
            yield f"{path} is {number:g}; the minimum is {doc.number_min:g}{cite}"
        if doc.number_max is not None and number > doc.number_max:
            yield f"{path} is {number:g}; the maximum is {doc.number_max:g}{cite}"
    if doc.one_of is not None and value not in doc.one_of:
        yield f"{path} {_show(value)} is not one of {', '.join(map(str, doc.one_of))}{cite}"


def check_request(call: Call, request: Mapping[str, Any]) -> list[str]:
    shape = input_shape(call.service, call.operation)
    problems = []
    for name, v in request.items():
        for p in check_shape(shape.members[name], v, name):
            problems.append(f"{call.operation} {p}")
    for path, doc in call.documented.items():
        for where, v in _at(request, path):
            if _known(v):
                problems.extend(f"{call.operation} {p}" for p in check_documented(doc, v, where))
    return problems

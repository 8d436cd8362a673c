"""A small IAM policy evaluator for the cases the tests need: explicit Deny wins, then any Allow
(identity, resource or trust policy), else implicit deny. Conditions: String*, Arn*, Bool, with
the ForAnyValue/ForAllValues qualifiers, the ``...IfExists`` suffix (true when the key is absent)
and AWS's rule that a negated operator on a missing key matches. Principals: ``AWS``, ``Service``
and ``Federated`` (the identity provider of an ``sts:AssumeRoleWithWebIdentity`` call). A
statement without ``Resource`` (a trust policy's) applies to the role it is attached to.
Wildcards in ``*Like`` operators, actions and resources are ``*`` and ``?`` only: ``[`` and ``]``
are literal characters, unlike shell globs.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass
class Request:
    principal_arn: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(value: str, glob: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run, ``?`` one character, everything else literal."""
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def _context_value(ctx: dict, key: str) -> tuple[bool, Any]:
    """Condition keys are case-insensitive."""
    for k, v in ctx.items():
        if k.lower() == key.lower():
            return True, v
    return False, None


def _condition(op: str, key: str, expected, ctx: dict) -> bool:
    qualifier = None
    if ":" in op and op.split(":")[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, op = op.split(":", 1)
    present, raw = _context_value(ctx, key)
    negated = "Not" in op
    if_exists = op.endswith("IfExists")
    if not present:
        # A negated operator on a missing key matches, and so does any ...IfExists operator.
        return negated or if_exists
    actual = _list(raw)
    expected = [str(e) for e in _list(expected)]
    base = op.replace("Not", "").replace("IfExists", "")
    if base in ("StringEquals", "ArnEquals", "Bool"):

        def hit(a):
            return (
                str(a).lower() in [e.lower() for e in expected]
                if base == "Bool"
                else (str(a) in expected)
            )
    elif base in ("StringLike", "ArnLike"):

        def hit(a):
            return any(like(str(a), e) for e in expected)
    else:
        raise ValueError(f"operator {op} is not supported by this evaluator")
    if qualifier == "ForAllValues":
        result = all(hit(a) for a in actual)
    else:
        result = any(hit(a) for a in actual)
    return not result if negated else result


def _principal_matches(principal, arn: str) -> bool:
    if principal is None or principal == "*":
        return True
    if not isinstance(principal, dict):
        return principal == arn
    for kind in ("AWS", "Service", "Federated"):
        listed = _list(principal.get(kind, []))
        if (kind == "AWS" and "*" in listed) or arn in listed:
            return True
    return False


def _statement_applies(st: dict, req: Request) -> bool:
    if not _principal_matches(st.get("Principal"), req.principal_arn):
        return False
    if not any(like(req.action, a, ignore_case=True) for a in _list(st["Action"])):
        return False
    if "Resource" in st and not any(like(req.resource, r) for r in _list(st["Resource"])):
        return False
    for op, block in (st.get("Condition") or {}).items():
        for key, expected in block.items():
            if not _condition(op, key, expected, req.context):
                return False
    return True


def evaluate(req: Request, *policies: dict) -> str:
    """'Allow', 'Deny' (explicit) or 'ImplicitDeny'."""
    allowed = False
    for policy in policies:
        for st in _list(policy["Statement"]):
            if _statement_applies(st, req):
                if st["Effect"] == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def evaluate_bounded(req: Request, identity: list[dict], boundary: dict) -> str:
    """An identity-based request under a permissions boundary: allowed only when the identity
    policies allow it and the boundary allows it, with an explicit Deny in either winning."""
    verdict = evaluate(req, *identity, boundary)
    if verdict == "Deny":
        return "Deny"
    if evaluate(req, *identity) != "Allow" or evaluate(req, boundary) != "Allow":
        return "ImplicitDeny"
    return "Allow"

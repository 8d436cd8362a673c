"""A small IAM policy evaluator for the cases the tests need: explicit Deny wins, then any Allow
(identity or resource policy), else implicit deny. Conditions: String*, Arn*, Bool, with the
ForAnyValue qualifier and AWS's rule that a negated operator on a missing key matches.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass
class Request:
    principal_arn: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def _condition(op: str, key: str, expected, ctx: dict) -> bool:
    qualifier = None
    if ":" in op and op.split(":")[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, op = op.split(":", 1)
    present = key in ctx
    negated = "Not" in op
    if not present:
        return negated  # a negated operator on a missing key matches; anything else does not
    actual = _list(ctx[key])
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
            return any(fnmatchcase(str(a), e) for e in expected)
    else:
        raise ValueError(f"operator {op} is not supported by this evaluator")
    if qualifier == "ForAllValues":
        result = all(hit(a) for a in actual)
    else:
        result = any(hit(a) for a in actual)
    return not result if negated else result


def _statement_applies(st: dict, req: Request) -> bool:
    principal = st.get("Principal")
    if principal is not None and principal != "*":
        aws = _list(principal.get("AWS", [])) if isinstance(principal, dict) else []
        if "*" not in aws and req.principal_arn not in aws:
            return False
    if not any(fnmatchcase(req.action.lower(), a.lower()) for a in _list(st["Action"])):
        return False
    if not any(fnmatchcase(req.resource, r) for r in _list(st["Resource"])):
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

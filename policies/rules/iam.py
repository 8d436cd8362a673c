"""IAM: no wildcard grants, no static credentials, OIDC trust pinned to one subject."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from ..iamdoc import statements
from ..model import DEFER, Rule, as_list, load_json_document, peek, value

ROLE = "aws:iam/role:Role"
DOCUMENT_TYPES = (
    ROLE,
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
STATIC_CREDENTIAL_TYPES = (
    "aws:iam/user:User",
    "aws:iam/accessKey:AccessKey",
    "aws:iam/userLoginProfile:UserLoginProfile",
    "aws:iam/serviceSpecificCredential:ServiceSpecificCredential",
    "aws:iam/signingCertificate:SigningCertificate",
)
ADMIN_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
)


def _wildcard_findings(doc: object, where: str) -> Iterator[str]:
    for st in statements(doc):
        if not st.allows():
            continue
        everything = "*" in st.resources or bool(st.not_resources)
        if not everything:
            continue
        if st.not_actions:
            yield (
                f"{where}: Allow with NotAction {st.not_actions} on Resource '*' grants nearly "
                "everything"
            )
        for action in st.actions:
            if action == "*" or action.endswith(":*"):
                yield f"{where}: Allow of {action!r} on Resource '*'"


def check_wildcards(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if type_ == ROLE:
        for i, inline in enumerate(as_list(value(props, "inlinePolicies"))):
            doc = load_json_document(peek(inline, "policy"), ["inlinePolicies", str(i), "policy"])
            yield from _wildcard_findings(doc, f"inline policy {peek(inline, 'name') or i}")
        for arn in as_list(value(props, "managedPolicyArns")):
            if arn in ADMIN_MANAGED_POLICIES:
                yield f"managed policy {arn} grants administrator-level access"
        return
    yield from _wildcard_findings(load_json_document(peek(props, "policy"), ["policy"]), "policy")


def check_static_credentials(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    yield (
        f"{type_.rsplit(':', 1)[-1]} creates a long-lived IAM user credential; use roles "
        "(instance/task/function roles, OIDC for CI)"
    )


GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# Operators that pin a claim: the key must be present and match. ...IfExists variants are true
# when the key is absent and negated operators match nearly everything, so neither pins.
PINNING_OPERATORS = ("stringequals", "stringlike")
# A GitHub subject names one repository literally: repo:<owner>/<name>:<context>.
_GITHUB_SUBJECT = re.compile(r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:")


def _provider_host(federated: str) -> str:
    return federated.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in federated else federated


def _pinned_subjects(conditions: Mapping[str, Mapping[str, list[str]]], host: str) -> list[str]:
    """Values of ``<host>:sub`` under a pinning operator (empty when none)."""
    values: list[str] = []
    for op, block in conditions.items():
        qualified = op.lower().startswith(("foranyvalue:", "forallvalues:"))
        base = op.split(":", 1)[1] if qualified else op
        if base.lower() not in PINNING_OPERATORS:
            continue
        for key, vals in block.items():
            if key.lower() == f"{host}:sub".lower():
                values += vals
    return values


def _subject_problem(host: str, subject: str) -> str | None:
    if host == GITHUB_OIDC_HOST:
        if not _GITHUB_SUBJECT.match(subject):
            return (
                f"subject {subject!r} does not name one repository (a wildcard over "
                "repositories or organisations lets any of their workflows assume the role); "
                "use repo:<owner>/<name>:environment:<env> or :pull_request"
            )
        return None
    if subject.strip("*?") == "":
        return f"subject {subject!r} matches every identity of {host}"
    return None


def check_oidc_trust(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    doc = load_json_document(peek(props, "assumeRolePolicy"), ["assumeRolePolicy"])
    for st in statements(doc):
        if not st.allows() or not st.covers_action("sts:AssumeRoleWithWebIdentity"):
            continue
        for federated in st.principals.get("Federated", []):
            host = _provider_host(federated)
            subjects = _pinned_subjects(st.conditions, host)
            if not subjects:
                yield (
                    f"trust in {host} has no StringEquals/StringLike condition on {host}:sub: "
                    "every workflow or identity of the provider can assume the role"
                )
                continue
            for subject in subjects:
                problem = _subject_problem(host, subject)
                if problem:
                    yield f"trust in {host}: {problem}"


RULES = [
    Rule(
        name="iam-no-wildcard-grants",
        description="No IAM policy allows '*' or 'service:*' actions (or NotAction) on Resource "
        "'*'.",
        control="IAM.1, IAM.21",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="List the exact actions and resource ARNs the principal needs.",
        unknown=DEFER + " (an unknown policy document)",
        check=check_wildcards,
        types=DOCUMENT_TYPES,
    ),
    Rule(
        name="iam-no-static-credentials",
        description="No IAM users, access keys, login profiles or other long-lived user "
        "credentials.",
        control="JAT-IAM-1 (docs/design.md §3: credentials only from the default chain)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Delete the user or key; give workloads roles and CI an OIDC role.",
        unknown="not applicable: the rule fires on the resource type alone",
        check=check_static_credentials,
        types=STATIC_CREDENTIAL_TYPES,
    ),
    Rule(
        name="iam-oidc-trust-pinned-subject",
        description="A role trusting an OIDC provider (sts:AssumeRoleWithWebIdentity) pins the "
        "token's sub claim with StringEquals/StringLike, and for GitHub names one repository "
        "literally (no wildcard over repositories or organisations).",
        control="JAT-IAM-2 (GitHub OIDC: sub pinned to one repository)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Add Condition StringEquals {<provider>:sub: "
        "repo:<owner>/<name>:environment:<env>} (and <provider>:aud: sts.amazonaws.com).",
        unknown=DEFER + " (an unknown trust policy, e.g. one waiting for the provider's ARN)",
        check=check_oidc_trust,
        types=(ROLE,),
    ),
]

"""IAM: no wildcard grants, no static credentials."""

from __future__ import annotations

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
        control="JAT-IAM-1 (DESIGN 3: credentials only from the default chain)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Delete the user or key; give workloads roles and CI an OIDC role.",
        unknown="not applicable: the rule fires on the resource type alone",
        check=check_static_credentials,
        types=STATIC_CREDENTIAL_TYPES,
    ),
]

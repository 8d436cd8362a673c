"""The key that encrypts second-factor secrets (issue #14): the API service is the only reader.

Every generation of the key is a Secrets Manager secret whose name matches ``keySecretPattern``.
No role other than the API service's own may be granted secretsmanager:GetSecretValue on one,
whether by its ARN, a wildcard or any pattern that takes it in, and no resource policy on one may
grant it; no Lambda function or invocation
may carry one in its environment or input; each is encrypted with a customer-managed KMS key;
and in production the API must receive MFA_ENCRYPTION_KEY as a reference to one, since the app
refuses to start without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..iamdoc import arn_like, statements
from ..joins import StackView
from ..model import NotApplicable, Rule, environment, is_unknown, load_json_document, peek
from .rds import ENV_SCHEMA
from .secrets import check_kms
from .service import (
    APP_RUNNER,
    ROLE,
    SECRET_TYPES,
    SERVICES,
    environment_of,
    role_documents,
    secret_named,
    service_roles,
)

SECRET = ("aws:secretsmanager/secret:Secret",)
SECRET_POLICY = ("aws:secretsmanager/secretPolicy:SecretPolicy",)
FUNCTION = "aws:lambda/function:Function"
INVOCATION = "aws:lambda/invocation:Invocation"
READ = "secretsmanager:GetSecretValue"
KEY_NAME_PATTERN = r"mfa-(previous-)?encryption-key"
KEY_VARIABLE_PATTERN = r"MFA_(PREVIOUS_)?ENCRYPTION_KEY"
API_VARIABLE = "MFA_ENCRYPTION_KEY"
# Secrets Manager appends a hyphen and six random characters to a secret's name in its ARN.
_ARN_SUFFIX = "-AbCdEf"


def refers_to(reference: Any, identifiers: set[str]) -> bool:
    """A Secrets Manager reference names one of ``identifiers``: the ARN itself, or the ARN with a
    JSON key / version suffix (``<arn>:<json-key>:<stage>:<version>``)."""
    if not isinstance(reference, str) or is_unknown(reference):
        return False
    return any(
        reference == i or (i.startswith("arn:") and reference.startswith(i + ":"))
        for i in identifiers
    )


def _instance_of(glob: str) -> str:
    """One string the IAM wildcard ``glob`` matches (``*`` as nothing, ``?`` as one letter)."""
    return glob.replace("*", "").replace("?", "x")


def candidate_arns(stack: StackView, secret: Any, pattern: str) -> list[str]:
    """The ARNs to test ``pattern`` against for ``secret``: its own, once known. While it is
    unknown (a preview before the secret exists) and its name is known, the ARN it will have,
    with partition, region and account taken from the pattern itself so that only the part
    naming the secret decides."""
    known = [i for i in stack.identifiers(secret) if i.startswith("arn:")]
    if known:
        return known
    name = peek(secret.props, "name")
    if not isinstance(name, str) or not name:
        return []
    fields = pattern.split(":", 5) + [""] * 6
    partition, region, account = (_instance_of(fields[i]) for i in (1, 3, 4))
    return [
        f"arn:{partition or 'aws'}:secretsmanager:{region}:{account}:secret:{name}{_ARN_SUFFIX}"
    ]


def _environment_findings(
    what: str, variables: Any, names: re.Pattern[str], key_ids: set[str]
) -> Iterator[str]:
    if not isinstance(variables, Mapping):
        return
    for name in sorted(variables):
        ref = peek(variables, name)
        if names.search(str(name)):
            yield f"{what} has {name} in its environment: only the API holds the second-factor key"
        elif refers_to(ref, key_ids):
            yield f"{what}: {name} references the second-factor key ({ref})"


def _the_api_receives_it(
    svc: Any, keys: list[Any], key_ids: set[str], variable: str
) -> Iterator[str]:
    plain_vars, secrets = environment_of(svc.resource_type, svc.props)
    if variable not in secrets:
        if variable not in plain_vars:  # a plain one is reported on every environment
            yield (
                f"service {svc.name} does not receive {variable}: the API refuses to start in "
                "production without the second-factor key"
            )
        return
    ref = secrets[variable]
    if is_unknown(ref):
        prop = "sourceConfiguration" if svc.resource_type == APP_RUNNER else "containerDefinitions"
        if not [d for d in svc.property_dependencies.get(prop, []) if d in keys]:
            yield f"service {svc.name}: {variable} does not come from the second-factor key secret"
        return
    if not refers_to(ref, key_ids):
        yield f"service {svc.name}: {variable} references {ref}, not the second-factor key secret"


def _grants(stack: StackView, role: Any, keys: list[Any]) -> Iterator[str]:
    """How ``role`` may read a key secret, one message per policy statement resource."""
    secrets = [k for k in keys if k.resource_type in SECRET]
    for holder, doc in role_documents(stack, role):
        deps = holder.property_dependencies.get("policy", []) if holder is not role else []
        for dep in deps:
            if dep in keys:
                yield f"role {role.name}'s policy {holder.name} refers to {dep.name}"
        for st in statements(doc):
            if not (st.allows() and st.covers_action(READ)):
                continue
            tests: list[tuple[str, str, Callable[[str], bool]]]
            if st.not_resources:
                tests = [(f"NotResource {st.not_resources}", "*", st.covers_resource)]
            else:
                tests = [
                    (f"Resource {res}", res, partial(_matches, res))
                    for res in st.resources
                    if not is_unknown(res)
                ]
            for where, pattern, covers in tests:
                hits = sorted(
                    s.name
                    for s in secrets
                    if any(covers(arn) for arn in candidate_arns(stack, s, pattern))
                )
                if hits:
                    yield (
                        f"role {role.name} may read the second-factor key ({', '.join(hits)}) "
                        f"through {holder.name} ({where})"
                    )


def _matches(pattern: str, arn: str) -> bool:
    return arn_like(arn, pattern)


def check_mfa_key_api_only(stack: StackView, config: Mapping) -> Iterator[tuple[str, str | None]]:
    pattern = re.compile(peek(config, "keyNamePattern") or KEY_NAME_PATTERN, re.IGNORECASE)
    names = re.compile(peek(config, "keyVariablePattern") or KEY_VARIABLE_PATTERN, re.IGNORECASE)
    variable = peek(config, "apiVariable") or API_VARIABLE
    keys = [s for s in stack.of_type(*SECRET_TYPES) if secret_named(s, pattern)]
    services = stack.of_type(*SERVICES)
    if not keys and not services:
        raise NotApplicable("no second-factor key secret and no API service in this stack")
    key_ids = {i for k in keys for i in stack.identifiers(k)}

    for k in keys:
        if k.resource_type in SECRET:
            # secrets-kms-key advises this for every secret; for this one it is mandatory.
            for message in check_kms(k.resource_type, k.props, config):
                yield f"secret {k.name} holds the second-factor key and is {message}", k.urn
    for svc in services:
        plain_vars, _ = environment_of(svc.resource_type, svc.props)
        for name in sorted(n for n in plain_vars if names.search(str(n))):
            yield f"service {svc.name} passes {name} as a plain environment variable", svc.urn
    if environment(config) == "prod" and services:
        if not keys:
            yield (
                f"no secret named like {pattern.pattern!r} in this stack: the API has no "
                "second-factor key to receive",
                None,
            )
        for svc in services:
            for message in _the_api_receives_it(svc, keys, key_ids, variable):
                yield message, svc.urn

    for fn in stack.of_type(FUNCTION):
        what = f"function {fn.name}"
        variables = peek(fn.props, "environment", "variables")
        for message in _environment_findings(what, variables, names, key_ids):
            yield message, fn.urn
        for dep in fn.property_dependencies.get("environment", []):
            if dep in keys:
                yield f"{what}'s environment depends on the secret {dep.name}", fn.urn
    for inv in stack.of_type(INVOCATION):
        payload = peek(inv.props, "input")
        text = payload if isinstance(payload, str) else ""
        if names.search(text) or any(i in text for i in key_ids if i.startswith("arn:")):
            yield f"invocation {inv.name} passes the second-factor key in its input", inv.urn
        for dep in inv.property_dependencies.get("input", []):
            if dep in keys:
                yield f"invocation {inv.name}'s input depends on the secret {dep.name}", inv.urn

    for sp in stack.of_type(*SECRET_POLICY):
        guarded = [k.name for k in stack.refs(sp, "secretArn", SECRET) if k in keys]
        doc = load_json_document(peek(sp.props, "policy"), ["policy"]) if guarded else None
        for st in statements(doc):
            if st.allows() and st.covers_action(READ):
                yield (
                    f"resource policy {sp.name} of {', '.join(guarded)} lets "
                    f"{st.principals or 'its principals'} read it: the API reads the key through "
                    "its own role only",
                    sp.urn,
                )

    api_roles = {r.urn for svc in services for r in service_roles(stack, svc)}
    for role in stack.of_type(*ROLE):
        if role.urn not in api_roles:
            for message in _grants(stack, role, keys):
                yield message, role.urn


RULES = [
    Rule(
        name="mfa-key-api-only",
        description="Only the API service reads the second-factor encryption key: no other role "
        "is granted secretsmanager:GetSecretValue on its secrets (by ARN, wildcard or pattern), "
        "no resource policy on them grants it, "
        "no Lambda function or invocation carries it, it is encrypted with a customer-managed "
        "KMS key, and in prod the API receives MFA_ENCRYPTION_KEY from it (policy config "
        "environment=prod).",
        control="JAT-MFA-1 (the second-factor key reaches the API only, docs/design.md §7)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Inject the key through api_secret_labels (infra/components/service.py) only; "
        "scope every other role's secretsmanager:GetSecretValue to its own secret ARNs; never "
        "pass the key, or its ARN, to a Lambda.",
        unknown="references are followed through propertyDependencies during a preview; an "
        "unknown secret ARN is tested by the name it will carry; an unknown pattern inside a "
        "policy is skipped, an unknown policy document or container definition defers",
        check=check_mfa_key_api_only,
        kind="stack",
        config={
            **ENV_SCHEMA,
            "keyNamePattern": {"type": "string", "default": KEY_NAME_PATTERN},
            "keyVariablePattern": {"type": "string", "default": KEY_VARIABLE_PATTERN},
            "apiVariable": {"type": "string", "default": API_VARIABLE},
        },
        environment_dependent=True,
    ),
]

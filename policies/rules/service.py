"""The API service, on App Runner or ECS (its task definition and the load balancer's target
group): secrets, credentials, health, identity."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..iamdoc import arn_like, statements
from ..joins import StackView
from ..model import (
    DEFER,
    PASS_UNKNOWN,
    UNKNOWN,
    NotApplicable,
    Rule,
    as_list,
    is_unknown,
    load_json_document,
    peek,
    value,
)
from ..secretnames import is_secret_reference, secret_looking

APP_RUNNER = "aws:apprunner/service:Service"
ECS_TASK = "aws:ecs/taskDefinition:TaskDefinition"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
SERVICES = (APP_RUNNER, ECS_TASK)
HEALTH_CHECKED = (APP_RUNNER, TARGET_GROUP)
SECRET_TYPES = (
    "aws:secretsmanager/secret:Secret",
    "aws:secretsmanager/secretVersion:SecretVersion",
)
ROLE = ("aws:iam/role:Role",)
ROLE_POLICY = ("aws:iam/rolePolicy:RolePolicy",)
ATTACHMENT = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",)
MANAGED_POLICY = ("aws:iam/policy:Policy",)

_IMAGE_CONFIG = ("sourceConfiguration", "imageRepository", "imageConfiguration")
_CODE_CONFIG = (
    "sourceConfiguration",
    "codeRepository",
    "codeConfiguration",
    "codeConfigurationValues",
)


def environment_of(type_: str, props: Mapping) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain variables, secret references) of a service, by name."""
    if type_ == APP_RUNNER:
        plain_vars: dict[str, Any] = {}
        secrets: dict[str, Any] = {}
        for base in (_IMAGE_CONFIG, _CODE_CONFIG):
            # One value unknown during a preview stays UNKNOWN (peek); an unknown map defers.
            variables = value(props, *base, "runtimeEnvironmentVariables") or {}
            for k in variables:
                plain_vars[k] = peek(variables, k)
            references = value(props, *base, "runtimeEnvironmentSecrets") or {}
            for k in references:
                secrets[k] = peek(references, k)
        return plain_vars, secrets
    plain_vars = {}
    secrets = {}
    containers = load_json_document(peek(props, "containerDefinitions"), ["containerDefinitions"])
    for container in as_list(containers or []):
        for e in as_list(container.get("environment")):
            plain_vars[e.get("name")] = e.get("value")
        for s in as_list(container.get("secrets")):
            secrets[s.get("name")] = s.get("valueFrom")
    return plain_vars, secrets


def check_env_secrets(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    allowed = frozenset(peek(config, "allowedNames") or [])
    plain_vars, secrets = environment_of(type_, props)
    for name in sorted(plain_vars):
        if secret_looking(name, allowed):
            yield (
                f"plain environment variable {name} looks like a secret; inject it from Secrets "
                "Manager"
            )
        elif name.upper().endswith("_SECRET_ARN") and not is_secret_reference(plain_vars[name]):
            yield f"{name} must hold a Secrets Manager ARN, not {plain_vars[name]!r}"
    for name in sorted(secrets):
        if not is_secret_reference(secrets[name]):
            yield f"secret {name} is not a Secrets Manager ARN reference ({secrets[name]!r})"


def check_health(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    path = peek(config, "path") or "/health"
    if type_ == APP_RUNNER:
        hc = value(props, "healthCheckConfiguration")
        if not hc:
            yield (
                f"no healthCheckConfiguration: App Runner defaults to a TCP check, not HTTP {path}"
            )
            return
        protocol = value(hc, "protocol") or "TCP"
        if protocol != "HTTP":
            yield f"health check protocol is {protocol}; it must be HTTP on {path}"
        if (value(hc, "path") or "/") != path:
            yield f"health check path is {value(hc, 'path') or '/'}; it must be {path}"
    else:
        hc = value(props, "healthCheck") or {}
        got = value(hc, "path") or "/"
        protocol = value(hc, "protocol") or "HTTP"
        if protocol != "HTTP" or got != path:
            yield f"target group health check is {protocol} {got}; it must be HTTP {path}"


def check_role(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if type_ == APP_RUNNER:
        role = peek(props, "instanceConfiguration", "instanceRoleArn")
        what = "instanceConfiguration.instanceRoleArn"
    else:
        role = peek(props, "taskRoleArn")
        what = "taskRoleArn"
    if role is UNKNOWN:
        return
    if not role:
        yield f"{what} is not set: the service would run without its own least-privilege role"


def secret_named(secret: Any, pattern: re.Pattern[str]) -> bool:
    """True when the secret's logical or physical name (or name prefix) matches ``pattern``."""
    names = [secret.name, peek(secret.props, "name"), peek(secret.props, "namePrefix")]
    return any(isinstance(n, str) and pattern.search(n) for n in names)


def service_roles(stack: StackView, svc: Any) -> list[Any]:
    """The roles the API service runs with (App Runner's instance role; ECS's task and execution
    roles)."""
    if svc.resource_type == APP_RUNNER:
        return stack.refs(
            svc, "instanceConfiguration", ROLE, ["instanceConfiguration", "instanceRoleArn"]
        )
    roles = []
    for prop in ("taskRoleArn", "executionRoleArn"):
        if peek(svc.props, prop) or svc.property_dependencies.get(prop):
            roles.extend(stack.refs(svc, prop, ROLE))
    return roles


def role_documents(stack: StackView, role: Any) -> list[tuple[Any, Any]]:
    """(resource holding the document, parsed document) for every policy of ``role``."""
    docs = []
    for inline in as_list(peek(role.props, "inlinePolicies")):
        docs.append(
            (role, load_json_document(peek(inline, "policy"), ["inlinePolicies", "policy"]))
        )
    for rp in stack.referrers(role, ROLE_POLICY, "role"):
        docs.append((rp, load_json_document(peek(rp.props, "policy"), ["policy"])))
    for att in stack.referrers(role, ATTACHMENT, "role"):
        for pol in stack.refs(att, "policyArn", MANAGED_POLICY):
            docs.append((pol, load_json_document(peek(pol.props, "policy"), ["policy"])))
    return docs


def check_no_foreign_db_secrets(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    services = stack.of_type(*SERVICES)
    if not services:
        raise NotApplicable("no API service in this stack (image-less first phase)")
    pattern = re.compile(peek(config, "forbiddenSecretPattern") or "migrator|jobs", re.IGNORECASE)
    forbidden = [s for s in stack.of_type(*SECRET_TYPES) if secret_named(s, pattern)]
    forbidden_ids = {i for s in forbidden for i in stack.identifiers(s)}
    for svc in services:
        plain_vars, secrets = environment_of(svc.resource_type, svc.props)
        for name in sorted({*plain_vars, *secrets}):
            if pattern.search(name):
                yield (
                    f"service {svc.name} receives {name}, a credential of another database role",
                    svc.urn,
                )
        for name, ref in sorted({**plain_vars, **secrets}.items()):
            if isinstance(ref, str) and ref in forbidden_ids:
                yield (
                    f"service {svc.name}: {name} references a migrator/jobs secret ({ref})",
                    svc.urn,
                )
        prop = "sourceConfiguration" if svc.resource_type == APP_RUNNER else "containerDefinitions"
        for dep in svc.property_dependencies.get(prop, []):
            if dep in forbidden:
                yield f"service {svc.name}: its {prop} depends on the secret {dep.name}", svc.urn
        for role in service_roles(stack, svc):
            for holder, doc in role_documents(stack, role):
                deps = holder.property_dependencies.get("policy", []) if holder is not role else []
                for dep in deps:
                    if dep in forbidden:
                        yield (
                            f"service {svc.name}: role {role.name}'s policy {holder.name} refers "
                            f"to {dep.name}",
                            svc.urn,
                        )
                for st in statements(doc):
                    if not (st.allows() and st.covers_action("secretsmanager:GetSecretValue")):
                        continue
                    for res in st.resources:
                        if is_unknown(res):
                            continue
                        hits = [
                            i for i in forbidden_ids if i.startswith("arn:") and arn_like(i, res)
                        ]
                        if hits or (res == "*" and forbidden):
                            yield (
                                f"service {svc.name}: role {role.name} may read migrator/jobs "
                                "secrets "
                                f"through {holder.name} (Resource {res})",
                                svc.urn,
                            )


RULES = [
    Rule(
        name="service-no-plain-secrets",
        description="The API service (App Runner or ECS task) has no secret-looking names among "
        "plain "
        "environment variables, and its secrets are Secrets Manager references.",
        control="ECS.8 (applied to App Runner too)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Move the value to Secrets Manager and pass it through "
        "runtime_environment_secrets "
        "(App Runner) or the container definition's secrets (ECS) with the secret's ARN.",
        unknown=PASS_UNKNOWN + "; an unknown environment map as a whole defers",
        check=check_env_secrets,
        types=SERVICES,
        config={"allowedNames": {"type": "array", "items": {"type": "string"}}},
        image_bound=True,
    ),
    Rule(
        name="service-no-migrator-or-jobs-secret",
        description="The API service can reach neither the migrator's nor the jobs role's "
        "credentials: not "
        "injected, not referenced, not readable through its roles.",
        control="JAT-SVC-1 (least privilege, docs/design.md §7)",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Inject only the app role's secret; scope the instance/task role's "
        "secretsmanager:GetSecretValue to the app's own secret ARNs.",
        unknown="references are followed through propertyDependencies during a preview; an unknown "
        "ARN inside a policy is skipped, an unknown policy document defers",
        check=check_no_foreign_db_secrets,
        kind="stack",
        config={"forbiddenSecretPattern": {"type": "string", "default": "migrator|jobs"}},
        image_bound=True,
    ),
    Rule(
        name="service-health-check",
        description="The API service's health check (App Runner's, or the ECS load balancer "
        "target group's) is HTTP on /health.",
        control="JAT-SVC-2",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="App Runner: health_check_configuration={'protocol': 'HTTP', 'path': "
        "'/health'}; "
        "ECS: the target group's health_check={'protocol': 'HTTP', 'path': '/health'}.",
        unknown=DEFER,
        check=check_health,
        types=HEALTH_CHECKED,
        config={"path": {"type": "string", "default": "/health"}},
        image_bound=True,
    ),
    Rule(
        name="service-instance-role",
        description="The API service runs with its own role (App Runner instance role, ECS task "
        "role).",
        control="JAT-SVC-3",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set instance_configuration.instance_role_arn (App Runner) or task_role_arn "
        "(ECS).",
        unknown=PASS_UNKNOWN,
        check=check_role,
        types=SERVICES,
        image_bound=True,
    ),
]

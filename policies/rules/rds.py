"""RDS: encryption, privacy, forced TLS, backups, prod resilience, credentials, upgrades, logs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from ..joins import StackView
from ..model import (
    DEFER,
    UNKNOWN,
    NotApplicable,
    Rule,
    as_list,
    environment,
    number,
    peek,
    truthy,
    value,
)

INSTANCE = ("aws:rds/instance:Instance",)
PARAMETER_GROUP = ("aws:rds/parameterGroup:ParameterGroup",)
ENV_SCHEMA = {
    "environment": {
        "type": "string",
        "enum": ["dev", "prod"],
        "description": "The stack's environment; absent means prod (the strict reading)",
    }
}


def check_encrypted(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if not truthy(value(props, "storageEncrypted")):
        yield "storageEncrypted is not true: the database's storage is not encrypted at rest"


def check_private(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if truthy(value(props, "publiclyAccessible")):
        yield "publiclyAccessible is true: the instance gets a public address"


def _is_postgres(props: Mapping) -> bool:
    engine = value(props, "engine")
    return isinstance(engine, str) and engine.startswith(("postgres", "aurora-postgresql"))


def check_force_ssl(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    instances = [i for i in stack.of_type(*INSTANCE) if _is_postgres(i.props)]
    if not instances:
        raise NotApplicable("no PostgreSQL instance in this stack")
    for inst in instances:
        if not value(inst.props, "parameterGroupName") and not inst.property_dependencies.get(
            "parameterGroupName"
        ):
            yield (
                f"instance {inst.name} uses the engine's default parameter group; attach one with "
                "rds.force_ssl=1",
                inst.urn,
            )
            continue
        groups = stack.refs(inst, "parameterGroupName", PARAMETER_GROUP)
        if not groups:
            yield (
                f"instance {inst.name}: parameter group "
                f"{value(inst.props, 'parameterGroupName')!r} is not "
                "defined in this stack, so rds.force_ssl=1 cannot be verified",
                inst.urn,
            )
            continue
        for g in groups:
            settings = {
                value(p, "name"): value(p, "value") for p in as_list(value(g.props, "parameters"))
            }
            if str(settings.get("rds.force_ssl", "")).strip() != "1":
                found = settings.get("rds.force_ssl", "unset")
                yield (
                    f"instance {inst.name}: parameter group {g.name} has rds.force_ssl={found}; it "
                    "must be 1",
                    inst.urn,
                )


def check_backups(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    minimum = number(peek(config, "minimumRetentionDays")) or 7
    days = number(value(props, "backupRetentionPeriod"))
    if days is None or days < minimum:
        yield (
            f"backupRetentionPeriod is {days if days is not None else 'unset'}; it must be at "
            f"least {minimum:g} days"
        )


def check_deletion_protection(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if environment(config) != "prod":
        raise NotApplicable("deletion protection is required in prod only")
    if not truthy(value(props, "deletionProtection")):
        yield "deletionProtection is not true in a prod environment"


def check_multi_az(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    if environment(config) != "prod":
        raise NotApplicable("multi-AZ is required in prod only")
    if not truthy(value(props, "multiAz")):
        yield "multiAz is not true in a prod environment"


def check_no_literal_password(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    password = peek(props, "password")
    if password is UNKNOWN:
        return
    if isinstance(password, str) and password:
        yield (
            "a master password is set as a known value in the program or its config; use "
            "manageMasterUserPassword=true so RDS keeps it in Secrets Manager"
        )
    wo = peek(props, "passwordWo")
    if isinstance(wo, str) and wo:
        yield (
            "a write-only master password is set as a known value; use "
            "manageMasterUserPassword=true"
        )
    if (
        not password
        and not truthy(peek(props, "manageMasterUserPassword"))
        and not peek(props, "snapshotIdentifier")
        and not peek(props, "replicateSourceDb")
    ):
        yield "manageMasterUserPassword is not true and no other credential source is set"


def check_minor_upgrades(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    v = value(props, "autoMinorVersionUpgrade")
    if v is not None and not truthy(v):
        yield "autoMinorVersionUpgrade is false"


REQUIRED_LOGS = {
    "postgres": ("postgresql", "upgrade"),
    "mysql": ("audit", "error", "general", "slowquery"),
}


def check_log_exports(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    engine = value(props, "engine") or ""
    family = (
        "postgres"
        if str(engine).startswith("postgres")
        else "mysql"
        if "mysql" in str(engine)
        else None
    )
    exported = {str(x) for x in as_list(value(props, "enabledCloudwatchLogsExports"))}
    if family is None:
        if not exported:
            yield "enabledCloudwatchLogsExports is empty"
        return
    missing = [log for log in REQUIRED_LOGS[family] if log not in exported]
    if missing:
        yield f"enabledCloudwatchLogsExports lacks {missing} (has {sorted(exported) or 'none'})"


RULES = [
    Rule(
        name="rds-storage-encrypted",
        description="RDS instances encrypt their storage at rest.",
        control="RDS.3",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set storage_encrypted=True (optionally kms_key_id) on aws.rds.Instance; an "
        "existing "
        "instance needs a snapshot-copy-restore.",
        unknown=DEFER,
        check=check_encrypted,
        types=INSTANCE,
    ),
    Rule(
        name="rds-not-public",
        description="RDS instances are not publicly accessible.",
        control="RDS.2",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set publicly_accessible=False and place the instance in private subnets.",
        unknown=DEFER,
        check=check_private,
        types=INSTANCE,
    ),
    Rule(
        name="rds-force-ssl",
        description="Every PostgreSQL instance's parameter group sets rds.force_ssl=1.",
        control="JAT-RDS-TLS (AWS Config rds-postgres-instance-encrypted-in-transit)",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create aws.rds.ParameterGroup with parameters=[{'name': 'rds.force_ssl', "
        "'value': '1'}] "
        "and pass its name as parameter_group_name.",
        unknown="defer: the instance -> parameter group join uses propertyDependencies during a "
        "preview; "
        "an unknown group name or parameter value without dependency information reports the "
        "advisory 'can't run during preview'",
        check=check_force_ssl,
        kind="stack",
    ),
    Rule(
        name="rds-backup-retention",
        description="RDS instances keep automated backups for at least 7 days.",
        control="RDS.11",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set backup_retention_period to 7 or more.",
        unknown=DEFER,
        check=check_backups,
        types=INSTANCE,
        config={"minimumRetentionDays": {"type": "number", "default": 7}},
    ),
    Rule(
        name="rds-deletion-protection",
        description="RDS instances have deletion protection in prod (policy config "
        "environment=prod).",
        control="RDS.8",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set deletion_protection=True for the prod stack (the stack config's "
        "deletionProtection).",
        unknown=DEFER,
        check=check_deletion_protection,
        types=INSTANCE,
        config=ENV_SCHEMA,
        environment_dependent=True,
    ),
    Rule(
        name="rds-multi-az",
        description="RDS instances run multi-AZ in prod (policy config environment=prod).",
        control="RDS.5",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set multi_az=True for the prod stack (the stack config's multiAz).",
        unknown=DEFER,
        check=check_multi_az,
        types=INSTANCE,
        config=ENV_SCHEMA,
        environment_dependent=True,
    ),
    Rule(
        name="rds-no-literal-master-password",
        description="No RDS master password is written into the program or its config; RDS manages "
        "it in "
        "Secrets Manager (manageMasterUserPassword).",
        control="JAT-RDS-CRED",
        severity=Severity.CRITICAL,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Remove password/password_wo and set manage_master_user_password=True.",
        unknown="pass: an unknown password is computed from another resource, never a literal",
        check=check_no_literal_password,
        types=INSTANCE,
    ),
    Rule(
        name="rds-auto-minor-upgrade",
        description="RDS instances take automatic minor engine upgrades.",
        control="RDS.13",
        severity=Severity.LOW,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Leave auto_minor_version_upgrade unset or set it to True.",
        unknown=DEFER,
        check=check_minor_upgrades,
        types=INSTANCE,
    ),
    Rule(
        name="rds-log-exports",
        description="RDS instances publish their logs to CloudWatch Logs (PostgreSQL: postgresql "
        "and upgrade).",
        control="RDS.9",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Set enabled_cloudwatch_logs_exports=['postgresql', 'upgrade'].",
        unknown=DEFER,
        check=check_log_exports,
        types=INSTANCE,
    ),
]

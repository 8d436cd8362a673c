"""Secrets Manager: a recovery window; KMS keys and rotation as advisories."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from ..joins import StackView
from ..model import DEFER, UNKNOWN, NotApplicable, Rule, number, peek, value

SECRET = ("aws:secretsmanager/secret:Secret",)
ROTATION = ("aws:secretsmanager/secretRotation:SecretRotation",)


def check_recovery_window(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    days = number(value(props, "recoveryWindowInDays"))
    if days is not None and days <= 0:
        yield (
            "recoveryWindowInDays is 0: a deleted secret is gone at once, with no way to restore it"
        )


def check_kms(type_: str, props: Mapping, config: Mapping) -> Iterator[str]:
    key = peek(props, "kmsKeyId")
    if key is not UNKNOWN and not key:
        yield (
            "encrypted with the AWS-managed key aws/secretsmanager; a customer key allows key "
            "policies and audit"
        )


def check_rotation(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    secrets = stack.of_type(*SECRET)
    if not secrets:
        raise NotApplicable("no Secrets Manager secret in this stack")
    for s in secrets:
        if not stack.referrers(s, ROTATION, "secretId"):
            yield f"secret {s.name} has no rotation schedule", s.urn


RULES = [
    Rule(
        name="secrets-recovery-window",
        description="Secrets Manager secrets keep a recovery window greater than 0 days.",
        control="JAT-SECRETS-1",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Leave recovery_window_in_days unset (30) or set 7-30.",
        unknown=DEFER,
        check=check_recovery_window,
        types=SECRET,
    ),
    Rule(
        name="secrets-kms-key",
        description="Secrets Manager secrets are encrypted with a customer-managed KMS key.",
        control="JAT-SECRETS-2",
        severity=Severity.LOW,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="Set kms_key_id to a customer-managed key and grant kms:Decrypt to the "
        "readers.",
        unknown="pass: an unknown key id is another resource's output",
        check=check_kms,
        types=SECRET,
    ),
    Rule(
        name="secrets-rotation",
        description="Secrets Manager secrets have automatic rotation.",
        control="SecretsManager.1",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="Add aws.secretsmanager.SecretRotation with a rotation Lambda and "
        "rotation_rules.",
        unknown="defer: the secret join uses propertyDependencies during a preview",
        check=check_rotation,
        kind="stack",
    ),
]

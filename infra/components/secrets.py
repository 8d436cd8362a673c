"""Secrets: a customer-managed KMS key; generated credentials for the migrator, app and jobs roles,
the JWT signing key and the key that encrypts second-factor secrets (pulumi-random, secret outputs,
never exported); the email API key and the Slack webhook from `pulumi config set --secret`.

The second-factor key comes in generations, one secret each: the stack config names the current
generation and, during a rotation, the previous one (``MfaKeyGenerations``). The labels
``mfa-encryption-key`` and ``mfa-previous-encryption-key`` name whichever generations hold those
roles, so the API's references follow a rotation while each generation's secret keeps its value."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from ..config import external_secret

TYPE = "jobapptracker:secrets:Secrets"
RECOVERY_WINDOW_DAYS = 7

# logical name -> (what it holds, generated length or None for an external value's config key)
GENERATED = {
    "db-app-password": ("password of the app role (the API)", 40),
    "db-migrator-password": ("password of the migrator role (DDL)", 40),
    "db-jobs-password": ("password of the jobs role (cross-user Lambdas)", 40),
    "jwt-secret": ("HS256 signing key of the API's access tokens", 64),
}
MFA_KEY = "mfa-encryption-key"
MFA_PREVIOUS_KEY = "mfa-previous-encryption-key"
# Random letters and digits: far above the app's 32-character minimum, and high in variety.
MFA_KEY_LENGTH = 64
EXTERNAL = {
    "resendApiKey": ("resend-api-key", "Resend API key"),
    "gmailAppPassword": ("gmail-app-password", "Gmail app password"),
    "slackWebhookUrl": ("slack-webhook-url", "Slack incoming webhook URL"),
}


@dataclass(frozen=True)
class MfaKeyGenerations:
    """The generations of the second-factor key the API holds (config.MfaEncryptionKeyConfig)."""

    current: int = 1
    previous: int | None = None


@dataclass(frozen=True)
class SecretsArgs:
    prefix: str
    # The keys of EXTERNAL this configuration needs (config.required_secret_keys).
    external_keys: tuple[str, ...]
    mfa_key: MfaKeyGenerations = MfaKeyGenerations()


class Secrets(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        prefix = args.prefix
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{prefix}: Secrets Manager secrets and the RDS master secret",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{prefix}-secrets",
            target_key_id=self.key.key_id,
            opts=child,
        )
        # One suffix per stack generation, kept in the state: a stack destroyed and created again
        # gets new secret names while the old ones wait out their recovery window.
        self._generation = random.RandomId(f"{name}-generation", byte_length=3, opts=child)
        self.secrets: dict[str, aws.secretsmanager.Secret] = {}
        self.versions: list[aws.secretsmanager.SecretVersion] = []
        self._versions: dict[str, aws.secretsmanager.SecretVersion] = {}
        for label, (description, length) in GENERATED.items():
            self._secret(name, prefix, label, description, self._generated(name, label, length))
        generations = {MFA_KEY: args.mfa_key.current}
        if args.mfa_key.previous is not None:
            generations[MFA_PREVIOUS_KEY] = args.mfa_key.previous
        for role, generation in generations.items():
            label = f"{MFA_KEY}-{generation}"
            description = f"second-factor secret encryption key, generation {generation}"
            value = self._generated(name, label, MFA_KEY_LENGTH)
            self._secret(name, prefix, label, description, value)
            self.secrets[role] = self.secrets[label]
            self._versions[role] = self._versions[label]
        for key in args.external_keys:
            label, description = EXTERNAL[key]
            self._secret(name, prefix, label, description, external_secret(key))

        self.register_outputs(
            {
                "kmsKeyArn": self.key.arn,
                "secretArns": {k: s.arn for k, s in self.secrets.items()},
            }
        )

    def _generated(self, name: str, label: str, length: int) -> pulumi.Output[str]:
        return random.RandomPassword(
            f"{name}-{label}-value",
            length=length,
            special=False,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=pulumi.ResourceOptions(parent=self),
        ).result

    def _secret(
        self,
        name: str,
        prefix: str,
        label: str,
        description: str,
        value: pulumi.Input[str],
    ) -> None:
        secret = aws.secretsmanager.Secret(
            f"{name}-{label}",
            name=self._generation.hex.apply(lambda h: f"{prefix}/{label}-{h}"),
            description=f"{prefix}: {description}",
            kms_key_id=self.key.arn,
            # A deleted secret stays restorable, and its name taken, for 7 days; the name's
            # generation suffix lets a recreated stack start at once (docs/runbooks.md).
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        version = aws.secretsmanager.SecretVersion(
            f"{name}-{label}-version",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(value),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.versions.append(version)
        self._versions[label] = version
        self.secrets[label] = secret

    def version_id(self, label: str) -> pulumi.Output[str]:
        return self._versions[label].version_id

    def arn(self, label: str) -> pulumi.Output[str]:
        return self.secrets[label].arn

"""The email configuration of everything that sends mail: the API and the maintenance Lambda
(password-expiry reminders). Both read the stack's one ``email`` setting through these helpers, so
they always agree on the provider, the sender and the secret.

The names follow the app's settings contract (app/core/settings.py, .env.example):
EMAIL_PROVIDER; FROM_EMAIL (resend and ses); GMAIL_USER (gmail); the provider's secret,
RESEND_API_KEY or GMAIL_APP_PASSWORD, only ever as a Secrets Manager reference; SES sending scoped
to the sender's identity. SES needs AWS_REGION, which the runtime provides (App Runner and ECS get
it from ``api_environment``; Lambda sets it itself and refuses it as a configured variable).
"""

from __future__ import annotations

from . import iam
from .config import StackConfig

# provider -> (setting name, secret label in the Secrets component)
SECRETS = {
    "resend": ("RESEND_API_KEY", "resend-api-key"),
    "gmail": ("GMAIL_APP_PASSWORD", "gmail-app-password"),  # noqa: S105 - a secret's label
}
SES_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail"]


def environment(cfg: StackConfig) -> dict[str, str]:
    """The plain (non-secret) email settings."""
    env: dict[str, str] = {"EMAIL_PROVIDER": cfg.email.provider}
    if cfg.email.from_email:
        env["FROM_EMAIL"] = cfg.email.from_email
    if cfg.email.gmail_user:
        env["GMAIL_USER"] = cfg.email.gmail_user
    return env


def secret_labels(cfg: StackConfig) -> dict[str, str]:
    """Setting name -> secret label of the provider's credential; empty for SES (IAM instead)."""
    entry = SECRETS.get(cfg.email.provider)
    return dict([entry]) if entry else {}


def ses_identity_arn(cfg: StackConfig, account: str, partition: str) -> str:
    domain = (cfg.email.from_email or "").rsplit("@", 1)[-1]
    return f"arn:{partition}:ses:{cfg.region}:{account}:identity/{domain}"


def send_statements(cfg: StackConfig, account: str, partition: str) -> list[dict]:
    """SES sending on the sender's identity when SES is the provider; nothing otherwise."""
    if cfg.email.provider != "ses":
        return []
    return [iam.statement("SendEmail", SES_ACTIONS, [ses_identity_arn(cfg, account, partition)])]


def password_policy_environment(cfg: StackConfig) -> dict[str, str]:
    """PASSWORD_MAX_AGE_DAYS when the stack sets it: the API expires passwords with it and the
    maintenance Lambda reminds users ahead of that expiry, so both receive the same value."""
    if cfg.password_max_age_days is None:
        return {}
    return {"PASSWORD_MAX_AGE_DAYS": str(cfg.password_max_age_days)}

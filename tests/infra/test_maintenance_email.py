"""The maintenance Lambda sends password-expiry reminders: it gets the API's email settings, the
provider's secret as an ARN and SES sending, on its own role; scan-result gets none of it."""

from __future__ import annotations

import json

import pytest
import yaml

from app.core.settings import Settings
from infra import config as cfgmod
from infra.offline import STACKS_DIR, capture_stack

from .conftest import Stack, doc

FN = "aws:lambda/function:Function"
POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "aws:secretsmanager/secret:Secret"
EMAIL_KEYS = ("EMAIL_PROVIDER", "FROM_EMAIL", "GMAIL_USER", "RESEND_", "GMAIL_APP_PASSWORD")
SENDER = "no-reply@jobapptracker.example.com"
SES_IDENTITY = "arn:aws:ses:eu-west-1:123456789012:identity/jobapptracker.example.com"


def _variant(tmp_path_factory, name: str, **config) -> Stack:
    """The dev stack with some of its jobapptracker:* settings replaced, captured under mocks."""
    d = tmp_path_factory.mktemp(name)
    data = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text())
    for key, value in config.items():
        data["config"][f"jobapptracker:{key}"] = value
    (d / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(data))
    return Stack(name, resources=capture_stack(name, stacks_dir=d))


@pytest.fixture(scope="module")
def ses(tmp_path_factory) -> Stack:
    email = {"provider": "ses", "fromEmail": SENDER}
    return _variant(tmp_path_factory, "sesmail", email=email)


@pytest.fixture(scope="module")
def gmail(tmp_path_factory) -> Stack:
    email = {"provider": "gmail", "gmailUser": "alerts@gmail.com"}
    return _variant(tmp_path_factory, "gmailmail", email=email)


@pytest.fixture(scope="module")
def max_age(tmp_path_factory) -> Stack:
    return _variant(tmp_path_factory, "maxage", passwordMaxAgeDays=0)


def _env(stack: Stack, name: str) -> dict:
    return stack.one(FN, f"jobs-{name}")["props"]["environment"]["variables"]


def _statements(stack: Stack, name: str) -> list[dict]:
    return doc(stack.one(POLICY, f"jobs-{name}-policy")["props"]["policy"])["Statement"]


def _readable_secrets(stack: Stack, name: str) -> set[str]:
    arns: set[str] = set()
    for st in _statements(stack, name):
        if "secretsmanager:GetSecretValue" in st["Action"]:
            arns |= set(st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    return arns


def _secret_arn(stack: Stack, label: str) -> str:
    return stack.one(SECRET, f"secrets-{label}")["props"]["arn"]


def _actions(stack: Stack, name: str) -> set[str]:
    return {a for st in _statements(stack, name) for a in st["Action"]}


def _secret_values(stack: Stack) -> set[str]:
    return {
        v["props"]["secretString"]
        for v in stack.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    }


# ----- resend (the committed stacks) --------------------------------------------------------


def test_maintenance_env_has_the_email_settings_with_a_secret_arn(dev):
    env = _env(dev, "maintenance")
    assert env["EMAIL_PROVIDER"] == "resend"
    assert env["FROM_EMAIL"] == "no-reply@jobapptracker.example.com"
    assert env["RESEND_API_KEY_SECRET_ARN"] == _secret_arn(dev, "resend-api-key")


def test_maintenance_env_holds_no_plain_secret(all_stacks):
    for s in all_stacks:
        if not s.of_type(FN):
            continue
        fn = s.one(FN, "jobs-maintenance")
        text = json.dumps(fn["props"])
        assert not {"RESEND_API_KEY", "GMAIL_APP_PASSWORD"} & set(_env(s, "maintenance"))
        assert not [v for v in _secret_values(s) if v in text], s.stack


def test_maintenance_email_settings_are_the_apis(dev):
    image = dev.one("aws:apprunner/service:Service")["props"]["sourceConfiguration"][
        "imageRepository"
    ]["imageConfiguration"]
    api_env = image["runtimeEnvironmentVariables"]
    env = _env(dev, "maintenance")
    assert {k: env[k] for k in ("EMAIL_PROVIDER", "FROM_EMAIL")} == {
        k: api_env[k] for k in ("EMAIL_PROVIDER", "FROM_EMAIL")
    }
    assert env["RESEND_API_KEY_SECRET_ARN"] == image["runtimeEnvironmentSecrets"]["RESEND_API_KEY"]


def test_maintenance_role_reads_only_its_own_secrets(dev):
    assert _readable_secrets(dev, "maintenance") == {
        _secret_arn(dev, "db-jobs-password"),
        _secret_arn(dev, "resend-api-key"),
    }


def test_every_secret_arn_maintenance_is_given_is_readable_by_its_role(all_stacks):
    for s in all_stacks:
        if not s.of_type(FN):
            continue
        given = {v for k, v in _env(s, "maintenance").items() if k.endswith("_SECRET_ARN")}
        assert given == _readable_secrets(s, "maintenance"), s.stack


def test_scan_result_has_no_email_secret(dev):
    env = _env(dev, "scan-result")
    assert not [k for k in env if k.startswith(EMAIL_KEYS)]
    assert _secret_arn(dev, "resend-api-key") not in json.dumps(dev.one(FN, "jobs-scan-result"))
    assert _readable_secrets(dev, "scan-result") == {_secret_arn(dev, "db-jobs-password")}


def test_maintenance_env_satisfies_the_apps_production_settings(dev):
    """The app's own settings contract accepts the maintenance function's environment, with the
    region Lambda sets and its secret ARNs resolved as they would be at cold start."""
    env = {**_env(dev, "maintenance"), "AWS_REGION": "eu-west-1"}
    readable = _readable_secrets(dev, "maintenance")

    def fetch(arn: str) -> str:
        assert arn in readable
        return f"value-of-{arn}"

    settings = Settings.from_env(env, component="maintenance", fetch_secret=fetch)
    assert settings.is_production and settings.email_provider == "resend"
    assert settings.resend_api_key == f"value-of-{_secret_arn(dev, 'resend-api-key')}"


def test_maintenance_sets_no_lambda_reserved_variable(dev):
    # Lambda refuses to create a function whose environment sets these (it sets them itself).
    reserved = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER"}
    assert not reserved & set(_env(dev, "maintenance"))


def test_stacks_without_password_max_age_leave_the_apps_default(dev):
    assert "PASSWORD_MAX_AGE_DAYS" not in _env(dev, "maintenance")


# ----- SES ----------------------------------------------------------------------------------


def test_ses_maintenance_sends_only_as_the_senders_identity(ses):
    sends = [st for st in _statements(ses, "maintenance") if "ses:SendEmail" in st["Action"]]
    assert [(st["Action"], st["Resource"]) for st in sends] == [
        (["ses:SendEmail", "ses:SendRawEmail"], [SES_IDENTITY])
    ]


def test_ses_maintenance_reads_no_email_secret(ses):
    env = _env(ses, "maintenance")
    assert (env["EMAIL_PROVIDER"], env["FROM_EMAIL"]) == ("ses", SENDER)
    assert not [k for k in env if k.endswith("_SECRET_ARN") and "DB_JOBS" not in k]
    assert _readable_secrets(ses, "maintenance") == {_secret_arn(ses, "db-jobs-password")}


def test_ses_scan_result_cannot_send_email(ses):
    assert not [a for a in _actions(ses, "scan-result") if a.startswith("ses:")]


def test_ses_maintenance_env_satisfies_the_apps_production_settings(ses):
    env = {**_env(ses, "maintenance"), "AWS_REGION": "eu-west-1"}
    settings = Settings.from_env(env, component="maintenance", fetch_secret=lambda arn: "x" * 40)
    assert settings.email_provider == "ses"


# ----- Gmail --------------------------------------------------------------------------------


def test_gmail_maintenance_gets_the_user_and_the_app_password_arn(gmail):
    env = _env(gmail, "maintenance")
    assert env["GMAIL_USER"] == "alerts@gmail.com"
    assert env["GMAIL_APP_PASSWORD_SECRET_ARN"] == _secret_arn(gmail, "gmail-app-password")
    assert _readable_secrets(gmail, "maintenance") == {
        _secret_arn(gmail, "db-jobs-password"),
        _secret_arn(gmail, "gmail-app-password"),
    }


def test_gmail_maintenance_may_reach_smtps(gmail):
    sg = gmail.one("aws:ec2/securityGroup:SecurityGroup", "network-maintenance-sg")
    ports = {
        r["props"]["fromPort"]
        for r in gmail.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r["props"]["securityGroupId"] == sg["id"]
    }
    assert 465 in ports


def test_gmail_scan_result_may_not_reach_smtps(gmail):
    sg = gmail.one("aws:ec2/securityGroup:SecurityGroup", "network-scan-result-sg")
    ports = {
        r["props"]["fromPort"]
        for r in gmail.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r["props"]["securityGroupId"] == sg["id"]
    }
    assert 465 not in ports


# ----- password age -------------------------------------------------------------------------


def test_configured_password_max_age_reaches_maintenance_and_the_api(max_age):
    api_env = max_age.one("aws:apprunner/service:Service")["props"]["sourceConfiguration"][
        "imageRepository"
    ]["imageConfiguration"]["runtimeEnvironmentVariables"]
    assert _env(max_age, "maintenance")["PASSWORD_MAX_AGE_DAYS"] == "0"
    assert api_env["PASSWORD_MAX_AGE_DAYS"] == "0"


def test_negative_password_max_age_is_refused():
    data = yaml.safe_load((STACKS_DIR / "Pulumi.dev.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in data.items() if k.startswith("jobapptracker:")}
    with pytest.raises(cfgmod.ConfigError, match="passwordMaxAgeDays"):
        cfgmod.from_mapping({**values, "passwordMaxAgeDays": -1}, stack="dev", region="eu-west-1")

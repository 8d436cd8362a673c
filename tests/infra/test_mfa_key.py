"""The key that encrypts second-factor secrets: a generated secret per key generation, encrypted
with the stack's customer-managed key, injected into the API (App Runner and ECS) and readable by
the API's roles alone; the Lambdas (db-admin, the migrator's runner, included) neither receive it
nor may read it. Reads are evaluated (tests/infra/iam_eval.py), not matched on literal names."""

from __future__ import annotations

import copy
import json

import pulumi
import pytest

from app.core.settings import MIN_MFA_KEY_CHARACTERS, Settings, SettingsError
from infra import config as cfgmod
from infra import program
from infra.offline import PROJECT, run_offline, stack_settings

from .conftest import doc, variant
from .iam_eval import Request, evaluate

SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
FN = "aws:lambda/function:Function"
SERVICE = "aws:apprunner/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
READS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
# AWS managed policies the program attaches; none of them reads Secrets Manager.
MANAGED_WITHOUT_SECRETS = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    "arn:aws:iam::aws:policy/service-role/AWSAppRunnerServicePolicyForECRAccess",
}
# The role that resolves the API's runtime secrets, per compute.
API_SECRET_READER = {"apprunner": "api-instance-role", "ecs": "api-execution-role"}
ROTATING = {"current": 2, "previous": 1}


def key_secrets(stack) -> dict[int, dict]:
    """Generation -> the secret holding that generation of the key."""
    out = {}
    for s in stack.of_type(SECRET):
        if s["name"].startswith("secrets-mfa-encryption-key-"):
            out[int(s["name"].rsplit("-", 1)[1])] = s
    return out


def api_secrets(stack) -> dict[str, str]:
    """The API's secret references by variable name (App Runner or the ECS container)."""
    services = stack.of_type(SERVICE)
    if services:
        image = services[0]["props"]["sourceConfiguration"]["imageRepository"]
        return dict(image["imageConfiguration"]["runtimeEnvironmentSecrets"])
    (container,) = json.loads(stack.one(TASK)["props"]["containerDefinitions"])
    return {s["name"]: s["valueFrom"] for s in container["secrets"]}


def api_plain_environment(stack) -> dict[str, str]:
    services = stack.of_type(SERVICE)
    if services:
        image = services[0]["props"]["sourceConfiguration"]["imageRepository"]
        return dict(image["imageConfiguration"]["runtimeEnvironmentVariables"])
    (container,) = json.loads(stack.one(TASK)["props"]["containerDefinitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def identity_policies(stack) -> dict[str, list[dict]]:
    """Every role of the stack (by logical name) -> its identity policy documents. The managed
    policies attached are AWS's, none of which reads Secrets Manager (asserted)."""
    out: dict[str, list[dict]] = {}
    for role in stack.of_type(ROLE):
        names = {role["id"], role["props"]["name"]}
        out[role["name"]] = [
            doc(p["props"]["policy"]) for p in stack.of_type(POLICY) if p["props"]["role"] in names
        ] + [doc(i["policy"]) for i in role["props"].get("inlinePolicies") or [] if i.get("policy")]
        attached = {
            a["props"]["policyArn"]
            for a in stack.of_type(ATTACHMENT)
            if a["props"]["role"] in names
        }
        assert attached <= MANAGED_WITHOUT_SECRETS, (role["name"], attached)
    return out


def readers(stack, secret_arn: str, policies: dict[str, list[dict]] | None = None) -> set[str]:
    """Roles whose identity policies allow reading ``secret_arn``."""
    arns = {r["name"]: r["props"]["arn"] for r in stack.of_type(ROLE)}
    found = set()
    for role, docs in (policies or identity_policies(stack)).items():
        for action in READS:
            if evaluate(Request(arns[role], action, secret_arn), *docs) == "Allow":
                found.add(role)
    return found


def _compute(stack) -> str:
    return "apprunner" if stack.of_type(SERVICE) else "ecs"


@pytest.fixture(params=["dev", "prod", "ecs"])
def stack(request, dev, prod, ecs):
    return {"dev": dev, "prod": prod, "ecs": ecs}[request.param]


@pytest.fixture(scope="module")
def rotating(tmp_path_factory):
    """dev in the middle of a rotation: generation 2 current, generation 1 previous."""
    return variant(tmp_path_factory, "rotating", mfaEncryptionKey=ROTATING)


@pytest.fixture(scope="module")
def rotating_ecs(tmp_path_factory):
    return variant(tmp_path_factory, "rotatingecs", base="ecs", mfaEncryptionKey=ROTATING)


# ----- the secret --------------------------------------------------------------------------------


def test_each_stack_has_one_key_generated_and_encrypted_with_the_stack_key(all_stacks):
    for s in all_stacks:
        (secret,) = key_secrets(s).values()
        assert (
            secret["props"]["kmsKeyId"] == s.one("aws:kms/key:Key", "secrets-key")["props"]["arn"]
        )
        assert secret["props"]["recoveryWindowInDays"] == 7
        assert "/mfa-encryption-key-1-" in secret["props"]["name"], s.stack
        version = s.one(VERSION, "secrets-mfa-encryption-key-1-version")
        assert version["props"]["secretId"] == secret["props"]["arn"]
        password = s.one(PASSWORD, "secrets-mfa-encryption-key-1-value")
        assert version["props"]["secretString"] == password["props"]["result"]
        assert password["props"]["length"] >= MIN_MFA_KEY_CHARACTERS
        assert password["props"]["special"] is False


def test_no_stack_output_carries_the_key():
    typed, flat, secret_keys = stack_settings("dev", True)
    resolved: dict[str, object] = {}

    def build() -> None:
        outputs = program.build(typed)
        pulumi.Output.from_input(outputs).apply(resolved.update)

    resources = run_offline(
        build,
        project=PROJECT,
        stack="dev",
        config=flat,
        secret_keys=secret_keys,
        region=typed.region,
    )
    (password,) = [r for r in resources if r["name"] == "secrets-mfa-encryption-key-1-value"]
    (secret,) = [r for r in resources if r["name"] == "secrets-mfa-encryption-key-1"]
    assert resolved and "serviceUrl" in resolved
    text = json.dumps(resolved, default=str)
    assert password["props"]["result"] not in text
    assert secret["props"]["arn"] not in text


# ----- who receives it ---------------------------------------------------------------------------


def test_the_api_receives_the_current_key_as_a_secret_reference(stack):
    (secret,) = key_secrets(stack).values()
    refs = api_secrets(stack)
    assert refs["MFA_ENCRYPTION_KEY"] == secret["props"]["arn"]
    assert "MFA_PREVIOUS_ENCRYPTION_KEY" not in refs
    assert not [k for k in api_plain_environment(stack) if "MFA" in k]


def test_no_lambda_receives_the_key(all_stacks):
    checked = 0
    for s in all_stacks:
        arns = [k["props"]["arn"] for k in key_secrets(s).values()]
        for fn in s.of_type(FN):
            env = fn["props"]["environment"]["variables"]
            assert not [k for k in env if "MFA" in k.upper()], (s.stack, fn["name"])
            assert not [v for v in env.values() if any(a in str(v) for a in arns)], fn["name"]
            assert not [
                u for u in fn["propertyDependencies"].get("environment", []) if "mfa" in u
            ], fn["name"]
            checked += 1
    assert checked >= 4 * 3  # db-admin, slack-notify, scan-result, maintenance on each stack


def test_db_admins_invocation_carries_no_key(all_stacks):
    for s in all_stacks:
        for inv in s.of_type("aws:lambda/invocation:Invocation"):
            assert "mfa" not in json.dumps(inv["props"]).lower(), s.stack


def api_runtime_environment(stack) -> dict[str, str]:
    """What the API's process sees: its plain variables, and each secret reference resolved (as
    App Runner and ECS do at start) by the role that resolves them, which must be allowed to."""
    reader = API_SECRET_READER[_compute(stack)]
    env = {**api_plain_environment(stack), "AWS_REGION": "eu-west-1"}
    for name, arn in api_secrets(stack).items():
        assert readers(stack, arn) >= {reader}, name
        env[name] = f"{name.lower()}-{arn.rsplit('-', 1)[1]}-Ab3Cd5Ef7Gh9Jk1Lm3Np5Qr7St9Vw"
    return env


@pytest.mark.parametrize("which", ["dev", "prod", "ecs", "rotating", "rotating_ecs"])
def test_the_apis_environment_satisfies_the_apps_production_settings(request, which):
    """The app refuses to start in production without MFA_ENCRYPTION_KEY (and with a previous key
    but no current one); the environment every stack gives the API passes that check."""
    s = request.getfixturevalue(which)
    settings = Settings.from_env(api_runtime_environment(s), component="api")
    assert settings.is_production and settings.mfa_encryption_key
    assert bool(settings.mfa_previous_encryption_key) == which.startswith("rotating")


def test_an_api_without_the_key_would_not_start(dev):
    env = api_runtime_environment(dev)
    del env["MFA_ENCRYPTION_KEY"]
    with pytest.raises(SettingsError) as e:
        Settings.from_env(env, component="api")
    assert "MFA_ENCRYPTION_KEY" in str(e.value)


# ----- who may read it ---------------------------------------------------------------------------


def test_only_the_apis_secret_reader_may_read_the_key(stack):
    (secret,) = key_secrets(stack).values()
    assert readers(stack, secret["props"]["arn"]) == {API_SECRET_READER[_compute(stack)]}


def test_every_lambda_role_is_evaluated(stack):
    """The evaluation above covers the jobs and db-admin roles, each with its own policy."""
    policies = identity_policies(stack)
    for label in ("db-admin", "slack-notify", "scan-result", "maintenance"):
        assert policies[f"jobs-{label}-role"], label


@pytest.mark.parametrize(
    ("actions", "resource"),
    [
        (["secretsmanager:GetSecretValue"], "*"),
        (["secretsmanager:Get*"], "{prefix}*"),
        (["*"], "{prefix}mfa-*"),
        (["secretsmanager:GetSecretValue"], "{key}"),
    ],
)
@pytest.mark.parametrize("role", ["jobs-scan-result-role", "jobs-db-admin-role"])
def test_a_lambda_role_widened_to_the_key_is_caught(dev, role, actions, resource):
    """A wildcard in the action or the resource, or the key's own ARN, on a jobs or db-admin
    role: the evaluation sees the role become a reader."""
    (secret,) = key_secrets(dev).values()
    key = secret["props"]["arn"]
    prefix = key.split(":secret:")[0] + ":secret:" + secret["props"]["name"].split("/")[0] + "/"
    policies = copy.deepcopy(identity_policies(dev))
    policies[role][0]["Statement"].append(
        {
            "Sid": "Widened",
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource.format(prefix=prefix, key=key),
        }
    )
    assert readers(dev, key, policies) == {"api-instance-role", role}


# ----- rotation: generation 2 current, generation 1 previous -------------------------------------


@pytest.mark.parametrize("which", ["rotating", "rotating_ecs"])
def test_during_a_rotation_the_api_receives_both_generations(request, which):
    s = request.getfixturevalue(which)
    keys = key_secrets(s)
    assert sorted(keys) == [1, 2]
    refs = api_secrets(s)
    assert refs["MFA_ENCRYPTION_KEY"] == keys[2]["props"]["arn"]
    assert refs["MFA_PREVIOUS_ENCRYPTION_KEY"] == keys[1]["props"]["arn"]
    for secret in keys.values():
        assert readers(s, secret["props"]["arn"]) == {API_SECRET_READER[_compute(s)]}
    for fn in s.of_type(FN):
        assert not [k for k in fn["props"]["environment"]["variables"] if "MFA" in k.upper()]


def test_a_finished_rotation_leaves_only_the_new_generation(tmp_path_factory):
    s = variant(tmp_path_factory, "rotated", mfaEncryptionKey={"current": 2})
    keys = key_secrets(s)
    assert list(keys) == [2]
    assert [p["name"] for p in s.of_type(PASSWORD) if "mfa" in p["name"]] == [
        "secrets-mfa-encryption-key-2-value"
    ]
    assert api_secrets(s)["MFA_ENCRYPTION_KEY"] == keys[2]["props"]["arn"]
    assert "MFA_PREVIOUS_ENCRYPTION_KEY" not in api_secrets(s)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            {"current": 2, "previous": 2},
            "jobapptracker:mfaEncryptionKey.previous must name another generation than current "
            "(both are 2)",
        ),
        ({"current": 0}, "jobapptracker:mfaEncryptionKey.current must be at least 1 (got 0)"),
        ({"previous": 0}, "jobapptracker:mfaEncryptionKey.previous must be at least 1 (got 0)"),
    ],
)
def test_a_bad_generation_setting_is_refused(setting, problem):
    values = {
        "environment": "dev",
        "owner": "platform",
        "compute": "ecs",
        "frontendUrl": "https://app.example.com",
        "rateLimiterFailClosed": True,
        "emailVerificationEnabled": True,
        "email": {"provider": "ses", "fromEmail": "no-reply@example.com"},
        "mfaEncryptionKey": setting,
    }
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.from_mapping(values, stack="x", region="eu-west-1")
    assert e.value.problems == [problem]

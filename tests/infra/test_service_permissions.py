"""What the API's roles may do, evaluated (tests/infra/iam_eval.py) rather than matched on literal
action names, and the EventBridge -> Lambda wiring, permission by permission."""

from __future__ import annotations

import copy
import re

import pytest

from .conftest import doc
from .iam_eval import Request, evaluate

POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SECRET = "aws:secretsmanager/secret:Secret"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
RULE = "aws:cloudwatch/eventRule:EventRule"
PERMISSION = "aws:lambda/permission:Permission"
FN = "aws:lambda/function:Function"
# The API's roles per compute, and their inline policies.
SERVICE_POLICIES = {
    "apprunner": {"api-instance-role": ["api-instance-policy"]},
    "ecs": {
        "api-task-role": ["api-task-policy"],
        "api-execution-role": ["api-execution-secrets"],
    },
}
# AWS managed policies a service role may carry: none of them reads Secrets Manager.
MANAGED_WITHOUT_SECRETS = {
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    "arn:aws:iam::aws:policy/service-role/AWSAppRunnerServicePolicyForECRAccess",
}
SECRET_READS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


def _compute(stack) -> str:
    return "ecs" if stack.of_type("aws:ecs/service:Service") else "apprunner"


def _role_documents(stack) -> dict[str, list[dict]]:
    out = {}
    for role, names in SERVICE_POLICIES[_compute(stack)].items():
        out[role] = [doc(stack.one(POLICY, n)["props"]["policy"]) for n in names]
    return out


def _uploads(stack) -> str:
    return stack.one("aws:s3/bucket:Bucket", "uploads")["props"]["arn"]


def _api_policy(stack) -> dict:
    name = "api-task-policy" if _compute(stack) == "ecs" else "api-instance-policy"
    return doc(stack.one(POLICY, name)["props"]["policy"])


def s3_statements(policy: dict) -> list[dict]:
    return [
        st
        for st in policy["Statement"]
        if any(a.lower().startswith("s3:") or a == "*" for a in _as_list(st["Action"]))
    ]


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def expected_s3_statements(bucket_arn: str) -> list[dict]:
    return [
        {
            "Sid": "UploadsObjects",
            "Effect": "Allow",
            "Action": [
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionTagging",
                "s3:PutObject",
            ],
            "Resource": [f"{bucket_arn}/*"],
        },
        {
            "Sid": "UploadsVersions",
            "Effect": "Allow",
            "Action": ["s3:ListBucketVersions"],
            "Resource": [bucket_arn],
        },
    ]


@pytest.fixture(params=["dev", "prod", "ecs"])
def stack(request, dev, prod, ecs):
    return {"dev": dev, "prod": prod, "ecs": ecs}[request.param]


def test_the_api_roles_s3_statements_are_exactly_these(stack):
    assert s3_statements(_api_policy(stack)) == expected_s3_statements(_uploads(stack))


@pytest.mark.parametrize(
    "widen",
    [
        lambda sts: sts[0]["Action"].append("s3:*"),
        lambda sts: sts[0].update(Resource="*"),
        lambda sts: sts[1].update(Resource=["arn:aws:s3:::*"]),
        lambda sts: sts.append({"Sid": "More", "Effect": "Allow", "Action": "*", "Resource": "*"}),
    ],
)
def test_widening_the_s3_statements_is_caught(dev, widen):
    policy = copy.deepcopy(_api_policy(dev))
    sts = policy["Statement"]
    s3 = [st for st in sts if st in s3_statements(policy)]
    widen(s3)
    if len(s3) > 2:
        sts.append(s3[-1])
    assert s3_statements(policy) != expected_s3_statements(_uploads(dev))


def _forbidden_secrets(stack) -> list[str]:
    return [
        s["props"]["arn"]
        for s in stack.of_type(SECRET)
        if re.search("migrator|jobs", s["props"]["name"])
    ] + [stack.one("aws:rds/instance:Instance")["props"]["masterUserSecrets"][0]["secretArn"]]


def readable_forbidden_secrets(stack, documents: dict[str, list[dict]]) -> list[tuple]:
    """(role, action, secret) for every migrator/jobs/master secret a service role may read."""
    hits = []
    for role, docs in documents.items():
        for secret in _forbidden_secrets(stack):
            for action in SECRET_READS:
                request = Request(principal_arn=f"role/{role}", action=action, resource=secret)
                if evaluate(request, *docs) == "Allow":
                    hits.append((role, action, secret))
    return hits


def test_the_service_cannot_read_the_migrator_jobs_or_master_secret(stack):
    assert _forbidden_secrets(stack)
    assert readable_forbidden_secrets(stack, _role_documents(stack)) == []


def test_the_services_managed_policies_read_no_secrets(stack):
    roles = {stack.one("aws:iam/role:Role", r)["props"]["name"] for r in _role_documents(stack)}
    attached = {
        a["props"]["policyArn"] for a in stack.of_type(ATTACHMENT) if a["props"]["role"] in roles
    }
    assert attached <= MANAGED_WITHOUT_SECRETS


@pytest.mark.parametrize(
    ("actions", "resource"),
    [
        (["secretsmanager:Get*"], "{own}"),
        (["*"], "{own}"),
        (["secretsmanager:GetSecretValue"], "*"),
        (["secretsmanager:GetSecretValue"], "{prefix}*"),
    ],
)
def test_a_widened_statement_is_caught_by_evaluation(ecs, actions, resource):
    """Not a literal match on secretsmanager:GetSecretValue: wildcards in the action or the
    resource are evaluated, and caught."""
    documents = copy.deepcopy(_role_documents(ecs))
    own = documents["api-execution-role"][0]["Statement"][0]["Resource"][0]
    prefix = own.rsplit(":", 1)[0] + ":"
    documents["api-task-role"][0]["Statement"].append(
        {
            "Sid": "Widened",
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource.format(own=own, prefix=prefix)
            if resource != "{own}"
            else _forbidden_secrets(ecs)[0],
        }
    )
    assert readable_forbidden_secrets(ecs, documents)


# ----- EventBridge -> Lambda: one permission per rule, naming that rule -------------------------


def invoke_permission_problems(resources: list[dict]) -> list[str]:
    """Each rule targeting a function needs a lambda:InvokeFunction permission for
    events.amazonaws.com whose SourceArn is that rule's ARN."""
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["type"], []).append(r)
    rules = {r["props"]["name"]: r["props"]["arn"] for r in by_type.get(RULE, [])}
    functions = {f["props"]["arn"]: f["props"]["name"] for f in by_type.get(FN, [])}
    problems = []
    for target in by_type.get(TARGET, []):
        fn = functions.get(target["props"]["arn"])
        if fn is None:
            continue
        rule_arn = rules[target["props"]["rule"]]
        matching = [
            p["props"]
            for p in by_type.get(PERMISSION, [])
            if p["props"]["function"] == fn
            and p["props"]["principal"] == "events.amazonaws.com"
            and p["props"]["action"] == "lambda:InvokeFunction"
            and p["props"].get("sourceArn") == rule_arn
        ]
        if len(matching) != 1:
            problems.append(f"{target['name']}: {len(matching)} permissions for {rule_arn}")
    return problems


def test_each_targeted_function_has_its_own_rules_permission(all_stacks):
    checked = 0
    for s in all_stacks:
        assert invoke_permission_problems(s.resources) == [], s.stack
        checked += len(s.of_type(TARGET))
    assert checked


def test_a_missing_permission_is_caught(dev):
    without = [r for r in dev.resources if r["name"] != "jobs-scan-results-invoke"]
    assert invoke_permission_problems(without) == [
        "jobs-scan-results-target: 0 permissions for "
        + dev.one(RULE, "jobs-scan-results")["props"]["arn"]
    ]


def test_a_permission_naming_the_other_rule_is_caught(dev):
    other = dev.one(RULE, "jobs-maintenance-schedule")["props"]["arn"]
    swapped = copy.deepcopy(dev.resources)
    for r in swapped:
        if r["name"] == "jobs-scan-results-invoke":
            r["props"]["sourceArn"] = other
    assert len(invoke_permission_problems(swapped)) == 1

"""The pack refuses a role trusting an OIDC provider without a pinned ``sub``, or with a ``sub``
that is a wildcard over repositories; it accepts one exact repository subject."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policies.rules import ALL_RULES
from tests.policies.stacks import res, violations

RULE = next(r for r in ALL_RULES if r.name == "iam-oidc-trust-pinned-subject")
ROLE = "aws:iam/role:Role"
HOST = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"


def trust(condition: dict | None, *, principal: dict | None = None) -> dict:
    st = {
        "Effect": "Allow",
        "Principal": principal or {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition is not None:
        st["Condition"] = condition
    return {"assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [st]})}


AUD = {f"{HOST}:aud": "sts.amazonaws.com"}

BAD = [
    pytest.param(trust({"StringEquals": AUD}), "no StringEquals/StringLike", id="no-sub"),
    pytest.param(trust(None), "no StringEquals/StringLike", id="no-condition"),
    pytest.param(
        trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": "repo:example-org/*"}}),
        "does not name one repository",
        id="wildcard-over-an-organisation",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": "repo:*"}}),
        "does not name one repository",
        id="wildcard-over-every-repository",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": "*"}}),
        "does not name one repository",
        id="bare-wildcard",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": "repo:example-org/app*:*"}}),
        "does not name one repository",
        id="wildcard-in-the-repository-name",
    ),
    pytest.param(
        trust(
            {
                "StringEquals": AUD,
                "StringLike": {
                    f"{HOST}:sub": ["repo:example-org/app:environment:prod", "repo:other/*"]
                },
            }
        ),
        "'repo:other/*'",
        id="one-bad-subject-among-good-ones",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringLikeIfExists": {f"{HOST}:sub": "repo:o/r:*"}}),
        "no StringEquals/StringLike",
        id="ifexists-does-not-pin",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringNotEquals": {f"{HOST}:sub": "repo:o/r:pull_request"}}),
        "no StringEquals/StringLike",
        id="negated-does-not-pin",
    ),
    pytest.param(
        trust(
            {"StringEquals": {"gitlab.example.com:sub": "*"}},
            principal={"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"},
        ),
        "matches every identity",
        id="other-provider-any-subject",
    ),
]


@pytest.mark.parametrize(("props", "expected"), BAD)
def test_rule_refuses_unpinned_or_wildcard_subject(props, expected):
    messages = list(RULE.check(ROLE, props, {}))
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize(("props", "expected"), BAD)
def test_refusal_is_mandatory_through_the_pack(props, expected):
    found = violations([res(ROLE, "ci", props)], {}, rule=RULE.name, level=None)
    assert found and found[0].level == "mandatory" and found[0].resource == "ci"


GOOD = [
    pytest.param(
        trust({"StringEquals": {**AUD, f"{HOST}:sub": "repo:example-org/app:pull_request"}}),
        id="exact-pull-request-subject",
    ),
    pytest.param(
        trust({"StringEquals": {**AUD, f"{HOST}:sub": "repo:example-org/app:environment:prod"}}),
        id="exact-environment-subject",
    ),
    pytest.param(
        trust({"StringEquals": AUD, "StringLike": {f"{HOST}:sub": "repo:example-org/app:*"}}),
        id="one-repository-any-context",
    ),
    pytest.param(
        {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            )
        },
        id="service-trust-is-not-oidc",
    ),
]


@pytest.mark.parametrize("props", GOOD)
def test_rule_accepts_one_exact_repository(props):
    assert list(RULE.check(ROLE, props, {})) == []


def test_unknown_trust_policy_defers():
    with pytest.raises(UnknownValueError):
        list(RULE.check(ROLE, {"assumeRolePolicy": UNKNOWN_STRING_VALUE}, {}))

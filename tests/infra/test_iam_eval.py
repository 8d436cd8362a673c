"""What the IAM evaluator learned for trust policies, each checked against AWS's documented
behaviour (see iam_eval's docstring for the sources)."""

from __future__ import annotations

from .iam_eval import Request, evaluate, like

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
ROLE = "arn:aws:iam::123456789012:role/ci"


def _trust(condition: dict) -> dict:
    return {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ]
    }


def _web_identity(principal: str = PROVIDER, **claims) -> Request:
    return Request(principal, "sts:AssumeRoleWithWebIdentity", ROLE, claims)


def test_federated_principal_matches_its_provider_only():
    policy = _trust({"StringEquals": {"aud": "sts.amazonaws.com"}})
    assert evaluate(_web_identity(aud="sts.amazonaws.com"), policy) == "Allow"
    other = "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"
    assert evaluate(_web_identity(other, aud="sts.amazonaws.com"), policy) == "ImplicitDeny"


def test_statement_without_resource_applies_to_the_role_it_is_attached_to():
    policy = {
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:*"}]
    }
    assert evaluate(_web_identity(), policy) == "Allow"


def test_statement_with_resource_still_checks_it():
    policy = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]
    }
    assert evaluate(Request("p", "s3:GetObject", "arn:aws:s3:::b/x"), policy) == "ImplicitDeny"
    assert evaluate(Request("p", "s3:GetObject", "arn:aws:s3:::a/x"), policy) == "Allow"


def test_if_exists_is_true_when_the_key_is_absent_and_checked_when_present():
    policy = _trust({"StringEqualsIfExists": {"env": "prod"}})
    assert evaluate(_web_identity(), policy) == "Allow"
    assert evaluate(_web_identity(env="prod"), policy) == "Allow"
    assert evaluate(_web_identity(env="dev"), policy) == "ImplicitDeny"


def test_plain_operator_is_false_when_the_key_is_absent():
    assert evaluate(_web_identity(), _trust({"StringEquals": {"env": "prod"}})) == "ImplicitDeny"


def test_string_like_treats_brackets_literally():
    policy = _trust({"StringLike": {"sub": "repo:o/r:ref:refs/heads/[ab]*"}})
    assert evaluate(_web_identity(sub="repo:o/r:ref:refs/heads/[ab]-fix"), policy) == "Allow"
    # A shell glob would read [ab] as one of a or b; IAM does not.
    assert evaluate(_web_identity(sub="repo:o/r:ref:refs/heads/a-fix"), policy) == "ImplicitDeny"


def test_like_wildcards():
    assert like("repo:o/r:pull_request", "repo:o/*")
    assert like("abc", "a?c") and not like("ac", "a?c")
    assert not like("repo:o/r", "repo:o/[r]")
    assert like("S3:GetObject", "s3:get*", ignore_case=True)


def test_condition_keys_are_case_insensitive():
    policy = _trust(
        {"StringEquals": {"Token.Actions.GitHubUserContent.com:aud": "sts.amazonaws.com"}}
    )
    claims = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    assert evaluate(_web_identity(**claims), policy) == "Allow"

"""The application's metrics in every stack, under Pulumi's mocks: the dashboard names only
metrics the code declares and emits (app/core/metrics.py, each proven emitted by
tests/api/test_metrics.py and tests/api/test_lambda_metrics.py), in the namespace the API and the
Lambdas are given; the alarms on them exist, with the stack's thresholds, and every alarm acts on
a topic CloudWatch can publish to."""

from __future__ import annotations

import pytest

from app.core import metrics as declared
from infra.metrics import metrics_namespace

from .conftest import doc, variant

FN = "aws:lambda/function:Function"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
APP_ALARMS = ("refresh-token-reuse", "failed-logins", "failed-scans", "outbox-oldest")


def deployed(all_stacks):
    """Each stack with its image (the first, image-less phase has no API or functions yet)."""
    return [s for s in all_stacks if s.of_type(FN)]


def widget_metrics(stack) -> list[tuple[str, str]]:
    """(namespace, metric name) of every line of every widget of the stack's dashboard."""
    body = doc(stack.one(DASHBOARD)["props"]["dashboardBody"])
    named = []
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            plain = [item for item in row if isinstance(item, str)]
            named.append((plain[0], plain[1]))
    return named


def test_every_deployed_stack_has_one_dashboard(all_stacks):
    stacks = deployed(all_stacks)
    assert {s.stack for s in stacks} == {"dev", "prod", "ecs"}
    for stack in stacks:
        assert len(stack.of_type(DASHBOARD)) == 1


def test_the_dashboard_names_the_metrics_the_code_emits(all_stacks):
    emitted = {metric.name for metric in declared.METRICS}
    for stack in deployed(all_stacks):
        namespace = stack.of_type(FN)[0]["props"]["environment"]["variables"]["METRICS_NAMESPACE"]
        assert namespace == metrics_namespace(stack.stack)
        own = {name for ns, name in widget_metrics(stack) if not ns.startswith("AWS/")}
        assert {ns for ns, _ in widget_metrics(stack) if not ns.startswith("AWS/")} == {namespace}
        assert own == emitted  # nothing it names is missing from the code, nothing emitted unseen


def test_the_application_alarms_watch_emitted_metrics_with_the_stacks_thresholds(dev):
    emitted = {metric.name for metric in declared.METRICS}
    alarms = {a["name"]: a["props"] for a in dev.of_type(ALARM)}
    for label in APP_ALARMS:
        alarm = alarms[f"observability-{label}"]
        assert alarm["namespace"] == metrics_namespace("dev")
        assert alarm["metricName"] in emitted
    assert alarms["observability-failed-logins"]["dimensions"] == {"Outcome": "failed"}
    assert alarms["observability-failed-logins"]["threshold"] == 50
    assert alarms["observability-refresh-token-reuse"]["threshold"] == 3
    assert alarms["observability-failed-scans"]["threshold"] == 0
    assert alarms["observability-outbox-oldest"]["threshold"] == 900
    assert alarms["observability-outbox-oldest"]["statistic"] == "Maximum"


def test_every_function_has_an_errors_alarm(all_stacks):
    for stack in deployed(all_stacks):
        names = {f["props"]["name"] for f in stack.of_type(FN)}
        watched = {
            a["props"]["dimensions"]["FunctionName"]
            for a in stack.of_type(ALARM)
            if a["props"].get("namespace") == "AWS/Lambda" and a["props"]["metricName"] == "Errors"
        }
        assert watched == names


def test_thresholds_are_stack_config(tmp_path_factory):
    stack = variant(
        tmp_path_factory,
        "thresholds",
        alarms={
            "enabled": True,
            "refreshTokenReuse": 1,
            "failedLogins": 200,
            "outboxOldestSeconds": 120,
        },
    )
    alarms = {a["name"]: a["props"] for a in stack.of_type(ALARM)}
    assert alarms["observability-refresh-token-reuse"]["threshold"] == 1
    assert alarms["observability-failed-logins"]["threshold"] == 200
    assert alarms["observability-outbox-oldest"]["threshold"] == 120


def _publishable_topics(stack) -> set[str]:
    """ARNs of the stack's topics encrypted with a key whose policy lets CloudWatch use it."""
    keys = {}
    for key in stack.of_type(KEY):
        if not key["props"].get("policy"):
            continue
        policy = doc(key["props"]["policy"])
        grants = [
            st
            for st in policy["Statement"]
            if st.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
            and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(st["Action"])
        ]
        if grants:
            keys[key["props"]["arn"]] = key
    return {
        t["props"]["arn"] for t in stack.of_type(TOPIC) if t["props"].get("kmsMasterKeyId") in keys
    }


@pytest.mark.parametrize("phase", ["with image", "without image"])
def test_every_alarm_acts_on_a_topic_that_can_receive_it(all_stacks, phase):
    stacks = [s for s in all_stacks if bool(s.of_type(FN)) == (phase == "with image")]
    assert stacks
    for stack in stacks:
        topics = _publishable_topics(stack)
        for alarm in stack.of_type(ALARM):
            actions = alarm["props"].get("alarmActions") or []
            assert actions, f"{stack.stack}: {alarm['name']} has no action"
            assert set(actions) <= topics, f"{stack.stack}: {alarm['name']} -> {actions}"

"""Lambdas, the deploy order, and the API service in both compute modes."""

from __future__ import annotations

import json
import re

import pytest

from infra.offline import PLACEHOLDER_IMAGE_TAG

from .conftest import doc

FN = "aws:lambda/function:Function"
SECRET_ARN = re.compile(r"^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_?KEY|WEBHOOK", re.IGNORECASE)
DB_FUNCTIONS = ("jobs-db-admin", "jobs-scan-result", "jobs-maintenance")


def test_every_function_runs_the_same_image(dev):
    images = {f["props"]["imageUri"] for f in dev.of_type(FN)}
    assert images == {
        f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/jobapptracker-dev:{PLACEHOLDER_IMAGE_TAG}"
    }


def test_functions_differ_only_by_command(dev):
    commands = {f["name"]: f["props"]["imageConfig"]["commands"] for f in dev.of_type(FN)}
    assert commands == {
        "jobs-db-admin": ["app.jobs.db_admin.handler"],
        "jobs-slack-notify": ["app.jobs.slack_notify.handler"],
        "jobs-scan-result": ["app.jobs.scan_result.handler"],
        "jobs-maintenance": ["app.jobs.maintenance.handler"],
    }
    assert {tuple(f["props"]["imageConfig"]["entryPoints"]) for f in dev.of_type(FN)} == {
        ("python", "-m", "awslambdaric")
    }


@pytest.mark.parametrize("name", DB_FUNCTIONS)
def test_database_functions_run_in_the_private_subnets(dev, name):
    private = {r["id"] for r in dev.of_type("aws:ec2/subnet:Subnet") if "private" in r["name"]}
    vpc = dev.one(FN, name)["props"]["vpcConfig"]
    assert set(vpc["subnetIds"]) == private


def test_slack_notify_is_outside_the_vpc(dev):
    assert not dev.one(FN, "jobs-slack-notify")["props"].get("vpcConfig")


@pytest.mark.parametrize("name", ["jobs-scan-result", "jobs-maintenance"])
def test_jobs_functions_connect_as_the_jobs_role(dev, name):
    env = dev.one(FN, name)["props"]["environment"]["variables"]
    jobs_secret = dev.one("aws:secretsmanager/secret:Secret", "secrets-db-jobs-password")
    assert env["DB_JOBS_USER"] == "jat_jobs"
    assert env["DB_JOBS_PASSWORD_SECRET_ARN"] == jobs_secret["props"]["arn"]
    assert not any("MIGRATOR" in k or "MASTER" in k or "DB_APP" in k for k in env)


def test_db_admin_gets_the_master_and_migrator_credentials(dev):
    env = dev.one(FN, "jobs-db-admin")["props"]["environment"]["variables"]
    master = dev.one("aws:rds/instance:Instance")["props"]["masterUserSecrets"][0]["secretArn"]
    assert env["DB_MASTER_SECRET_ARN"] == master
    assert SECRET_ARN.match(env["DB_MIGRATOR_PASSWORD_SECRET_ARN"])


def test_function_secrets_arrive_only_as_secret_arns(all_stacks):
    for s in all_stacks:
        for f in s.of_type(FN):
            for k, v in f["props"]["environment"]["variables"].items():
                if k.endswith("_SECRET_ARN"):
                    assert SECRET_ARN.match(v), (f["name"], k)
                else:
                    assert not SECRET_WORDS.search(k), (f["name"], k)


def test_every_function_has_its_own_role(dev):
    roles = [f["props"]["role"] for f in dev.of_type(FN)]
    assert len(set(roles)) == len(roles) == 4


def test_tls_is_verified_by_every_database_client(dev):
    for name in DB_FUNCTIONS:
        assert dev.one(FN, name)["props"]["environment"]["variables"]["DB_SSLMODE"] == "verify-full"


@pytest.mark.parametrize("name", ["jobs-slack-notify", "jobs-scan-result", "jobs-maintenance"])
def test_async_functions_retry_and_have_an_on_failure_queue(dev, name):
    fn = dev.one(FN, name)
    configs = [
        c
        for c in dev.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if c["props"]["functionName"] == fn["props"]["name"]
    ]
    failures = dev.one("aws:sqs/queue:Queue", "jobs-failures")["props"]["arn"]
    assert len(configs) == 1
    assert configs[0]["props"]["maximumRetryAttempts"] == 2
    assert configs[0]["props"]["destinationConfig"]["onFailure"]["destination"] == failures


def test_maintenance_runs_on_an_eventbridge_schedule(dev):
    rule = dev.one("aws:cloudwatch/eventRule:EventRule", "jobs-maintenance-schedule")
    target = dev.one("aws:cloudwatch/eventTarget:EventTarget", "jobs-maintenance-schedule-target")
    assert rule["props"]["scheduleExpression"].startswith("cron(")
    assert target["props"]["arn"] == dev.one(FN, "jobs-maintenance")["props"]["arn"]


def test_event_invoke_permissions_are_scoped_to_their_rule(dev):
    for p in dev.of_type("aws:lambda/permission:Permission"):
        assert p["props"]["principal"] == "events.amazonaws.com"
        assert p["props"]["sourceArn"].startswith("arn:aws:events:")


# ----- deploy order ------------------------------------------------------------------------------


def test_db_admin_is_invoked_with_migrate_and_triggered_by_what_the_bootstrap_needs(dev):
    """The same image tag after the database was replaced (new resource id, new endpoint) or a
    role password changed must run the bootstrap again: each is a trigger."""
    inv = dev.one("aws:lambda/invocation:Invocation")["props"]
    db = dev.one("aws:rds/instance:Instance")
    versions = {
        f"{label}Version": dev.named(f"secrets-{label}-version")["props"]["versionId"]
        for label in ("db-migrator-password", "db-app-password", "db-jobs-password")
    }
    assert doc(inv["input"]) == {"action": "migrate"}
    assert inv["triggers"] == {
        "imageTag": PLACEHOLDER_IMAGE_TAG,
        "databaseResourceId": db["id"],
        "databaseEndpoint": db["props"]["endpoint"],
        **versions,
    }
    assert db["id"] == db["props"]["resourceId"]
    assert inv["functionName"] == dev.one(FN, "jobs-db-admin")["props"]["name"]


def test_invocation_waits_for_the_database_and_its_secrets(dev):
    waits = dev.waits_for(dev.one("aws:lambda/invocation:Invocation"))
    assert {
        "database",
        "secrets-db-migrator-password-version",
        "secrets-db-app-password-version",
        "secrets-db-jobs-password-version",
    } <= waits


@pytest.mark.parametrize("name", ["jobs-scan-result", "jobs-maintenance"])
def test_database_lambdas_wait_for_the_migration(dev, name):
    assert "jobs-db-admin-migrate" in dev.waits_for(dev.one(FN, name))


def test_apprunner_service_waits_for_the_migration(dev):
    assert "jobs-db-admin-migrate" in dev.waits_for(dev.one("aws:apprunner/service:Service"))


def test_ecs_service_waits_for_the_migration(ecs):
    svc = ecs.one("aws:ecs/service:Service")
    assert "jobs-db-admin-migrate" in ecs.waits_for(svc)


# ----- App Runner -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apprunner(dev):
    return dev.one("aws:apprunner/service:Service")["props"]


def test_apprunner_health_check_is_http_on_health(apprunner):
    hc = apprunner["healthCheckConfiguration"]
    assert (hc["protocol"], hc["path"]) == ("HTTP", "/health")


def test_apprunner_egress_goes_through_the_vpc_connector(dev, apprunner):
    connector = dev.one("aws:apprunner/vpcConnector:VpcConnector")["props"]
    egress = apprunner["networkConfiguration"]["egressConfiguration"]
    assert egress == {"egressType": "VPC", "vpcConnectorArn": connector["arn"]}


def test_apprunner_autoscaling_follows_the_stack(dev, prod):
    def sizes(s):
        a = s.one("aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion")
        return a["props"]["minSize"], a["props"]["maxSize"]

    assert sizes(dev) == (1, 2) and sizes(prod) == (2, 6)


def test_apprunner_has_no_xray_tracing_without_instrumentation(dev, apprunner):
    assert apprunner["observabilityConfiguration"] == {"observabilityEnabled": False}
    assert not dev.of_type("aws:apprunner/observabilityConfiguration:ObservabilityConfiguration")


def test_apprunner_runtime_secrets_are_the_apps_own(dev, apprunner):
    image = apprunner["sourceConfiguration"]["imageRepository"]["imageConfiguration"]
    secrets = {
        s["name"]: s["props"]["arn"] for s in dev.of_type("aws:secretsmanager/secret:Secret")
    }
    assert image["runtimeEnvironmentSecrets"] == {
        "DB_APP_PASSWORD": secrets["secrets-db-app-password"],
        "JWT_SECRET": secrets["secrets-jwt-secret"],
        "MFA_ENCRYPTION_KEY": secrets["secrets-mfa-encryption-key-1"],
        "RESEND_API_KEY": secrets["secrets-resend-api-key"],
    }


def test_apprunner_plain_environment_holds_no_secret(apprunner):
    env = apprunner["sourceConfiguration"]["imageRepository"]["imageConfiguration"][
        "runtimeEnvironmentVariables"
    ]
    assert not [k for k in env if SECRET_WORDS.search(k)]
    assert env["APP_ENV"] == "production" and env["DB_APP_USER"] == "jat_app"


def _service_readable_secrets(stack, role_policy_names):
    arns = set()
    for name in role_policy_names:
        policy = doc(stack.one("aws:iam/rolePolicy:RolePolicy", name)["props"]["policy"])
        for st in policy["Statement"]:
            if "secretsmanager:GetSecretValue" in st["Action"]:
                arns |= set(
                    st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                )
    return arns


def _forbidden(stack):
    return {
        s["props"]["arn"]
        for s in stack.of_type("aws:secretsmanager/secret:Secret")
        if re.search("migrator|jobs", s["name"])
    }


def test_apprunner_instance_role_reads_no_migrator_or_jobs_secret(dev):
    readable = _service_readable_secrets(dev, ["api-instance-policy"])
    assert readable and not readable & _forbidden(dev)


def test_apprunner_instance_role_reads_only_listed_secrets(dev):
    assert "*" not in "".join(_service_readable_secrets(dev, ["api-instance-policy"]))


def test_apprunner_receives_no_migrator_or_jobs_secret(dev, apprunner):
    text = str(apprunner)
    assert not any(arn in text for arn in _forbidden(dev))
    assert "MIGRATOR" not in text and "DB_JOBS" not in text


def test_apprunner_instance_role_lists_versions_and_reads_scan_tags(dev):
    policy = doc(dev.one("aws:iam/rolePolicy:RolePolicy", "api-instance-policy")["props"]["policy"])
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert {
        "s3:ListBucketVersions",
        "s3:GetObjectVersionTagging",
        "lambda:InvokeFunction",
        "kms:Decrypt",
    } <= actions
    assert not any(a.startswith("ses:") for a in actions)  # SES only when SES is chosen


def test_custom_domain_is_associated(dev):
    assoc = dev.one("aws:apprunner/customDomainAssociation:CustomDomainAssociation")
    assert assoc["props"]["domainName"] == "api.dev.jobapptracker.example.com"


def test_prod_puts_a_rate_limited_waf_in_front_of_the_service(prod):
    acl = prod.one("aws:wafv2/webAcl:WebAcl")["props"]
    assoc = prod.one("aws:wafv2/webAclAssociation:WebAclAssociation")["props"]
    assert acl["rules"][0]["statement"]["rateBasedStatement"]["limit"] == 2000
    assert assoc["resourceArn"] == prod.one("aws:apprunner/service:Service")["props"]["arn"]


def test_dev_has_no_waf(dev):
    assert not dev.of_type("aws:wafv2/webAcl:WebAcl")


# ----- ECS (Fargate) -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task(ecs):
    return ecs.one("aws:ecs/taskDefinition:TaskDefinition")["props"]


@pytest.fixture(scope="module")
def container(task):
    (only,) = json.loads(task["containerDefinitions"])
    return only


def test_ecs_stack_has_no_apprunner_service(ecs):
    assert not ecs.of_type("aws:apprunner/service:Service")


def test_ecs_target_group_checks_health_over_http(ecs):
    hc = ecs.one("aws:lb/targetGroup:TargetGroup")["props"]["healthCheck"]
    assert (hc["protocol"], hc["path"], hc["matcher"]) == ("HTTP", "/health", "200")


def test_ecs_task_has_its_execution_and_task_roles(ecs, task):
    roles = {r["props"]["arn"]: r["name"] for r in ecs.of_type("aws:iam/role:Role")}
    assert roles[task["executionRoleArn"]] == "api-execution-role"
    assert roles[task["taskRoleArn"]] == "api-task-role"


def test_ecs_tasks_run_in_the_private_subnets_without_public_ip(ecs):
    private = {r["id"] for r in ecs.of_type("aws:ec2/subnet:Subnet") if "private" in r["name"]}
    net = ecs.one("aws:ecs/service:Service")["props"]["networkConfiguration"]
    assert set(net["subnets"]) == private
    assert net["assignPublicIp"] is False


def test_ecs_private_subnets_reach_the_internet_through_nat(ecs):
    """Image pulls, secrets, logs and the email provider: a default route to a NAT gateway."""
    nat = {r["id"] for r in ecs.of_type("aws:ec2/natGateway:NatGateway")}
    private_tables = {
        r["id"] for r in ecs.of_type("aws:ec2/routeTable:RouteTable") if "private" in r["name"]
    }
    defaults = {
        r["props"]["routeTableId"]: r["props"].get("natGatewayId")
        for r in ecs.of_type("aws:ec2/route:Route")
        if r["props"].get("destinationCidrBlock") == "0.0.0.0/0"
    }
    assert private_tables and all(defaults.get(t) in nat for t in private_tables)


def test_ecs_scaling_follows_the_stack(ecs):
    target = ecs.one("aws:appautoscaling/target:Target")["props"]
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 3)
    policy = ecs.one("aws:appautoscaling/policy:Policy")["props"]
    spec = policy["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]
    assert spec["predefinedMetricType"] == "ALBRequestCountPerTarget"


def test_ecs_secrets_are_the_apps_own(ecs, container):
    names = {s["name"] for s in container["secrets"]}
    assert names == {"DB_APP_PASSWORD", "JWT_SECRET", "MFA_ENCRYPTION_KEY", "RESEND_API_KEY"}
    text = json.dumps(container)
    assert not any(arn in text for arn in _forbidden(ecs))


def test_ecs_roles_read_no_migrator_or_jobs_secret(ecs):
    readable = _service_readable_secrets(ecs, ["api-execution-secrets", "api-task-policy"])
    assert readable and not readable & _forbidden(ecs)


def test_ecs_custom_domain_goes_through_cloudfront_with_a_us_east_1_certificate(ecs):
    cdn = ecs.one("aws:cloudfront/distribution:Distribution")["props"]
    cert = ecs.one("aws:acm/certificate:Certificate")["props"]
    validation = ecs.one("aws:acm/certificateValidation:CertificateValidation")["props"]
    assert cdn["aliases"] == ["api.ecs.jobapptracker.example.com"]
    assert cdn["viewerCertificate"]["acmCertificateArn"] == validation["certificateArn"]
    assert validation["certificateArn"] == cert["arn"]
    assert cert["arn"].startswith("arn:aws:acm:us-east-1:")


def test_ecs_waf_sits_on_cloudfront(ecs):
    acl = ecs.one("aws:wafv2/webAcl:WebAcl")["props"]
    assert acl["scope"] == "CLOUDFRONT"
    assert ecs.one("aws:cloudfront/distribution:Distribution")["props"]["webAclId"] == acl["arn"]


def test_alarms_cover_queues_5xx_latency_and_rds(dev, ecs):
    for s in (dev, ecs):
        names = {a["name"] for a in s.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        assert {
            "observability-async-failures-depth",
            "observability-events-dlq-depth",
            "observability-api-5xx-rate",
            "observability-api-latency",
            "observability-rds-cpu",
            "observability-rds-free-storage",
            "observability-rds-connections",
        } <= names, s.stack


def _container_environment(container) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["environment"]}


def test_each_api_states_its_proxy_hops_limiter_mode_and_email_verification(
    apprunner, prod, container
):
    prod_env = prod.one("aws:apprunner/service:Service")["props"]["sourceConfiguration"][
        "imageRepository"
    ]["imageConfiguration"]["runtimeEnvironmentVariables"]
    dev_env = apprunner["sourceConfiguration"]["imageRepository"]["imageConfiguration"][
        "runtimeEnvironmentVariables"
    ]
    expected = {"RATE_LIMITER_FAIL_CLOSED": "true", "EMAIL_VERIFICATION_ENABLED": "true"}
    for env, hops in ((dev_env, "1"), (prod_env, "1"), (_container_environment(container), "2")):
        assert {key: env[key] for key in expected} == expected
        # App Runner's front end appends one X-Forwarded-For entry; on ECS, CloudFront and the
        # load balancer append one each.
        assert env["TRUSTED_PROXY_HOPS"] == hops


def test_the_api_and_every_function_emit_metrics_in_the_stacks_namespace(dev, apprunner):
    expected = {"METRICS": "emf", "METRICS_NAMESPACE": f"JobAppTracker/{dev.stack}"}
    env = apprunner["sourceConfiguration"]["imageRepository"]["imageConfiguration"][
        "runtimeEnvironmentVariables"
    ]
    functions = dev.of_type(FN)
    assert len(functions) == 4
    for variables in [env, *(f["props"]["environment"]["variables"] for f in functions)]:
        assert {key: variables.get(key) for key in expected} == expected

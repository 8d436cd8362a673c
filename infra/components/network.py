"""Network: a VPC with public subnets (the NAT gateways only) and private subnets in two or more
AZs (the App Runner connector, or the ECS tasks and their internal load balancer; RDS; the Lambdas),
NAT egress by default, an S3 gateway endpoint, and least-open security groups."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from ..config import StackConfig, egress_dependencies

TYPE = "jobapptracker:network:Network"
POSTGRES_PORT = 5432
HTTPS_PORT = 443
SMTPS_PORT = 465
HTTP_PORT = 80
API_PORT = 8000


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.cfg = cfg
        child = pulumi.ResourceOptions(parent=self)
        azs = aws.get_availability_zones(
            state="available", opts=pulumi.InvokeOptions(parent=self)
        ).names[: cfg.network.az_count]
        if len(azs) < cfg.network.az_count:
            raise ValueError(
                f"region {cfg.region} offers {len(azs)} AZs; network.azCount is "
                f"{cfg.network.az_count}"
            )
        blocks = list(ipaddress.ip_network(cfg.network.cidr).subnets(prefixlen_diff=4))

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.network.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{cfg.prefix}-vpc"},
            opts=child,
        )
        vpc_child = pulumi.ResourceOptions(parent=self)
        self.igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": f"{cfg.prefix}-igw"}, opts=vpc_child
        )
        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            tags={"Name": f"{cfg.prefix}-public"},
            opts=vpc_child,
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.igw.id,
            opts=vpc_child,
        )
        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i, az in enumerate(azs):
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=self.vpc.id,
                cidr_block=str(blocks[i]),
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"{cfg.prefix}-public-{az}", "tier": "public"},
                opts=vpc_child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}-rta",
                subnet_id=public.id,
                route_table_id=self.public_route_table.id,
                opts=vpc_child,
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=self.vpc.id,
                cidr_block=str(blocks[8 + i]),
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={"Name": f"{cfg.prefix}-private-{az}", "tier": "private"},
                opts=vpc_child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=self.vpc.id,
                tags={"Name": f"{cfg.prefix}-private-{az}"},
                opts=vpc_child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}-rta",
                subnet_id=private.id,
                route_table_id=rt.id,
                opts=vpc_child,
            )
            self.public_subnets.append(public)
            self.private_subnets.append(private)
            self.private_route_tables.append(rt)

        self.nat_gateways: list[aws.ec2.NatGateway] = []
        if cfg.network.egress == "nat":
            count = 1 if cfg.network.nat_gateways == "single" else len(azs)
            for i in range(count):
                eip = aws.ec2.Eip(
                    f"{name}-nat-eip-{i}",
                    domain="vpc",
                    tags={"Name": f"{cfg.prefix}-nat-{i}"},
                    opts=vpc_child,
                )
                self.nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}",
                        allocation_id=eip.id,
                        subnet_id=self.public_subnets[i].id,
                        tags={"Name": f"{cfg.prefix}-nat-{i}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[self.igw]),
                    )
                )
            for i, rt in enumerate(self.private_route_tables):
                aws.ec2.Route(
                    f"{name}-private-default-{i}",
                    route_table_id=rt.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=self.nat_gateways[i % count].id,
                    opts=vpc_child,
                )

        # S3 is reached through a gateway endpoint from every subnet, NAT or not (no data charge).
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{cfg.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in self.private_route_tables]
            + [self.public_route_table.id],
            tags={"Name": f"{cfg.prefix}-s3"},
            opts=vpc_child,
        )

        # ----- security groups: every rule is explicit; nothing is open by default -----
        self.db_sg = self._group(name, "db", "RDS PostgreSQL: 5432 from the compute that needs it")
        self.compute_groups: dict[str, aws.ec2.SecurityGroup] = {}
        service_group = "tasks" if cfg.compute == "ecs" else "connector"
        descriptions = {
            "connector": "App Runner VPC connector: outbound traffic of the API",
            "tasks": "ECS tasks of the API: inbound only from its load balancer",
            "db-admin": "db-admin Lambda (role bootstrap and migrations)",
            "scan-result": "scan-result Lambda",
            "maintenance": "maintenance Lambda",
        }
        for label in (service_group, "db-admin", "scan-result", "maintenance"):
            sg = self._group(name, label, descriptions[label])
            self.compute_groups[label] = sg
            self._egress(name, label, sg)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-db-from-{label}",
                security_group_id=self.db_sg.id,
                referenced_security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=POSTGRES_PORT,
                to_port=POSTGRES_PORT,
                description=f"PostgreSQL from {label}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.service_sg = self.compute_groups[service_group]
        if cfg.compute == "ecs":
            self._load_balancer_groups(name)

        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        if cfg.network.egress == "endpoints":
            # config.from_mapping refused this mode unless every dependency has an endpoint.
            ep_sg = self._group(name, "endpoints", "Interface endpoints: 443 from the VPC")
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoints-https",
                security_group_id=ep_sg.id,
                cidr_ipv4=cfg.network.cidr,
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                description="HTTPS from inside the VPC",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for dep in egress_dependencies(cfg):
                if dep.endpoint in (None, "s3"):
                    continue
                self.interface_endpoints[dep.endpoint] = aws.ec2.VpcEndpoint(
                    f"{name}-{dep.endpoint.replace('.', '-')}-endpoint",
                    vpc_id=self.vpc.id,
                    service_name=f"com.amazonaws.{cfg.region}.{dep.endpoint}",
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in self.private_subnets],
                    security_group_ids=[ep_sg.id],
                    tags={"Name": f"{cfg.prefix}-{dep.endpoint}"},
                    opts=pulumi.ResourceOptions(parent=self),
                )

        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in self.private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in self.public_subnets])
        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "dbSecurityGroupId": self.db_sg.id,
            }
        )

    def _load_balancer_groups(self, name: str) -> None:
        """The internal load balancer admits HTTP from inside the VPC only (CloudFront's VPC origin
        connects from network interfaces it places in these subnets) and reaches only the tasks;
        the tasks admit only the load balancer."""
        opts = pulumi.ResourceOptions(parent=self)
        alb = self._group(name, "alb", "Internal load balancer of the API: HTTP from the VPC only")
        self.compute_groups["alb"] = alb
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-alb-http-from-vpc",
            security_group_id=alb.id,
            cidr_ipv4=self.cfg.network.cidr,
            ip_protocol="tcp",
            from_port=HTTP_PORT,
            to_port=HTTP_PORT,
            description="HTTP from CloudFront VPC origin interfaces in the VPC",
            opts=opts,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-tasks",
            security_group_id=alb.id,
            referenced_security_group_id=self.service_sg.id,
            ip_protocol="tcp",
            from_port=API_PORT,
            to_port=API_PORT,
            description="The API port of the tasks",
            opts=opts,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-tasks-from-alb",
            security_group_id=self.service_sg.id,
            referenced_security_group_id=alb.id,
            ip_protocol="tcp",
            from_port=API_PORT,
            to_port=API_PORT,
            description="The API port from the load balancer only",
            opts=opts,
        )

    def _group(self, name: str, label: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{name}-{label}-sg",
            vpc_id=self.vpc.id,
            description=description,
            tags={"Name": f"{self.cfg.prefix}-{label}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _egress(self, name: str, label: str, sg: aws.ec2.SecurityGroup) -> None:
        opts = pulumi.ResourceOptions(parent=self)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-{label}-to-db",
            security_group_id=sg.id,
            referenced_security_group_id=self.db_sg.id,
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            description="PostgreSQL to RDS",
            opts=opts,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-{label}-https",
            security_group_id=sg.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            description="HTTPS to AWS APIs (NAT or endpoints) and the email provider",
            opts=opts,
        )
        # Gmail is SMTPS: open 465 for what sends mail (the API and the maintenance Lambda).
        if self.cfg.email.provider == "gmail" and label in ("connector", "tasks", "maintenance"):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{label}-smtps",
                security_group_id=sg.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=SMTPS_PORT,
                to_port=SMTPS_PORT,
                description="SMTPS to Gmail",
                opts=opts,
            )

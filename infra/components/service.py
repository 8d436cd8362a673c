"""The API service: App Runner (``AppRunnerService``) or ECS on Fargate behind an internal load
balancer and CloudFront (``EcsService``).

Both receive the app role's credentials only (never the migrator's or the jobs role's), as Secrets
Manager references, and both wait for the db-admin invocation so no new code runs before its schema.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .. import iam, mail, providers
from ..config import StackConfig
from ..metrics import metrics_environment
from .database import DB_USERS, Database
from .network import Network
from .secrets import MFA_KEY, MFA_PREVIOUS_KEY, Secrets
from .storage import Storage

APPRUNNER_TYPE = "jobapptracker:service:AppRunnerService"
ECS_TYPE = "jobapptracker:service:EcsService"
PORT = 8000
ALB_PORT = 80
HEALTH_PATH = "/health"
CONTAINER = "api"
# CloudFront adds this header (a random value) to every request it sends to the load balancer;
# the listener forwards only requests that carry it.
ORIGIN_HEADER = "X-Origin-Verify"
FORBIDDEN_BODY = json.dumps(
    {"error": {"code": "FORBIDDEN", "message": "Use the API through its public URL."}}
)
# The proxies in front of the ECS tasks: CloudFront, then the load balancer. Each appends the
# address it received the request from to X-Forwarded-For.
ECS_PROXY_HOPS = 2
APPRUNNER_PROXY_HOPS = 1
# CloudFront's managed policies (documented IDs): no caching; forward everything but Host.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"


def api_secret_labels(cfg: StackConfig) -> dict[str, str]:
    """Environment variable -> secret label: the API's own secrets, nothing else. The
    second-factor key is the API's alone (no Lambda holds or reads it); its previous generation
    is added only while a rotation runs."""
    labels = {
        "DB_APP_PASSWORD": "db-app-password",
        "JWT_SECRET": "jwt-secret",
        "MFA_ENCRYPTION_KEY": MFA_KEY,
    }
    if cfg.mfa_encryption_key.previous is not None:
        labels["MFA_PREVIOUS_ENCRYPTION_KEY"] = MFA_PREVIOUS_KEY
    labels.update(mail.secret_labels(cfg))
    return labels


def api_environment(
    cfg: StackConfig,
    database: Database,
    storage: Storage,
    slack_function_name: pulumi.Input[str],
    trusted_proxy_hops: int,
    api_url: pulumi.Input[str] | None = None,
) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = {
        "APP_ENV": "production",
        "LOG_LEVEL": "INFO",
        **metrics_environment(cfg.stack),
        "AWS_REGION": cfg.region,
        "WEB_CONCURRENCY": str(cfg.service.workers),
        "GUNICORN_THREADS": str(cfg.service.threads),
        "DB_HOST": database.address,
        "DB_PORT": database.port.apply(str),
        "DB_NAME": cfg.database.name,
        "DB_SSLMODE": "verify-full",
        "DB_APP_USER": DB_USERS["app"],
        "FRONTEND_URL": cfg.frontend_url,
        "API_URL": api_url if api_url is not None else cfg.api_url,
        "REFRESH_COOKIE_SAMESITE": cfg.refresh_cookie_samesite,
        "TRUSTED_PROXY_HOPS": str(trusted_proxy_hops),
        "RATE_LIMITER_FAIL_CLOSED": str(cfg.rate_limiter_fail_closed).lower(),
        "EMAIL_VERIFICATION_ENABLED": str(cfg.email_verification_enabled).lower(),
        **mail.environment(cfg),
        **mail.password_policy_environment(cfg),
        "STORAGE_BACKEND": "s3",
        "SCANNER": "guardduty",
        "UPLOADS_BUCKET": storage.name,
        "UPLOAD_MAX_BYTES": str(cfg.uploads.max_bytes),
        "SLACK_LAMBDA_FUNCTION_NAME": slack_function_name,
    }
    return env


def api_role_statements(
    cfg: StackConfig,
    account: str,
    partition: str,
    *,
    bucket_arn: str,
    slack_arn: str,
    secret_arns: list[str] | None,
    kms_key_arn: str | None,
) -> list[dict]:
    """What the API may do. ``secret_arns`` is set where the role itself resolves the runtime
    secrets (App Runner's instance role); ECS resolves them with its execution role."""
    objects = f"{bucket_arn}/*"
    sts = [
        iam.statement(
            "UploadsObjects",
            [
                "s3:PutObject",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionTagging",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
            [objects],
        ),
        # `complete` lists versions: HeadObject is denied on objects that are not scanned clean.
        iam.statement("UploadsVersions", ["s3:ListBucketVersions"], [bucket_arn]),
        iam.statement("NotifyOperators", ["lambda:InvokeFunction"], [slack_arn]),
    ]
    if secret_arns:
        sts.append(iam.statement("OwnSecretsOnly", ["secretsmanager:GetSecretValue"], secret_arns))
    if kms_key_arn:
        sts.append(iam.statement("DecryptOwnSecrets", ["kms:Decrypt"], [kms_key_arn]))
    sts += mail.send_statements(cfg, account, partition)
    return sts


def _role(name: str, service: str, description: str, parent: pulumi.Resource) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        description=description,
        assume_role_policy=iam.assume_role(service),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _rate_limited_acl(
    name: str, cfg: StackConfig, scope: str, opts: pulumi.ResourceOptions
) -> aws.wafv2.WebAcl:
    metric = f"{cfg.prefix}-api".replace("-", "")
    return aws.wafv2.WebAcl(
        name,
        scope=scope,
        description=f"{cfg.prefix}: per-IP rate limit in front of the API",
        default_action={"allow": {}},
        rules=[
            {
                "name": "per-ip-rate-limit",
                "priority": 1,
                "action": {"block": {}},
                "statement": {
                    "rate_based_statement": {
                        "limit": cfg.waf.rate_limit,
                        "aggregate_key_type": "IP",
                        "evaluation_window_sec": 300,
                    }
                },
                "visibility_config": {
                    "cloudwatch_metrics_enabled": True,
                    "metric_name": f"{metric}RateLimit",
                    "sampled_requests_enabled": True,
                },
            }
        ],
        visibility_config={
            "cloudwatch_metrics_enabled": True,
            "metric_name": metric,
            "sampled_requests_enabled": True,
        },
        opts=opts,
    )


class AppRunnerService(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        account: str,
        partition: str,
        image_uri: pulumi.Output[str],
        network: Network,
        secrets: Secrets,
        database: Database,
        storage: Storage,
        slack_function: aws.lambda_.Function,
        migration: aws.lambda_.Invocation,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(APPRUNNER_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        access_role = _role(
            f"{name}-ecr-access-role",
            "build.apprunner.amazonaws.com",
            f"{cfg.prefix}: App Runner pulls the image from ECR",
            self,
        )
        access = aws.iam.RolePolicyAttachment(
            f"{name}-ecr-access",
            role=access_role.name,
            policy_arn=iam.managed(partition, iam.APPRUNNER_ECR),
            opts=child,
        )
        self.instance_role = _role(
            f"{name}-instance-role",
            "tasks.apprunner.amazonaws.com",
            f"{cfg.prefix}: the API's own permissions (and its runtime secrets)",
            self,
        )
        labels = api_secret_labels(cfg)
        secret_arns = [secrets.arn(label) for label in labels.values()]
        instance_policy = aws.iam.RolePolicy(
            f"{name}-instance-policy",
            role=self.instance_role.id,
            policy=pulumi.Output.all(
                storage.arn, slack_function.arn, secrets.key.arn, *secret_arns
            ).apply(
                lambda a: iam.document(
                    *api_role_statements(
                        cfg,
                        account,
                        partition,
                        bucket_arn=a[0],
                        slack_arn=a[1],
                        secret_arns=list(a[3:]),
                        kms_key_arn=a[2],
                    )
                )
            ),
            opts=child,
        )
        connector = aws.apprunner.VpcConnector(
            f"{name}-connector",
            vpc_connector_name=f"{cfg.prefix}-api"[:40],
            subnets=network.private_subnet_ids,
            security_groups=[network.service_sg.id],
            opts=child,
        )
        autoscaling = aws.apprunner.AutoScalingConfigurationVersion(
            f"{name}-autoscaling",
            auto_scaling_configuration_name=f"{cfg.prefix}-api"[:32],
            min_size=cfg.service.min_instances,
            max_size=cfg.service.max_instances,
            max_concurrency=cfg.service.max_concurrency,
            opts=child,
        )
        env = api_environment(
            cfg,
            database,
            storage,
            slack_function.name,
            trusted_proxy_hops=APPRUNNER_PROXY_HOPS,
        )
        self.service = aws.apprunner.Service(
            name,
            service_name=f"{cfg.prefix}-api",
            source_configuration={
                "authentication_configuration": {"access_role_arn": access_role.arn},
                "auto_deployments_enabled": False,
                "image_repository": {
                    "image_identifier": image_uri,
                    "image_repository_type": "ECR",
                    "image_configuration": {
                        "port": str(PORT),
                        "runtime_environment_variables": env,
                        "runtime_environment_secrets": {
                            var: secrets.arn(label) for var, label in labels.items()
                        },
                    },
                },
            },
            instance_configuration={
                "cpu": str(cfg.service.cpu),
                "memory": str(cfg.service.memory),
                "instance_role_arn": self.instance_role.arn,
            },
            health_check_configuration={
                "protocol": "HTTP",
                "path": HEALTH_PATH,
                "interval": 10,
                "timeout": 5,
                "healthy_threshold": 1,
                "unhealthy_threshold": 5,
            },
            network_configuration={
                "egress_configuration": {
                    "egress_type": "VPC",
                    "vpc_connector_arn": connector.arn,
                },
                "ingress_configuration": {"is_publicly_accessible": True},
                "ip_address_type": "IPV4",
            },
            # No X-Ray tracing: the app is not instrumented for it (no SDK, no daemon).
            observability_configuration={"observability_enabled": False},
            auto_scaling_configuration_arn=autoscaling.arn,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[migration, access, instance_policy]
            ),
        )
        self.url = self.service.service_url.apply(lambda u: f"https://{u}")
        self.validation_records = None
        if cfg.domain is not None:
            association = aws.apprunner.CustomDomainAssociation(
                f"{name}-domain",
                domain_name=cfg.domain.name,
                service_arn=self.service.arn,
                enable_www_subdomain=False,
                opts=child,
            )
            self.validation_records = association.certificate_validation_records
            if cfg.domain.hosted_zone_id:
                aws.route53.Record(
                    f"{name}-domain-cname",
                    zone_id=cfg.domain.hosted_zone_id,
                    name=cfg.domain.name,
                    type="CNAME",
                    ttl=300,
                    records=[association.dns_target],
                    opts=child,
                )
        if cfg.waf.enabled:
            acl = _rate_limited_acl(f"{name}-waf", cfg, "REGIONAL", child)
            aws.wafv2.WebAclAssociation(
                f"{name}-waf-association",
                resource_arn=self.service.arn,
                web_acl_arn=acl.arn,
                opts=child,
            )
        self.service_name = self.service.service_name
        self.service_id = self.service.service_id
        self.register_outputs({"url": self.url, "serviceArn": self.service.arn})


class EcsService(pulumi.ComponentResource):
    """ECS on Fargate behind an internal Application Load Balancer, reached only through
    CloudFront (a VPC origin) and its optional web ACL.

    The tasks and the load balancer sit in the private subnets and have no public address: the
    tasks reach ECR, Secrets Manager, CloudWatch Logs and the email provider through the NAT
    gateway (or the interface endpoints). The load balancer admits HTTP from inside the VPC only,
    where CloudFront's VPC origin connects, and forwards a request to the tasks only when it
    carries the origin header CloudFront adds; everything else gets 403. Why not ECS Express Mode:
    docs/architecture.md, "ECS: why a plain Fargate service".
    """

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        account: str,
        partition: str,
        image_uri: pulumi.Output[str],
        network: Network,
        secrets: Secrets,
        database: Database,
        storage: Storage,
        slack_function: aws.lambda_.Function,
        migration: aws.lambda_.Invocation,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(ECS_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = api_secret_labels(cfg)
        secret_arns = [secrets.arn(label) for label in labels.values()]

        self.execution_role = _role(
            f"{name}-execution-role",
            "ecs-tasks.amazonaws.com",
            f"{cfg.prefix}: pulls the image, writes logs, resolves the API's secrets",
            self,
        )
        exec_managed = aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed",
            role=self.execution_role.name,
            policy_arn=iam.managed(partition, iam.ECS_TASK_EXECUTION),
            opts=child,
        )
        exec_secrets = aws.iam.RolePolicy(
            f"{name}-execution-secrets",
            role=self.execution_role.id,
            policy=pulumi.Output.all(secrets.key.arn, *secret_arns).apply(
                lambda a: iam.document(
                    iam.statement("OwnSecretsOnly", ["secretsmanager:GetSecretValue"], list(a[1:])),
                    iam.statement("DecryptOwnSecrets", ["kms:Decrypt"], [a[0]]),
                )
            ),
            opts=child,
        )
        self.task_role = _role(
            f"{name}-task-role",
            "ecs-tasks.amazonaws.com",
            f"{cfg.prefix}: the API's own permissions",
            self,
        )
        task_policy = aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=self.task_role.id,
            policy=pulumi.Output.all(storage.arn, slack_function.arn).apply(
                lambda a: iam.document(
                    *api_role_statements(
                        cfg,
                        account,
                        partition,
                        bucket_arn=a[0],
                        slack_arn=a[1],
                        secret_arns=None,
                        kms_key_arn=None,
                    )
                )
            ),
            opts=child,
        )
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=cfg.prefix,
            settings=[{"name": "containerInsights", "value": "enabled"}],
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/ecs/{cfg.prefix}-api",
            retention_in_days=cfg.log_retention_days,
            opts=child,
        )

        # ----- the internal load balancer: 403 unless CloudFront's origin header is present -----
        origin_secret = random.RandomPassword(
            f"{name}-origin-header-value", length=48, special=False, opts=child
        )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=f"{cfg.prefix}-api"[:32],
            internal=True,
            load_balancer_type="application",
            subnets=network.private_subnet_ids,
            security_groups=[network.compute_groups["alb"].id],
            drop_invalid_header_fields=True,
            idle_timeout=60,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-targets",
            name=f"{cfg.prefix}-api"[:32],
            port=PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=network.vpc.id,
            deregistration_delay=30,
            health_check={
                "enabled": True,
                "path": HEALTH_PATH,
                "protocol": "HTTP",
                "matcher": "200",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            opts=child,
        )
        self.listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=ALB_PORT,
            protocol="HTTP",
            default_actions=[
                {
                    "type": "fixed-response",
                    "fixed_response": {
                        "content_type": "application/json",
                        "status_code": "403",
                        "message_body": FORBIDDEN_BODY,
                    },
                }
            ],
            opts=child,
        )
        self.origin_rule = aws.lb.ListenerRule(
            f"{name}-from-cloudfront",
            listener_arn=self.listener.arn,
            priority=1,
            conditions=[
                {
                    "http_header": {
                        "http_header_name": ORIGIN_HEADER,
                        "values": [origin_secret.result],
                    }
                }
            ],
            actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            opts=child,
        )

        # ----- CloudFront in front: the only way in -----
        self.distribution = self._edge(name, cfg, origin_secret.result)
        api_url = (
            pulumi.Output.from_input(cfg.api_url)
            if cfg.api_url
            else self.distribution.domain_name.apply(lambda d: f"https://{d}")
        )
        env = api_environment(
            cfg,
            database,
            storage,
            slack_function.name,
            trusted_proxy_hops=ECS_PROXY_HOPS,
            api_url=api_url,
        )
        env["PORT"] = str(PORT)
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{cfg.prefix}-api",
            cpu=str(cfg.service.cpu),
            memory=str(cfg.service.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.all(
                image_uri,
                log_group.name,
                pulumi.Output.all(**env),
                pulumi.Output.all(**{var: secrets.arn(label) for var, label in labels.items()}),
            ).apply(
                lambda a: container_definitions(
                    image=a[0], log_group=a[1], region=cfg.region, env=a[2], secrets=a[3]
                )
            ),
            opts=child,
        )
        self.service = aws.ecs.Service(
            name,
            name=f"{cfg.prefix}-api",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=cfg.service.min_instances,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration={
                "subnets": network.private_subnet_ids,
                "security_groups": [network.service_sg.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": self.target_group.arn,
                    "container_name": CONTAINER,
                    "container_port": PORT,
                }
            ],
            health_check_grace_period_seconds=60,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    migration,
                    exec_managed,
                    exec_secrets,
                    task_policy,
                    self.origin_rule,
                ],
                # Application Auto Scaling owns the running count once the service exists.
                ignore_changes=["desiredCount"],
            ),
        )
        scaling = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.all(self.cluster.name, self.service.name).apply(
                lambda a: f"service/{a[0]}/{a[1]}"
            ),
            min_capacity=cfg.service.min_instances,
            max_capacity=cfg.service.max_instances,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-requests-per-task",
            name=f"{cfg.prefix}-api-requests-per-task",
            policy_type="TargetTrackingScaling",
            service_namespace=scaling.service_namespace,
            scalable_dimension=scaling.scalable_dimension,
            resource_id=scaling.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": pulumi.Output.all(
                        self.load_balancer.arn_suffix, self.target_group.arn_suffix
                    ).apply(lambda a: f"{a[0]}/{a[1]}"),
                },
                # Requests per task per minute: max_concurrency requests in flight, ~1 s each.
                "target_value": cfg.service.max_concurrency * 60,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=child,
        )
        self.url = pulumi.Output.from_input(cfg.api_url) if cfg.api_url else api_url
        self.service_name = self.service.name
        self.register_outputs({"url": self.url, "serviceArn": self.service.arn})

    def _edge(
        self, name: str, cfg: StackConfig, origin_secret: pulumi.Output[str]
    ) -> aws.cloudfront.Distribution:
        """CloudFront, the only way to the load balancer: a VPC origin to the internal load
        balancer, the origin header, the optional web ACL, and the certificate the configuration
        names (config.py refused any other)."""
        child = pulumi.ResourceOptions(parent=self)
        us_east_1 = providers.us_east_1(f"{name}-us-east-1", parent=self)
        edge = pulumi.ResourceOptions(parent=self, provider=us_east_1)
        vpc_origin = aws.cloudfront.VpcOrigin(
            f"{name}-vpc-origin",
            vpc_origin_endpoint_config={
                "name": f"{cfg.prefix}-api",
                "arn": self.load_balancer.arn,
                "http_port": ALB_PORT,
                "https_port": 443,
                # Inside the VPC, over AWS's network; the viewer side is HTTPS only.
                "origin_protocol_policy": "http-only",
                "origin_ssl_protocols": {"items": ["TLSv1.2"], "quantity": 1},
            },
            opts=child,
        )
        aliases = None
        viewer_certificate: aws.cloudfront.DistributionViewerCertificateArgsDict = {
            "cloudfront_default_certificate": True
        }
        if cfg.domain is not None:
            aliases = [cfg.domain.name]
            viewer_certificate = {
                "acm_certificate_arn": cfg.domain.certificate_arn
                or self._validated_certificate(name, cfg, edge),
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": "TLSv1.2_2021",
            }
        web_acl_id = None
        if cfg.waf.enabled:
            web_acl_id = _rate_limited_acl(f"{name}-waf", cfg, "CLOUDFRONT", edge).arn
        origin: aws.cloudfront.DistributionOriginArgsDict = {
            "origin_id": "alb",
            "domain_name": self.load_balancer.dns_name,
            "vpc_origin_config": {
                "vpc_origin_id": vpc_origin.id,
                "origin_read_timeout": 30,
                "origin_keepalive_timeout": 5,
            },
            "custom_headers": [{"name": ORIGIN_HEADER, "value": origin_secret}],
        }
        default_cache_behavior: aws.cloudfront.DistributionDefaultCacheBehaviorArgsDict = {
            "target_origin_id": "alb",
            "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            "cached_methods": ["GET", "HEAD"],
            "cache_policy_id": CACHING_DISABLED,
            "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST,
            "compress": True,
        }
        restrictions: aws.cloudfront.DistributionRestrictionsArgsDict = {
            "geo_restriction": {"restriction_type": "none"}
        }
        distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{cfg.prefix}: the API",
            aliases=aliases,
            price_class="PriceClass_100",
            http_version="http2and3",
            origins=[origin],
            default_cache_behavior=default_cache_behavior,
            restrictions=restrictions,
            viewer_certificate=viewer_certificate,
            web_acl_id=web_acl_id,
            opts=child,
        )
        if cfg.domain is not None and cfg.domain.hosted_zone_id:
            aws.route53.Record(
                f"{name}-domain-alias",
                zone_id=cfg.domain.hosted_zone_id,
                name=cfg.domain.name,
                type="A",
                aliases=[
                    {
                        "name": distribution.domain_name,
                        "zone_id": CLOUDFRONT_ZONE_ID,
                        "evaluate_target_health": False,
                    }
                ],
                opts=child,
            )
        return distribution

    def _validated_certificate(
        self, name: str, cfg: StackConfig, edge: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        """A us-east-1 certificate validated by DNS in the configured Route 53 zone; CloudFront
        gets its ARN only once it is issued."""
        assert cfg.domain is not None and cfg.domain.hosted_zone_id
        cert = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=cfg.domain.name,
            validation_method="DNS",
            opts=edge,
        )
        option = cert.domain_validation_options.apply(lambda o: o[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=cfg.domain.hosted_zone_id,
            name=option.apply(lambda o: _get(o, "resource_record_name")),
            type=option.apply(lambda o: _get(o, "resource_record_type")),
            records=[option.apply(lambda o: _get(o, "resource_record_value"))],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=cert.arn,
            validation_record_fqdns=[record.fqdn],
            opts=edge,
        )
        return validation.certificate_arn


def container_definitions(
    *, image: str, log_group: str, region: str, env: dict, secrets: dict
) -> str:
    """The task's one container: the image, its port, plain settings, secrets as Secrets Manager
    references (resolved by the execution role at start), logs to the service's log group."""
    return json.dumps(
        [
            {
                "name": CONTAINER,
                "image": image,
                "essential": True,
                "portMappings": [{"containerPort": PORT, "protocol": "tcp"}],
                "environment": [{"name": k, "value": str(v)} for k, v in sorted(env.items())],
                "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": CONTAINER,
                    },
                },
                "stopTimeout": 30,
            }
        ],
        sort_keys=True,
    )


def _get(o: object, key: str) -> str:
    """A field of a pulumi-aws output object, which the mocks hand over as a dict."""
    return str(o[key] if isinstance(o, dict) else getattr(o, key))

"""The API service: App Runner (``AppRunnerService``) or ECS Express Mode (``ExpressService``).

Both receive the app role's credentials only (never the migrator's or the jobs role's), as Secrets
Manager references, and both wait for the db-admin invocation so no new code runs before its schema.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws

from .. import iam, mail
from ..config import StackConfig
from .database import DB_USERS, Database
from .network import Network
from .secrets import Secrets
from .storage import Storage

APPRUNNER_TYPE = "jobapptracker:service:AppRunnerService"
EXPRESS_TYPE = "jobapptracker:service:ExpressService"
PORT = 8000
HEALTH_PATH = "/health"
# CloudFront's managed policies (documented IDs): no caching; forward everything but Host.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"


def api_secret_labels(cfg: StackConfig) -> dict[str, str]:
    """Environment variable -> secret label: the API's own secrets, nothing else."""
    labels = {"DB_APP_PASSWORD": "db-app-password", "JWT_SECRET": "jwt-secret"}
    labels.update(mail.secret_labels(cfg))
    return labels


def api_environment(
    cfg: StackConfig,
    database: Database,
    storage: Storage,
    slack_function_name: pulumi.Input[str],
    trusted_proxy_hops: int,
) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = {
        "APP_ENV": "production",
        "LOG_LEVEL": "INFO",
        "AWS_REGION": cfg.region,
        "WEB_CONCURRENCY": str(cfg.service.workers),
        "GUNICORN_THREADS": str(cfg.service.threads),
        "DB_HOST": database.address,
        "DB_PORT": database.port.apply(str),
        "DB_NAME": cfg.database.name,
        "DB_SSLMODE": "verify-full",
        "DB_APP_USER": DB_USERS["app"],
        "FRONTEND_URL": cfg.frontend_url,
        "API_URL": cfg.api_url,
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
    sts += mail.send_statements(cfg, account)
    return sts


def _role(name: str, service: str, description: str, parent) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        description=description,
        assume_role_policy=iam.assume_role(service),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _rate_limited_acl(name, cfg: StackConfig, scope: str, opts) -> aws.wafv2.WebAcl:
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
            f"{name}-ecr-access", role=access_role.name, policy_arn=iam.APPRUNNER_ECR, opts=child
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
        observability = aws.apprunner.ObservabilityConfiguration(
            f"{name}-observability",
            observability_configuration_name=f"{cfg.prefix}-api"[:32],
            trace_configuration={"vendor": "AWSXRAY"},
            opts=child,
        )
        env = api_environment(cfg, database, storage, slack_function.name, trusted_proxy_hops=1)
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
            observability_configuration={
                "observability_enabled": True,
                "observability_configuration_arn": observability.arn,
            },
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


class ExpressService(pulumi.ComponentResource):
    """ECS Express Mode. Express Mode takes one list of subnets and derives the load balancer's
    scheme from it: public subnets give an internet-facing load balancer, and the tasks then run in
    those public subnets too. Their security group has no ingress rule of ours; Express Mode adds
    the one that admits its load balancer, so nothing else reaches the tasks (docs/architecture.md).
    """

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        account: str,
        image_uri: pulumi.Output[str],
        network: Network,
        secrets: Secrets,
        database: Database,
        storage: Storage,
        slack_function: aws.lambda_.Function,
        migration: aws.lambda_.Invocation,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(EXPRESS_TYPE, name, None, opts)
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
            policy_arn=iam.ECS_TASK_EXECUTION,
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
        self.infrastructure_role = _role(
            f"{name}-infrastructure-role",
            "ecs.amazonaws.com",
            f"{cfg.prefix}: Express Mode manages the load balancer and scaling",
            self,
        )
        infra_managed = aws.iam.RolePolicyAttachment(
            f"{name}-infrastructure-managed",
            role=self.infrastructure_role.name,
            policy_arn=iam.ECS_EXPRESS_INFRASTRUCTURE,
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
                        bucket_arn=a[0],
                        slack_arn=a[1],
                        secret_arns=None,
                        kms_key_arn=None,
                    )
                )
            ),
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=f"{cfg.prefix}",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/ecs/{cfg.prefix}-api",
            retention_in_days=cfg.log_retention_days,
            opts=child,
        )
        hops = 2 if cfg.domain is not None else 1  # CloudFront + the load balancer
        env = api_environment(cfg, database, storage, slack_function.name, trusted_proxy_hops=hops)
        env["PORT"] = str(PORT)
        self.service = aws.ecs.ExpressGatewayService(
            name,
            service_name=f"{cfg.prefix}-api",
            cluster=cluster.name,
            execution_role_arn=self.execution_role.arn,
            infrastructure_role_arn=self.infrastructure_role.arn,
            task_role_arn=self.task_role.arn,
            cpu=str(cfg.service.cpu),
            memory=str(cfg.service.memory),
            health_check_path=HEALTH_PATH,
            network_configurations=[
                {
                    "subnets": network.public_subnet_ids,
                    "security_groups": [network.service_sg.id],
                }
            ],
            primary_container={
                "image": image_uri,
                "container_port": PORT,
                "environments": [{"name": k, "value": v} for k, v in sorted(env.items())],
                "secrets": [
                    {"name": var, "value_from": secrets.arn(label)} for var, label in labels.items()
                ],
                "aws_logs_configurations": [
                    {"log_group": log_group.name, "log_stream_prefix": "api"}
                ],
            },
            scaling_targets=[
                {
                    "auto_scaling_metric": "REQUEST_COUNT_PER_TARGET",
                    "auto_scaling_target_value": cfg.service.max_concurrency * 10,
                    "min_task_count": cfg.service.min_instances,
                    "max_task_count": cfg.service.max_instances,
                }
            ],
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[migration, exec_managed, exec_secrets, infra_managed, task_policy],
            ),
        )
        self.endpoint = self.service.ingress_paths.apply(
            lambda paths: _endpoint(paths[0]) if paths else ""
        )
        self.url = self.endpoint.apply(lambda e: f"https://{e}" if e else "")
        self.validation_records = None
        self.distribution = None
        if cfg.domain is not None:
            self._custom_domain(name, cfg)
        self.service_name = self.service.service_name
        self.register_outputs({"url": self.url, "serviceArn": self.service.service_arn})

    def _custom_domain(self, name: str, cfg: StackConfig) -> None:
        """CloudFront in front of the Express endpoint carries the custom domain, so the API can
        live on the frontend's site (first-party cookies). Its certificate must be in us-east-1."""
        assert cfg.domain is not None
        us_east_1 = aws.Provider(
            f"{name}-us-east-1", region="us-east-1", opts=pulumi.ResourceOptions(parent=self)
        )
        edge = pulumi.ResourceOptions(parent=self, provider=us_east_1)
        cert = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=cfg.domain.name,
            validation_method="DNS",
            opts=edge,
        )
        self.validation_records = cert.domain_validation_options
        cert_arn: pulumi.Output[str] = cert.arn
        if cfg.domain.hosted_zone_id:
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
            cert_arn = validation.certificate_arn
        web_acl_id = None
        if cfg.waf.enabled:
            web_acl_id = _rate_limited_acl(f"{name}-waf", cfg, "CLOUDFRONT", edge).arn
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{cfg.prefix}: custom domain for the API",
            aliases=[cfg.domain.name],
            price_class="PriceClass_100",
            http_version="http2and3",
            origins=[
                {
                    "origin_id": "express",
                    "domain_name": self.endpoint,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "https-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                    },
                }
            ],
            default_cache_behavior={
                "target_origin_id": "express",
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_DISABLED,
                "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST,
                "compress": True,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={
                "acm_certificate_arn": cert_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": "TLSv1.2_2021",
            },
            web_acl_id=web_acl_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if cfg.domain.hosted_zone_id:
            aws.route53.Record(
                f"{name}-domain-alias",
                zone_id=cfg.domain.hosted_zone_id,
                name=cfg.domain.name,
                type="A",
                aliases=[
                    {
                        "name": self.distribution.domain_name,
                        "zone_id": CLOUDFRONT_ZONE_ID,
                        "evaluate_target_health": False,
                    }
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )


def _get(o, key: str):
    return o[key] if isinstance(o, dict) else getattr(o, key)


def _endpoint(path) -> str:
    endpoint = _get(path, "endpoint") or ""
    return urlparse(endpoint).netloc or endpoint

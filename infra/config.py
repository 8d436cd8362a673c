"""The stack's configuration, read once into a typed, validated object.

Nothing in the program branches on a stack's name: every difference between dev, prod and ecs
is a value here. ``load()`` reads Pulumi config (``jobapptracker:*`` and ``aws:region``);
``from_mapping`` builds the same object from a plain dict, which the tests use to try
configurations that no stack file holds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi

from app.core.settings import MAX_PRODUCTION_UPLOAD_BYTES
from app.core.sites import same_site

PROJECT = "jobapptracker"

COMPUTE_MODES = ("apprunner", "ecs")
ENVIRONMENTS = ("dev", "prod")
EGRESS_MODES = ("nat", "endpoints")
NAT_LAYOUTS = ("single", "perAz")
EMAIL_PROVIDERS = ("resend", "ses", "gmail")
# The CPU units and memory sizes (MiB) each compute accepts, per CPU size.
# App Runner: https://docs.aws.amazon.com/apprunner/latest/api/API_InstanceConfiguration.html
# Fargate: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
CPU_MEMORY_MIB = {
    "apprunner": {
        256: (512, 1024),
        512: (1024,),
        1024: (2048, 3072, 4096),
        2048: (4096, 6144),
        4096: (8192, 10240, 12288),
    },
    "ecs": {
        256: (512, 1024, 2048),
        512: tuple(range(1024, 4096 + 1, 1024)),
        1024: tuple(range(2048, 8192 + 1, 1024)),
        2048: tuple(range(4096, 16384 + 1, 1024)),
        4096: tuple(range(8192, 30720 + 1, 1024)),
    },
}
# ACM certificates CloudFront can use live in us-east-1.
US_EAST_1_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]+$")

_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:policy/[\w+=,.@/-]+$")


class ConfigError(ValueError):
    """The stack configuration is invalid; ``problems`` lists every problem at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class NetworkConfig:
    cidr: str = "10.40.0.0/16"
    az_count: int = 2
    egress: str = "nat"
    nat_gateways: str = "single"


@dataclass(frozen=True)
class ServiceConfig:
    cpu: int = 1024
    memory: int = 2048
    min_instances: int = 1
    max_instances: int = 2
    max_concurrency: int = 40
    workers: int = 2
    threads: int = 4


@dataclass(frozen=True)
class DatabaseConfig:
    instance_class: str = "db.t4g.micro"
    allocated_storage: int = 20
    max_allocated_storage: int = 50
    multi_az: bool = False
    deletion_protection: bool = False
    backup_retention_days: int = 7
    final_snapshot: bool = False
    engine_version: str = "18"
    name: str = "jobapptracker"


@dataclass(frozen=True)
class DomainConfig:
    name: str
    hosted_zone_id: str | None = None
    # An issued ACM certificate in us-east-1 for ``name`` (ECS: CloudFront serves the domain).
    certificate_arn: str | None = None


@dataclass(frozen=True)
class EmailConfig:
    provider: str = "resend"
    from_email: str | None = None
    gmail_user: str | None = None


@dataclass(frozen=True)
class AlarmsConfig:
    enabled: bool = True
    email: str | None = None


@dataclass(frozen=True)
class WafConfig:
    enabled: bool = False
    rate_limit: int = 1000


@dataclass(frozen=True)
class RegistryConfig:
    keep_tagged_images: int = 20
    untagged_expiry_days: int = 7


@dataclass(frozen=True)
class UploadsConfig:
    max_bytes: int = 10 * 1024 * 1024
    noncurrent_version_days: int = 30
    abort_multipart_days: int = 1
    access_log_days: int = 90


@dataclass(frozen=True)
class StackConfig:
    stack: str
    region: str
    environment: str
    owner: str
    compute: str
    frontend_url: str
    domain: DomainConfig | None
    api_url_override: str | None
    email: EmailConfig
    network: NetworkConfig
    service: ServiceConfig
    database: DatabaseConfig
    alarms: AlarmsConfig
    waf: WafConfig
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    uploads: UploadsConfig = field(default_factory=UploadsConfig)
    maintenance_schedule: str = "cron(17 3 * * ? *)"
    log_retention_days: int = 30
    image_tag: str | None = None
    # PASSWORD_MAX_AGE_DAYS for the API and the maintenance Lambda; None leaves the app's default.
    password_max_age_days: int | None = None
    # RATE_LIMITER_FAIL_CLOSED and EMAIL_VERIFICATION_ENABLED: every stack states both.
    rate_limiter_fail_closed: bool = True
    email_verification_enabled: bool = True
    # ARN of the managed policy every role the program creates carries as its permissions
    # boundary (infra/ci_access creates it; the CI deploy roles may create roles only with it).
    permissions_boundary_arn: str | None = None
    # Reserved concurrency for db-admin: an explicit opt-in. Unset by default because a new
    # account's concurrency quota is 10 and Lambda keeps 10 unreserved, so any reservation there
    # fails; migrations are serialised by the database's advisory lock, not by this.
    db_admin_reserved_concurrency: int | None = None

    @property
    def prefix(self) -> str:
        """Prefix of physical names: jobapptracker-<stack>."""
        return f"{PROJECT}-{self.stack}"

    @property
    def api_url(self) -> str:
        if self.domain is not None:
            return f"https://{self.domain.name}"
        return self.api_url_override or ""

    @property
    def same_site(self) -> bool:
        """True when the API and the frontend share a registrable site (first-party cookies)."""
        return same_site(self.api_url, self.frontend_url)

    @property
    def refresh_cookie_samesite(self) -> str:
        # Lax works only on one site; across sites the documented fallback is None + CSRF.
        return "Lax" if self.same_site else "None"

    @property
    def deployed(self) -> bool:
        """True when an image tag is set: the Lambdas and the service exist."""
        return bool(self.image_tag)

    @property
    def tags(self) -> dict[str, str]:
        return {"project": PROJECT, "stack": self.stack, "owner": self.owner}

    def with_image(self, tag: str | None) -> StackConfig:
        return replace(self, image_tag=tag)


# ----- egress: which dependency has a VPC endpoint --------------------------------------------


@dataclass(frozen=True)
class EgressDependency:
    name: str
    used_by: str
    endpoint: str | None  # interface/gateway endpoint service suffix, or None when AWS has none
    reference: str


EMAIL_USERS = "API, maintenance Lambda (email)"


def egress_dependencies(cfg: StackConfig) -> list[EgressDependency]:
    """Everything the private subnets must reach for this configuration, and whether AWS offers a
    VPC endpoint for it (checked against AWS's documentation, referenced per entry)."""
    privatelink = (
        "https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html"
    )
    deps = [
        EgressDependency(
            "Amazon S3 (uploads bucket)",
            "API, scan-result Lambda",
            "s3",
            "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html",
        ),
        EgressDependency(
            "AWS Secrets Manager",
            "Lambdas at cold start" + (", ECS task start" if cfg.compute == "ecs" else ""),
            "secretsmanager",
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/vpc-endpoint-overview.html",
        ),
        EgressDependency(
            "AWS Lambda (invoke slack-notify)",
            "API, scan-result Lambda",
            "lambda",
            "https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-endpoints.html",
        ),
    ]
    if cfg.compute == "ecs":
        deps += [
            EgressDependency("Amazon ECR API", "ECS image pulls", "ecr.api", privatelink),
            EgressDependency("Amazon ECR registry", "ECS image pulls", "ecr.dkr", privatelink),
            EgressDependency(
                "Amazon CloudWatch Logs",
                "ECS awslogs driver",
                "logs",
                "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch-logs-and-interface-VPC.html",
            ),
        ]
    provider = cfg.email.provider
    if provider == "resend":
        deps.append(
            EgressDependency(
                "Resend API (api.resend.com)",
                EMAIL_USERS,
                None,
                "Resend is a third-party HTTPS API outside AWS; no VPC endpoint exists",
            )
        )
    elif provider == "ses":
        deps.append(
            EgressDependency(
                "Amazon SES API (email.<region>.amazonaws.com)",
                EMAIL_USERS,
                None,
                "SES offers a VPC endpoint for SMTP only (email-smtp), not for the SES API the "
                "app calls: https://docs.aws.amazon.com/ses/latest/dg/send-email-set-up-vpc-endpoints.html",
            )
        )
    elif provider == "gmail":
        deps.append(
            EgressDependency(
                "Gmail SMTP (smtp.gmail.com:465)",
                EMAIL_USERS,
                None,
                "Gmail is outside AWS; no VPC endpoint exists",
            )
        )
    return deps


def endpoint_gaps(cfg: StackConfig) -> list[EgressDependency]:
    return [d for d in egress_dependencies(cfg) if d.endpoint is None]


# ----- reading ---------------------------------------------------------------------------------


def _camel(d: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(d or {})


def from_mapping(
    values: Mapping[str, Any], *, stack: str, region: str, image_tag: str | None = None
) -> StackConfig:
    """Build and validate the typed config from ``{key: value}`` (keys without the project
    namespace, objects as dicts)."""
    problems: list[str] = []

    def obj(key: str) -> dict[str, Any]:
        v = values.get(key)
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            problems.append(f"{PROJECT}:{key} must be an object")
            return {}
        return _camel(v)

    def choice(value: Any, allowed: tuple, key: str) -> Any:
        if value not in allowed:
            problems.append(f"{key} must be one of {', '.join(map(str, allowed))} (got {value!r})")
        return value

    def integer(
        d: Mapping, key: str, default: int, where: str, minimum: int = 0, maximum: int | None = None
    ) -> int:
        v = d.get(key, default)
        try:
            n = int(v)
        except (TypeError, ValueError):
            problems.append(f"{where}.{key} must be an integer (got {v!r})")
            return default
        if n < minimum:
            problems.append(f"{where}.{key} must be at least {minimum} (got {n})")
        if maximum is not None and n > maximum:
            problems.append(f"{where}.{key} must be at most {maximum} (got {n})")
        return n

    def boolean(d: Mapping, key: str, default: bool, where: str) -> bool:
        v = d.get(key, default)
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        problems.append(f"{where}.{key} must be true or false (got {v!r})")
        return default

    environment = choice(values.get("environment"), ENVIRONMENTS, f"{PROJECT}:environment")
    owner = values.get("owner") or ""
    if not owner:
        problems.append(f"{PROJECT}:owner is required (the owner tag on every resource)")
    # ECS by default: App Runner stopped taking new customers on 2026-04-30, so a stack that does
    # not name its compute gets the one every account can use.
    compute = choice(values.get("compute", "ecs"), COMPUTE_MODES, f"{PROJECT}:compute")
    frontend_url = values.get("frontendUrl") or ""
    if not str(frontend_url).startswith("https://"):
        problems.append(f"{PROJECT}:frontendUrl must be an https:// URL (got {frontend_url!r})")

    d = obj("domain")
    domain = None
    if d:
        if not d.get("name"):
            problems.append(f"{PROJECT}:domain.name is required when domain is set")
        else:
            domain = DomainConfig(
                name=str(d["name"]),
                hosted_zone_id=d.get("hostedZoneId"),
                certificate_arn=d.get("certificateArn"),
            )
    api_url = values.get("apiUrl")
    if domain is not None and compute == "ecs":
        problems.extend(_edge_certificate_problems(domain))
    if domain is None and not api_url and compute != "ecs":
        problems.append(
            f"set {PROJECT}:domain.name (the API's custom domain, on the frontend's site so the "
            f"refresh cookie stays first-party) or {PROJECT}:apiUrl (the public URL of the API "
            "when a proxy you run in front of it serves it)"
        )
    if api_url and not str(api_url).startswith("https://"):
        problems.append(f"{PROJECT}:apiUrl must be an https:// URL (got {api_url!r})")

    e = obj("email")
    email = EmailConfig(
        provider=choice(e.get("provider", "resend"), EMAIL_PROVIDERS, f"{PROJECT}:email.provider"),
        from_email=e.get("fromEmail"),
        gmail_user=e.get("gmailUser"),
    )
    if email.provider in ("resend", "ses") and not email.from_email:
        problems.append(f"{PROJECT}:email.fromEmail is required for provider {email.provider}")
    if email.provider == "gmail" and not email.gmail_user:
        problems.append(f"{PROJECT}:email.gmailUser is required for provider gmail")

    n = obj("network")
    network = NetworkConfig(
        cidr=str(n.get("cidr", "10.40.0.0/16")),
        az_count=integer(n, "azCount", 2, f"{PROJECT}:network", minimum=2),
        egress=choice(n.get("egress", "nat"), EGRESS_MODES, f"{PROJECT}:network.egress"),
        nat_gateways=choice(
            n.get("natGateways", "single"), NAT_LAYOUTS, f"{PROJECT}:network.natGateways"
        ),
    )
    try:
        net = ipaddress.ip_network(network.cidr)
        if net.prefixlen > 20:
            problems.append(f"{PROJECT}:network.cidr must be /20 or larger (got {network.cidr})")
    except ValueError:
        problems.append(f"{PROJECT}:network.cidr is not a CIDR block (got {network.cidr!r})")
    if network.az_count > 3:
        problems.append(f"{PROJECT}:network.azCount must be 2 or 3 (got {network.az_count})")

    s = obj("service")
    service = ServiceConfig(
        cpu=integer(s, "cpu", 1024, f"{PROJECT}:service"),
        memory=integer(s, "memory", 2048, f"{PROJECT}:service"),
        min_instances=integer(s, "minInstances", 1, f"{PROJECT}:service", minimum=1),
        max_instances=integer(s, "maxInstances", 2, f"{PROJECT}:service", minimum=1),
        max_concurrency=integer(s, "maxConcurrency", 40, f"{PROJECT}:service", minimum=1),
        workers=integer(s, "workers", 2, f"{PROJECT}:service", minimum=1),
        threads=integer(s, "threads", 4, f"{PROJECT}:service", minimum=1),
    )
    sizes = CPU_MEMORY_MIB.get(compute, CPU_MEMORY_MIB["ecs"])
    if service.cpu not in sizes:
        problems.append(
            f"{PROJECT}:service.cpu must be one of {tuple(sizes)} on {compute} (got {service.cpu})"
        )
    elif service.memory not in sizes[service.cpu]:
        allowed = sizes[service.cpu]
        problems.append(
            f"{PROJECT}:service.memory with cpu {service.cpu} on {compute} must be one of "
            f"{allowed[0]}..{allowed[-1]} MiB {allowed} (got {service.memory})"
        )
    if service.max_instances < service.min_instances:
        problems.append(f"{PROJECT}:service.maxInstances must be >= minInstances")

    b = obj("database")
    database = DatabaseConfig(
        instance_class=str(b.get("instanceClass", "db.t4g.micro")),
        allocated_storage=integer(b, "allocatedStorage", 20, f"{PROJECT}:database", minimum=20),
        max_allocated_storage=integer(b, "maxAllocatedStorage", 50, f"{PROJECT}:database"),
        multi_az=boolean(b, "multiAz", False, f"{PROJECT}:database"),
        deletion_protection=boolean(b, "deletionProtection", False, f"{PROJECT}:database"),
        backup_retention_days=integer(
            b, "backupRetentionDays", 7, f"{PROJECT}:database", minimum=1
        ),
        final_snapshot=boolean(b, "finalSnapshot", False, f"{PROJECT}:database"),
    )
    if not database.instance_class.startswith("db."):
        problems.append(f"{PROJECT}:database.instanceClass must start with db.")
    if database.max_allocated_storage and database.max_allocated_storage < (
        database.allocated_storage
    ):
        problems.append(f"{PROJECT}:database.maxAllocatedStorage must be >= allocatedStorage")

    a = obj("alarms")
    alarms = AlarmsConfig(
        enabled=boolean(a, "enabled", True, f"{PROJECT}:alarms"), email=a.get("email")
    )
    w = obj("waf")
    waf = WafConfig(
        enabled=boolean(w, "enabled", False, f"{PROJECT}:waf"),
        rate_limit=integer(w, "rateLimit", 1000, f"{PROJECT}:waf", minimum=10),
    )

    r = obj("registry")
    registry = RegistryConfig(
        keep_tagged_images=integer(r, "keepTaggedImages", 20, f"{PROJECT}:registry", minimum=1),
        untagged_expiry_days=integer(r, "untaggedExpiryDays", 7, f"{PROJECT}:registry", minimum=1),
    )
    u = obj("uploads")
    uploads = UploadsConfig(
        # The API refuses to start in production above this (app/core/settings.py).
        max_bytes=integer(
            u,
            "maxBytes",
            10 * 1024 * 1024,
            f"{PROJECT}:uploads",
            minimum=1,
            maximum=MAX_PRODUCTION_UPLOAD_BYTES,
        ),
        noncurrent_version_days=integer(
            u, "noncurrentVersionDays", 30, f"{PROJECT}:uploads", minimum=1
        ),
        abort_multipart_days=integer(u, "abortMultipartDays", 1, f"{PROJECT}:uploads", minimum=1),
        access_log_days=integer(u, "accessLogDays", 90, f"{PROJECT}:uploads", minimum=1),
    )

    explicit: dict[str, bool] = {}
    for key in ("rateLimiterFailClosed", "emailVerificationEnabled"):
        if values.get(key) is None:
            problems.append(
                f"{PROJECT}:{key} is required (true or false): the stack states it explicitly"
            )
        explicit[key] = boolean(values, key, True, PROJECT)

    password_max_age_days = None
    if values.get("passwordMaxAgeDays") is not None:
        password_max_age_days = integer(values, "passwordMaxAgeDays", 0, PROJECT, minimum=0)

    boundary = values.get("permissionsBoundaryArn") or None
    if boundary is not None and not _POLICY_ARN.match(str(boundary)):
        problems.append(
            f"{PROJECT}:permissionsBoundaryArn must be an IAM managed policy ARN "
            f"(arn:aws:iam::<account>:policy/<name>; got {boundary!r})"
        )

    db_admin_reserved_concurrency = None
    if values.get("dbAdminReservedConcurrency") is not None:
        db_admin_reserved_concurrency = integer(
            values, "dbAdminReservedConcurrency", 1, PROJECT, minimum=1
        )

    cfg = StackConfig(
        stack=stack,
        region=region,
        environment=environment,
        owner=str(owner),
        compute=compute,
        frontend_url=str(frontend_url),
        domain=domain,
        api_url_override=api_url,
        email=email,
        network=network,
        service=service,
        database=database,
        alarms=alarms,
        waf=waf,
        registry=registry,
        uploads=uploads,
        maintenance_schedule=str(values.get("maintenanceSchedule", "cron(17 3 * * ? *)")),
        log_retention_days=integer(values, "logRetentionDays", 30, PROJECT, minimum=1),
        image_tag=image_tag if image_tag is not None else (values.get("imageTag") or None),
        password_max_age_days=password_max_age_days,
        rate_limiter_fail_closed=explicit["rateLimiterFailClosed"],
        email_verification_enabled=explicit["emailVerificationEnabled"],
        permissions_boundary_arn=str(boundary) if boundary else None,
        db_admin_reserved_concurrency=db_admin_reserved_concurrency,
    )
    if network.egress == "endpoints" and not problems:
        gaps = endpoint_gaps(cfg)
        if gaps:
            problems.append(
                f"{PROJECT}:network.egress=endpoints is refused: "
                + "; ".join(
                    f"{g.name} (used by {g.used_by}) has no VPC endpoint: {g.reference}"
                    for g in gaps
                )
                + ". Use egress: nat."
            )
    if problems:
        raise ConfigError(problems)
    return cfg


def _edge_certificate_problems(domain: DomainConfig) -> list[str]:
    """CloudFront serves the custom domain on ECS, with an issued certificate from us-east-1."""
    if domain.certificate_arn:
        if not US_EAST_1_CERTIFICATE.match(domain.certificate_arn):
            return [
                f"{PROJECT}:domain.certificateArn must be an ACM certificate in us-east-1, where "
                f"CloudFront reads certificates (got {domain.certificate_arn!r})"
            ]
        return []
    if domain.hosted_zone_id:
        return []
    return [
        f"{PROJECT}:domain {domain.name!r} on compute ecs has no certificate CloudFront can use: "
        f"set {PROJECT}:domain.hostedZoneId (the Route 53 zone of the domain; the certificate is "
        f"then validated by DNS there), or {PROJECT}:domain.certificateArn (an issued "
        f"certificate for the domain in us-east-1), or remove {PROJECT}:domain to serve on the "
        "distribution's own *.cloudfront.net name"
    ]


def required_secret_keys(cfg: StackConfig) -> list[str]:
    """External secrets this configuration needs from `pulumi config set --secret`."""
    keys = ["slackWebhookUrl"]
    if cfg.email.provider == "resend":
        keys.append("resendApiKey")
    if cfg.email.provider == "gmail":
        keys.append("gmailAppPassword")
    return keys


KEYS = (
    "environment owner compute frontendUrl domain apiUrl email network service database alarms "
    "waf registry uploads maintenanceSchedule logRetentionDays passwordMaxAgeDays imageTag "
    "rateLimiterFailClosed emailVerificationEnabled permissionsBoundaryArn "
    "dbAdminReservedConcurrency"
).split()


def load() -> StackConfig:
    """Read the running stack's configuration (inside a Pulumi program)."""
    conf = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for key in KEYS:
        raw = conf.get(key)
        if raw is None:
            continue
        values[key] = conf.get_object(key) if raw.lstrip().startswith("{") else raw
    region = pulumi.Config("aws").require("region")
    return from_mapping(values, stack=pulumi.get_stack(), region=region)


def external_secret(key: str) -> pulumi.Output[str]:
    """An external secret from config; missing ones fail with Pulumi's own message, which names
    the `pulumi config set --secret` command to run."""
    return pulumi.Config(PROJECT).require_secret(key)

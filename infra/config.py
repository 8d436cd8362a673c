"""The stack's configuration, read once into a typed, validated object.

Nothing in the program branches on a stack's name: every difference between dev, prod and ecs
is a value here. Each setting is declared once, as a field of the pydantic models below (its
camelCase key in the stack file is the field's alias); reading, defaults, bounds and the checks
across settings all follow from that declaration. ``load()`` reads Pulumi config
(``jobapptracker:*`` and ``aws:region``); ``from_mapping`` builds the same object from a plain
dict, which the tests use to try configurations that no stack file holds. A bad configuration
raises ``ConfigError`` listing every problem at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import pulumi
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from app.core.settings import MAX_PRODUCTION_UPLOAD_BYTES
from app.core.sites import same_site

PROJECT = "jobapptracker"

Compute = Literal["apprunner", "ecs"]
Environment = Literal["dev", "prod"]
Egress = Literal["nat", "endpoints"]
NatLayout = Literal["single", "perAz"]
EmailProvider = Literal["resend", "ses", "gmail"]
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


# ----- declaration -----------------------------------------------------------------------------

# A check that finds a problem raises it with its whole text; ``_describe`` passes it on as is.
_PROBLEM = "stack_config_problem"


def _problem(text: str) -> PydanticCustomError:
    return PydanticCustomError(_PROBLEM, "{problem}", {"problem": text})


def _true_or_false(value: object) -> object:
    """YAML booleans, or the text "true"/"false" that Pulumi config hands over for a top-level
    key; nothing else (no 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PydanticCustomError("true_or_false", "must be true or false")


def _absent_if_empty(value: object) -> object:
    return None if value in (None, "", {}) else value


StackBool = Annotated[bool, BeforeValidator(_true_or_false)]


class _Section(BaseModel):
    """A ``jobapptracker:<key>`` object (or the whole stack): camelCase keys, read-only; keys it
    does not declare are ignored, as Pulumi config keys of other tools may sit beside them."""

    model_config = ConfigDict(alias_generator=to_camel, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _unset_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class NetworkConfig(_Section):
    cidr: str = "10.40.0.0/16"
    az_count: int = Field(default=2, ge=2, le=3)
    egress: Egress = "nat"
    nat_gateways: NatLayout = "single"

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, cidr: str) -> str:
        try:
            net = ipaddress.ip_network(cidr)
        except ValueError:
            raise _problem(f"{PROJECT}:network.cidr is not a CIDR block (got {cidr!r})") from None
        if net.prefixlen > 20:
            raise _problem(f"{PROJECT}:network.cidr must be /20 or larger (got {cidr})")
        return cidr


class ServiceConfig(_Section):
    cpu: int = Field(default=1024, ge=0)
    memory: int = Field(default=2048, ge=0)
    min_instances: int = Field(default=1, ge=1)
    max_instances: int = Field(default=2, ge=1)
    max_concurrency: int = Field(default=40, ge=1)
    workers: int = Field(default=2, ge=1)
    threads: int = Field(default=4, ge=1)

    @field_validator("max_instances")
    @classmethod
    def _at_least_min(cls, max_instances: int, info: ValidationInfo) -> int:
        if max_instances < info.data.get("min_instances", 1):
            raise _problem(f"{PROJECT}:service.maxInstances must be >= minInstances")
        return max_instances


class DatabaseConfig(_Section):
    # Not stack settings: the engine the migrations are written for, and the database's name.
    engine_version: ClassVar[str] = "18"
    name: ClassVar[str] = "jobapptracker"

    instance_class: str = "db.t4g.micro"
    allocated_storage: int = Field(default=20, ge=20)
    max_allocated_storage: int = Field(default=50, ge=0)
    multi_az: StackBool = False
    deletion_protection: StackBool = False
    backup_retention_days: int = Field(default=7, ge=1)
    final_snapshot: StackBool = False

    @field_validator("instance_class")
    @classmethod
    def _db_class(cls, instance_class: str) -> str:
        if not instance_class.startswith("db."):
            raise _problem(f"{PROJECT}:database.instanceClass must start with db.")
        return instance_class

    @field_validator("max_allocated_storage")
    @classmethod
    def _room_to_grow(cls, max_allocated: int, info: ValidationInfo) -> int:
        # 0 turns storage autoscaling off.
        if max_allocated and max_allocated < info.data.get("allocated_storage", 0):
            raise _problem(f"{PROJECT}:database.maxAllocatedStorage must be >= allocatedStorage")
        return max_allocated


class DomainConfig(_Section):
    name: str
    hosted_zone_id: str | None = None
    # An issued ACM certificate in us-east-1 for ``name`` (ECS: CloudFront serves the domain).
    certificate_arn: str | None = None

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name:
            raise _problem(f"{PROJECT}:domain.name is required when domain is set")
        return name


class EmailConfig(_Section):
    provider: EmailProvider = "resend"
    from_email: str | None = None
    gmail_user: str | None = None


class AlarmsConfig(_Section):
    enabled: StackBool = True
    email: str | None = None
    # Thresholds of the alarms on the application's own metrics (infra/metrics.py), each over
    # five minutes: refresh tokens replayed, failed sign-ins, the outbox's oldest email's age.
    refresh_token_reuse: int = Field(default=3, ge=0)
    failed_logins: int = Field(default=50, ge=0)
    outbox_oldest_seconds: int = Field(default=900, ge=60)


class WafConfig(_Section):
    enabled: StackBool = False
    rate_limit: int = Field(default=1000, ge=10)


class RegistryConfig(_Section):
    keep_tagged_images: int = Field(default=20, ge=1)
    untagged_expiry_days: int = Field(default=7, ge=1)


class UploadsConfig(_Section):
    # The API refuses to start in production above MAX_PRODUCTION_UPLOAD_BYTES
    # (app/core/settings.py): refuse it here, at plan time, too.
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=MAX_PRODUCTION_UPLOAD_BYTES)
    noncurrent_version_days: int = Field(default=30, ge=1)
    abort_multipart_days: int = Field(default=1, ge=1)
    access_log_days: int = Field(default=90, ge=1)


class MfaEncryptionKeyConfig(_Section):
    """Which generations of the key that encrypts second-factor secrets the API holds: ``current``
    (MFA_ENCRYPTION_KEY, new ciphertexts) and, during a rotation only, ``previous``
    (MFA_PREVIOUS_ENCRYPTION_KEY, still opens what it sealed). Each generation is a generated
    secret of its own; a generation named by neither is deleted (docs/operations.md, "Rotating the
    second-factor encryption key")."""

    current: int = Field(default=1, ge=1)
    previous: int | None = Field(default=None, ge=1)

    @field_validator("previous")
    @classmethod
    def _another_generation(cls, previous: int | None, info: ValidationInfo) -> int | None:
        if previous is not None and previous == info.data.get("current"):
            raise _problem(
                f"{PROJECT}:mfaEncryptionKey.previous must name another generation than current "
                f"(both are {previous})"
            )
        return previous


# Why a required key is required, told beside "is required".
_REQUIRED_BECAUSE = {
    "domain.name": " when domain is set",
    "rateLimiterFailClosed": " (true or false): the stack states it explicitly",
    "emailVerificationEnabled": " (true or false): the stack states it explicitly",
}


class StackConfig(_Section):
    """The whole stack. Fields are validated in declaration order, so a check across settings
    sits on the later field and reads the earlier ones from ``info.data`` (an earlier field that
    failed its own check is absent there, and its problem is already listed)."""

    stack: str
    region: str
    environment: Environment
    owner: str = Field(default="", validate_default=True)
    # ECS by default: App Runner stopped taking new customers on 2026-04-30, so a stack that does
    # not name its compute gets the one every account can use.
    compute: Compute = "ecs"
    frontend_url: str = Field(default="", validate_default=True)
    domain: Annotated[DomainConfig | None, BeforeValidator(_absent_if_empty)] = None
    api_url_override: str | None = Field(default=None, alias="apiUrl", validate_default=True)
    email: EmailConfig = Field(default_factory=EmailConfig, validate_default=True)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig, validate_default=True)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    waf: WafConfig = Field(default_factory=WafConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    uploads: UploadsConfig = Field(default_factory=UploadsConfig)
    mfa_encryption_key: MfaEncryptionKeyConfig = Field(default_factory=MfaEncryptionKeyConfig)
    maintenance_schedule: str = "cron(17 3 * * ? *)"
    log_retention_days: int = Field(default=30, ge=1)
    image_tag: str | None = None
    # PASSWORD_MAX_AGE_DAYS for the API and the maintenance Lambda; None leaves the app's default.
    password_max_age_days: int | None = Field(default=None, ge=0)
    # RATE_LIMITER_FAIL_CLOSED and EMAIL_VERIFICATION_ENABLED: every stack states both.
    rate_limiter_fail_closed: StackBool
    email_verification_enabled: StackBool
    # ARN of the managed policy every role the program creates carries as its permissions
    # boundary (infra/ci_access creates it; the CI deploy roles may create roles only with it).
    permissions_boundary_arn: Annotated[str | None, BeforeValidator(_absent_if_empty)] = None
    # Reserved concurrency for db-admin: an explicit opt-in. Unset by default because a new
    # account's concurrency quota is 10 and Lambda keeps 10 unreserved, so any reservation there
    # fails; migrations are serialised by the database's advisory lock, not by this.
    db_admin_reserved_concurrency: int | None = Field(default=None, ge=1)

    @field_validator("owner", mode="before")
    @classmethod
    def _owned(cls, owner: object) -> object:
        if not owner:
            raise _problem(f"{PROJECT}:owner is required (the owner tag on every resource)")
        return owner

    @field_validator("frontend_url", mode="before")
    @classmethod
    def _frontend_https(cls, url: object) -> object:
        if not str(url or "").startswith("https://"):
            raise _problem(f"{PROJECT}:frontendUrl must be an https:// URL (got {url or ''!r})")
        return url

    @field_validator("domain")
    @classmethod
    def _edge_certificate(cls, domain: DomainConfig | None, info: ValidationInfo) -> Any:
        if domain is not None and info.data.get("compute") == "ecs":
            problems = _edge_certificate_problems(domain)
            if problems:
                raise _problem(problems[0])
        return domain

    @field_validator("api_url_override")
    @classmethod
    def _api_url(cls, api_url: str | None, info: ValidationInfo) -> str | None:
        if api_url and not api_url.startswith("https://"):
            raise _problem(f"{PROJECT}:apiUrl must be an https:// URL (got {api_url!r})")
        if info.data.get("domain") is None and not api_url and info.data.get("compute") != "ecs":
            raise _problem(
                f"set {PROJECT}:domain.name (the API's custom domain, on the frontend's site so "
                f"the refresh cookie stays first-party) or {PROJECT}:apiUrl (the public URL of "
                "the API when a proxy you run in front of it serves it)"
            )
        return api_url

    @field_validator("email")
    @classmethod
    def _sender(cls, email: EmailConfig) -> EmailConfig:
        if email.provider in ("resend", "ses") and not email.from_email:
            raise _problem(f"{PROJECT}:email.fromEmail is required for provider {email.provider}")
        if email.provider == "gmail" and not email.gmail_user:
            raise _problem(f"{PROJECT}:email.gmailUser is required for provider gmail")
        return email

    @field_validator("service")
    @classmethod
    def _size_the_compute_accepts(cls, service: ServiceConfig, info: ValidationInfo) -> Any:
        compute = info.data.get("compute", "ecs")
        sizes = CPU_MEMORY_MIB[compute]
        if service.cpu not in sizes:
            raise _problem(
                f"{PROJECT}:service.cpu must be one of {tuple(sizes)} on {compute} "
                f"(got {service.cpu})"
            )
        allowed = sizes[service.cpu]
        if service.memory not in allowed:
            raise _problem(
                f"{PROJECT}:service.memory with cpu {service.cpu} on {compute} must be one of "
                f"{allowed[0]}..{allowed[-1]} MiB {allowed} (got {service.memory})"
            )
        return service

    @field_validator("permissions_boundary_arn")
    @classmethod
    def _managed_policy(cls, arn: str | None) -> str | None:
        if arn is not None and not _POLICY_ARN.match(arn):
            raise _problem(
                f"{PROJECT}:permissionsBoundaryArn must be an IAM managed policy ARN "
                f"(arn:aws:iam::<account>:policy/<name>; got {arn!r})"
            )
        return arn

    @model_validator(mode="after")
    def _reachable_without_nat(self) -> StackConfig:
        # Runs only when every field passed: the dependencies follow from the whole config.
        if self.network.egress == "endpoints":
            gaps = endpoint_gaps(self)
            if gaps:
                raise _problem(
                    f"{PROJECT}:network.egress=endpoints is refused: "
                    + "; ".join(
                        f"{g.name} (used by {g.used_by}) has no VPC endpoint: {g.reference}"
                        for g in gaps
                    )
                    + ". Use egress: nat."
                )
        return self

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

# The stack file's keys, from the declaration (``stack`` and ``region`` come from Pulumi itself).
KEYS = tuple(
    field.alias or name
    for name, field in StackConfig.model_fields.items()
    if name not in ("stack", "region")
)


def _describe(error: ErrorDetails) -> str:
    """One problem, in the stack file's words: ``jobapptracker:<camelCase path> ...``."""
    if error["type"] == _PROBLEM:
        return str(error.get("ctx", {})["problem"])
    where = ".".join(str(part) for part in error["loc"])
    key = f"{PROJECT}:{where}"
    got = error.get("input")
    ctx = error.get("ctx", {})
    match error["type"]:
        case "missing":
            return f"{key} is required{_REQUIRED_BECAUSE.get(where, '')}"
        case "int_type" | "int_parsing" | "int_from_float":
            return f"{key} must be an integer (got {got!r})"
        case "greater_than_equal":
            return f"{key} must be at least {ctx['ge']} (got {got})"
        case "less_than_equal":
            return f"{key} must be at most {ctx['le']} (got {got})"
        case "literal_error":
            return f"{key} must be one of {ctx['expected']} (got {got!r})"
        case "true_or_false":
            return f"{key} must be true or false (got {got!r})"
        case "model_type" | "model_attributes_type" | "dict_type":
            return f"{key} must be an object (got {got!r})"
        case _:
            return f"{key}: {error['msg']} (got {got!r})"


def from_mapping(
    values: Mapping[str, Any], *, stack: str, region: str, image_tag: str | None = None
) -> StackConfig:
    """Build and validate the typed config from ``{key: value}`` (keys without the project
    namespace, objects as dicts); ``image_tag``, when given, replaces the stack's ``imageTag``."""
    data = {
        **values,
        "stack": stack,
        "region": region,
        "imageTag": image_tag if image_tag is not None else (values.get("imageTag") or None),
    }
    try:
        return StackConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError([_describe(error) for error in e.errors()]) from None


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

"""The program: one component per concern, composed in deploy order.

Without an image tag it creates only what needs no image (network, registry, secrets, database,
bucket, scanning plan, alarms on the database). With ``imageTag`` set it also creates the Lambdas,
invokes db-admin (role bootstrap + migrations) and only then moves the service and the other
database-using Lambdas to the new image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pulumi
import pulumi_aws as aws

from . import iam, tags
from .components.database import Database, DatabaseArgs
from .components.jobs import Jobs
from .components.network import Network
from .components.observability import (
    Observability,
    ObservabilityArgs,
    WatchedApplication,
    WatchedAppRunner,
    WatchedDatabase,
)
from .components.registry import Registry, RegistryArgs
from .components.scanning import Scanning, ScanningArgs
from .components.secrets import MfaKeyGenerations, Secrets, SecretsArgs
from .components.service import AppRunnerService, EcsService
from .components.storage import Storage, StorageArgs
from .config import StackConfig, required_secret_keys
from .metrics import metrics_namespace


def build(cfg: StackConfig) -> dict[str, object]:
    """Create every resource of the stack; returns the stack outputs (also exported)."""
    tags.register(cfg.tags)
    if cfg.permissions_boundary_arn:
        pulumi.runtime.register_stack_transformation(
            iam.boundary_transformation(cfg.permissions_boundary_arn)
        )
    account = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition

    network = Network("network", cfg)
    registry = Registry(
        "registry",
        RegistryArgs(cfg.prefix, cfg.region, account, partition, retention=cfg.registry),
    )
    secrets = Secrets(
        "secrets",
        SecretsArgs(
            cfg.prefix,
            tuple(required_secret_keys(cfg)),
            MfaKeyGenerations(cfg.mfa_encryption_key.current, cfg.mfa_encryption_key.previous),
        ),
    )
    database = Database(
        "database",
        DatabaseArgs(
            cfg.prefix,
            cfg.database,
            cfg.log_retention_days,
            subnet_ids=network.private_subnet_ids,
            security_group_id=network.db_sg.id,
            kms_key_arn=secrets.key.arn,
        ),
    )
    # The bucket policy exempts GuardDuty's role, and that role's policy names the bucket: the
    # storage takes the role's ARN as a deferred output, resolved once scanning has created it
    # (Pulumi's deferredOutput:
    # https://www.pulumi.com/docs/reference/pkg/nodejs/pulumi/pulumi/functions/deferredOutput.html).
    scanner_role_arn: pulumi.Output[str]
    resolve_scanner_role_arn: Callable[[pulumi.Output[str]], None]
    scanner_role_arn, resolve_scanner_role_arn = pulumi.deferred_output()
    storage = Storage(
        "uploads",
        StorageArgs(cfg.uploads, cfg.frontend_url, account, scanner_role_arn=scanner_role_arn),
    )
    scanning = Scanning(
        "scanning",
        ScanningArgs(cfg.prefix, cfg.region, account, storage.name, storage.arn),
    )
    resolve_scanner_role_arn(scanning.role.arn)
    watched = ObservabilityArgs(
        cfg.prefix,
        cfg.alarms,
        account,
        partition,
        WatchedDatabase(
            database.identifier, database.max_connections, cfg.database.allocated_storage
        ),
    )

    outputs: dict[str, object] = {
        "environment": cfg.environment,
        "compute": cfg.compute,
        "vpcId": network.vpc.id,
        "registryUrl": registry.url,
        "uploadsBucket": storage.name,
        "databaseAddress": database.address,
        "malwareProtectionPlanArn": scanning.plan.arn,
        "imageTag": cfg.image_tag or "",
        "apiUrl": cfg.api_url,
    }
    if cfg.deployed:
        image_uri = registry.image_uri(cfg.image_tag or "")
        jobs = Jobs(
            "jobs",
            cfg,
            image_uri,
            network,
            secrets,
            database,
            storage,
            account=account,
            partition=partition,
        )
        service_cls = EcsService if cfg.compute == "ecs" else AppRunnerService
        service = service_cls(
            "api",
            cfg,
            account=account,
            partition=partition,
            image_uri=image_uri,
            network=network,
            secrets=secrets,
            database=database,
            storage=storage,
            slack_function=jobs.functions["slack-notify"],
            migration=jobs.migration,
        )
        migration_result: pulumi.Output[str] = pulumi.Output.secret(jobs.migration.result)
        outputs.update(
            {
                "serviceUrl": service.url,
                "functions": {k: f.name for k, f in jobs.functions.items()},
                "migrationResult": migration_result,
            }
        )
        if isinstance(service, AppRunnerService) and service.validation_records is not None:
            outputs["customDomainValidationRecords"] = service.validation_records
        watched = replace(
            watched,
            queues={"async-failures": jobs.failures, "events-dlq": jobs.events_dlq},
            apprunner=WatchedAppRunner(service.service_name, service.service_id)
            if isinstance(service, AppRunnerService)
            else None,
            distribution=service.distribution if isinstance(service, EcsService) else None,
            application=WatchedApplication(
                metrics_namespace(cfg.stack),
                cfg.region,
                {label: f.name for label, f in jobs.functions.items()},
            ),
        )
    if cfg.alarms.enabled:
        observability = Observability("observability", watched)
        outputs["alarmTopicArn"] = observability.topic.arn
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs

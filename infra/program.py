"""The program: one component per concern, composed in deploy order.

Without an image tag it creates only what needs no image (network, registry, secrets, database,
bucket, scanning plan, alarms on the database). With ``imageTag`` set it also creates the Lambdas,
invokes db-admin (role bootstrap + migrations) and only then moves the service and the other
database-using Lambdas to the new image.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from . import iam, tags
from .components.database import Database
from .components.jobs import Jobs
from .components.network import Network
from .components.observability import Observability
from .components.registry import Registry
from .components.scanning import Scanning
from .components.secrets import Secrets
from .components.service import AppRunnerService, EcsService
from .components.storage import Storage
from .config import StackConfig


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
    registry = Registry("registry", cfg, account=account, partition=partition)
    secrets = Secrets("secrets", cfg)
    database = Database("database", cfg, network, secrets)
    storage = Storage("uploads", cfg, account=account)
    scanning = Scanning("scanning", cfg, storage, account)
    storage.gate_reads(scanning.role)
    observability = (
        Observability("observability", cfg, database, account=account, partition=partition)
        if cfg.alarms.enabled
        else None
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
        outputs.update(
            {
                "serviceUrl": service.url,
                "functions": {k: f.name for k, f in jobs.functions.items()},
                "migrationResult": pulumi.Output.secret(jobs.migration.result),
            }
        )
        if isinstance(service, AppRunnerService) and service.validation_records is not None:
            outputs["customDomainValidationRecords"] = service.validation_records
        if observability is not None:
            observability.watch_queues(
                {"async-failures": jobs.failures, "events-dlq": jobs.events_dlq}
            )
            if isinstance(service, AppRunnerService):
                observability.watch_apprunner(service.service_name, service.service_id)
            elif service.distribution is not None:
                observability.watch_cloudfront(service.distribution)
    if observability is not None:
        outputs["alarmTopicArn"] = observability.topic.arn
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs

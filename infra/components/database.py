"""Database: RDS PostgreSQL (the engine major the tests run on), encrypted, private, TLS forced by
its parameter group, master password managed by RDS in Secrets Manager, backups and log exports."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from ..config import DatabaseConfig
from .network import POSTGRES_PORT

TYPE = "jobapptracker:database:Database"
MASTER_USERNAME = "jat_admin"
# The three roles the db-admin Lambda bootstraps (the names .env.example documents).
DB_USERS = {"app": "jat_app", "migrator": "jat_migrator", "jobs": "jat_jobs"}
LOG_EXPORTS = ("postgresql", "upgrade")

# Instance memory in GiB, for RDS's default max_connections = LEAST(DBInstanceClassMemory/9531392,
# 5000). DBInstanceClassMemory is the class memory minus what RDS reserves, so the figures below
# (docs/capacity.md) are upper bounds.
CLASS_MEMORY_GIB = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.r7g.large": 16,
}


def max_connections(instance_class: str) -> int:
    gib = CLASS_MEMORY_GIB.get(instance_class, 1)
    return min(gib * 1024**3 // 9531392, 5000)


def parameters() -> list[aws.rds.ParameterGroupParameterArgsDict]:
    return [
        {"name": "rds.force_ssl", "value": "1", "apply_method": "pending-reboot"},
        {"name": "log_min_duration_statement", "value": "500"},
        {"name": "log_statement", "value": "ddl"},
        {"name": "log_lock_waits", "value": "1"},
        {"name": "log_disconnections", "value": "1"},
        {"name": "log_temp_files", "value": "0"},
    ]


@dataclass(frozen=True)
class DatabaseArgs:
    prefix: str
    database: DatabaseConfig
    log_retention_days: int
    subnet_ids: pulumi.Input[list[str]]  # the private subnets
    security_group_id: pulumi.Input[str]  # the database's group (5432 from the compute groups)
    kms_key_arn: pulumi.Input[str]  # encrypts the RDS-managed master secret


class Database(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        db = args.database
        child = pulumi.ResourceOptions(parent=self)
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=args.subnet_ids,
            description=f"{args.prefix}: private subnets",
            opts=child,
        )
        family = f"postgres{db.engine_version}"
        self.parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=family,
            description=f"{args.prefix}: TLS forced, slow-statement and DDL logging",
            parameters=parameters(),
            opts=child,
        )
        self.identifier = f"{args.prefix}-db"
        # RDS creates its log groups without retention; ours exist first, with the stack's.
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{log}-logs",
                name=f"/aws/rds/instance/{self.identifier}/{log}",
                retention_in_days=args.log_retention_days,
                opts=child,
            )
            for log in LOG_EXPORTS
        ]
        final_snapshot = None
        if db.final_snapshot:
            # A new suffix per stack generation: a snapshot left by an earlier destroy keeps its
            # name, so a recreated stack's destroy must not reuse it.
            generation = random.RandomId(f"{name}-generation", byte_length=4, opts=child)
            final_snapshot = generation.hex.apply(lambda h: f"{self.identifier}-final-{h}")
        self.instance = aws.rds.Instance(
            name,
            identifier=self.identifier,
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage,
            max_allocated_storage=db.max_allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            publicly_accessible=False,
            db_name=db.name,
            port=POSTGRES_PORT,
            username=MASTER_USERNAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.kms_key_arn,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[args.security_group_id],
            parameter_group_name=self.parameter_group.name,
            multi_az=db.multi_az,
            deletion_protection=db.deletion_protection,
            backup_retention_period=db.backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            skip_final_snapshot=not db.final_snapshot,
            final_snapshot_identifier=final_snapshot,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            apply_immediately=False,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            opts=pulumi.ResourceOptions(parent=self, depends_on=log_groups),
        )
        self.address = self.instance.address
        self.port = self.instance.port
        self.master_secret_arn = self.instance.master_user_secrets.apply(
            lambda s: s[0]["secret_arn"] if s and isinstance(s[0], dict) else s[0].secret_arn
        )
        self.max_connections = max_connections(db.instance_class)
        self.register_outputs(
            {
                "address": self.address,
                "port": self.port,
                "masterSecretArn": self.master_secret_arn,
            }
        )

"""Jobs: the db-admin, slack-notify, scan-result and maintenance Lambdas, all from the one image.

- db-admin is invoked from the program (``aws.lambda_.Invocation``, triggered by the image tag): it
  bootstraps the roles and runs the new image's migrations. Every other database-using Lambda, and
  the service, depends on that invocation.
- scan-result is the target of an EventBridge rule for this bucket's GuardDuty scan results, with a
  target dead-letter queue for delivery failures.
- maintenance runs on an EventBridge rule with a schedule expression (not EventBridge Scheduler), so
  both event sources use the same rule, target, DLQ and permission shape.
- Every asynchronously invoked function (scan-result, maintenance, slack-notify) has a
  FunctionEventInvokeConfig with retries and an SQS on-failure destination.
- maintenance also emails password-expiry reminders, so it alone gets the email settings (the
  API's, from the same config), the provider's secret and SES sending.
Secrets arrive as <NAME>_SECRET_ARN and are resolved at cold start; each function has its own role.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import iam, mail
from ..config import StackConfig
from ..metrics import metrics_environment
from .database import DB_USERS, Database
from .network import Network
from .secrets import Secrets
from .storage import Storage

TYPE = "jobapptracker:jobs:Jobs"
SCAN_RESULT_DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
HANDLERS = {
    "db-admin": "app.jobs.db_admin.handler",
    "slack-notify": "app.jobs.slack_notify.handler",
    "scan-result": "app.jobs.scan_result.handler",
    "maintenance": "app.jobs.maintenance.handler",
}
ASYNC_RETRIES = 2
MAX_EVENT_AGE_SECONDS = 6 * 3600


def scan_result_pattern(bucket_name: str) -> dict:
    return {
        "source": ["aws.guardduty"],
        "detail-type": [SCAN_RESULT_DETAIL_TYPE],
        "detail": {"s3ObjectDetails": {"bucketName": [bucket_name]}},
    }


def database_environment(cfg: StackConfig, db: Database) -> dict[str, pulumi.Input[str]]:
    return {
        "APP_ENV": "production",
        "LOG_LEVEL": "INFO",
        **metrics_environment(cfg.stack),
        "DB_HOST": db.address,
        "DB_PORT": db.port.apply(str),
        "DB_NAME": cfg.database.name,
        "DB_SSLMODE": "verify-full",
    }


class Jobs(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        image_uri: pulumi.Output[str],
        network: Network,
        secrets: Secrets,
        database: Database,
        storage: Storage,
        *,
        account: str,
        partition: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(TYPE, name, None, opts)
        self.cfg = cfg
        self._name = name
        self.image_uri = image_uri
        self.network = network
        self.secrets = secrets
        self.partition = partition
        child = pulumi.ResourceOptions(parent=self)

        self.failures = aws.sqs.Queue(
            f"{name}-failures",
            name=f"{cfg.prefix}-async-failures",
            message_retention_seconds=14 * 24 * 3600,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.events_dlq = aws.sqs.Queue(
            f"{name}-events-dlq",
            name=f"{cfg.prefix}-events-dlq",
            message_retention_seconds=14 * 24 * 3600,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.functions: dict[str, aws.lambda_.Function] = {}
        kms = secrets.key.arn
        db_env = database_environment(cfg, database)

        # ----- db-admin: master + migrator credentials; invoked by the program -----
        self._function(
            "db-admin",
            env={
                **db_env,
                "DB_APP_USER": DB_USERS["app"],
                "DB_MIGRATOR_USER": DB_USERS["migrator"],
                "DB_JOBS_USER": DB_USERS["jobs"],
                "DB_MASTER_SECRET_ARN": database.master_secret_arn,
                "DB_MIGRATOR_PASSWORD_SECRET_ARN": secrets.arn("db-migrator-password"),
                "DB_APP_PASSWORD_SECRET_ARN": secrets.arn("db-app-password"),
                "DB_JOBS_PASSWORD_SECRET_ARN": secrets.arn("db-jobs-password"),
            },
            statements=pulumi.Output.all(
                database.master_secret_arn,
                secrets.arn("db-migrator-password"),
                secrets.arn("db-app-password"),
                secrets.arn("db-jobs-password"),
                kms,
            ).apply(
                lambda a: [
                    iam.statement(
                        "ReadDatabaseCredentials", ["secretsmanager:GetSecretValue"], list(a[:4])
                    ),
                    iam.statement("DecryptSecrets", ["kms:Decrypt"], [a[4]]),
                ]
            ),
            vpc_group="db-admin",
            timeout=300,
            memory=512,
            reserved_concurrency=cfg.db_admin_reserved_concurrency,
        )
        self.migration = aws.lambda_.Invocation(
            f"{name}-db-admin-migrate",
            function_name=self.functions["db-admin"].name,
            input=json.dumps({"action": "migrate"}),
            # Run again whenever what the bootstrap depends on changes, not only the image: a
            # replaced database (new resource id and endpoint) has none of the roles yet, and new
            # role passwords must be set in the database.
            triggers={
                "imageTag": cfg.image_tag or "",
                "databaseResourceId": database.instance.resource_id,
                "databaseEndpoint": database.instance.endpoint,
                **{
                    f"{label}Version": secrets.version_id(label)
                    for label in ("db-migrator-password", "db-app-password", "db-jobs-password")
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[database.instance, *secrets.versions],
            ),
        )
        after_migration = pulumi.ResourceOptions(parent=self, depends_on=[self.migration])

        # ----- slack-notify: no database, no VPC (it only calls the Slack webhook) -----
        self._function(
            "slack-notify",
            env={
                "APP_ENV": "production",
                "LOG_LEVEL": "INFO",
                **metrics_environment(cfg.stack),
                "SLACK_WEBHOOK_URL_SECRET_ARN": secrets.arn("slack-webhook-url"),
            },
            statements=pulumi.Output.all(
                secrets.arn("slack-webhook-url"), kms, self.failures.arn
            ).apply(
                lambda a: [
                    iam.statement("ReadWebhook", ["secretsmanager:GetSecretValue"], [a[0]]),
                    iam.statement("DecryptSecrets", ["kms:Decrypt"], [a[1]]),
                    iam.statement("OnFailureDestination", ["sqs:SendMessage"], [a[2]]),
                ]
            ),
            timeout=30,
            memory=256,
        )
        self.slack_function_name = self.functions["slack-notify"].name
        jobs_env = {
            **db_env,
            "DB_JOBS_USER": DB_USERS["jobs"],
            "DB_JOBS_PASSWORD_SECRET_ARN": secrets.arn("db-jobs-password"),
            "STORAGE_BACKEND": "s3",
            "SCANNER": "guardduty",
            "UPLOADS_BUCKET": storage.name,
            "SLACK_LAMBDA_FUNCTION_NAME": self.slack_function_name,
            "FRONTEND_URL": cfg.frontend_url,
        }

        def jobs_statements(
            bucket_arn: str, jobs_secret: str, key: str, failures: str, slack_arn: str
        ) -> list[dict[str, Any]]:
            return [
                iam.statement(
                    "ReadJobsCredentials", ["secretsmanager:GetSecretValue"], [jobs_secret]
                ),
                iam.statement("DecryptSecrets", ["kms:Decrypt"], [key]),
                iam.statement(
                    "ManageScannedObjects",
                    ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersionTagging"],
                    [f"{bucket_arn}/*"],
                ),
                iam.statement("ListVersions", ["s3:ListBucketVersions"], [bucket_arn]),
                iam.statement("NotifyOperators", ["lambda:InvokeFunction"], [slack_arn]),
                iam.statement("OnFailureDestination", ["sqs:SendMessage"], [failures]),
            ]

        job_inputs = pulumi.Output.all(
            storage.arn,
            secrets.arn("db-jobs-password"),
            kms,
            self.failures.arn,
            self.functions["slack-notify"].arn,
        )
        self._function(
            "scan-result",
            env=jobs_env,
            statements=job_inputs.apply(lambda a: jobs_statements(*a)),
            vpc_group="scan-result",
            timeout=60,
            memory=512,
            opts=after_migration,
        )
        # maintenance also sends the password-expiry reminders: the API's email settings, its
        # provider secret (as an ARN) and SES sending, on this role only. scan-result sends none.
        email_secrets = mail.secret_labels(cfg)
        email_secret_arns = [secrets.arn(label) for label in email_secrets.values()]
        maintenance_env = {
            **jobs_env,
            **mail.environment(cfg),
            **{f"{var}_SECRET_ARN": secrets.arn(label) for var, label in email_secrets.items()},
            **mail.password_policy_environment(cfg),
        }

        def maintenance_statements(a: list[str]) -> list[dict[str, Any]]:
            sts = jobs_statements(*a[:5])
            if a[5:]:
                sts.insert(
                    1,
                    iam.statement("ReadEmailCredentials", ["secretsmanager:GetSecretValue"], a[5:]),
                )
            return sts + mail.send_statements(cfg, account, partition)

        self._function(
            "maintenance",
            env=maintenance_env,
            statements=pulumi.Output.all(
                storage.arn,
                secrets.arn("db-jobs-password"),
                kms,
                self.failures.arn,
                self.functions["slack-notify"].arn,
                *email_secret_arns,
            ).apply(lambda a: maintenance_statements(list(a))),
            vpc_group="maintenance",
            timeout=300,
            memory=512,
            opts=after_migration,
        )

        for fn in ("slack-notify", "scan-result", "maintenance"):
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{fn}-async",
                function_name=self.functions[fn].name,
                maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                destination_config={"on_failure": {"destination": self.failures.arn}},
                opts=child,
            )

        self.scan_rule = aws.cloudwatch.EventRule(
            f"{name}-scan-results",
            name=f"{cfg.prefix}-scan-results",
            description="GuardDuty Malware Protection scan results for the uploads bucket",
            event_pattern=storage.name.apply(lambda b: json.dumps(scan_result_pattern(b))),
            opts=child,
        )
        self.schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-maintenance-schedule",
            name=f"{cfg.prefix}-maintenance",
            description="Daily maintenance (expired sessions, stale uploads)",
            schedule_expression=cfg.maintenance_schedule,
            opts=child,
        )
        for rule, fn in ((self.scan_rule, "scan-result"), (self.schedule_rule, "maintenance")):
            label = "scan-results" if fn == "scan-result" else "maintenance-schedule"
            aws.cloudwatch.EventTarget(
                f"{name}-{label}-target",
                rule=rule.name,
                arn=self.functions[fn].arn,
                dead_letter_config={"arn": self.events_dlq.arn},
                retry_policy={"maximum_retry_attempts": 8, "maximum_event_age_in_seconds": 3600},
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-{label}-invoke",
                action="lambda:InvokeFunction",
                function=self.functions[fn].name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
        aws.sqs.QueuePolicy(
            f"{name}-events-dlq-policy",
            queue_url=self.events_dlq.url,
            policy=pulumi.Output.all(
                self.events_dlq.arn, self.scan_rule.arn, self.schedule_rule.arn
            ).apply(
                lambda a: iam.document(
                    iam.statement(
                        "EventBridgeDeadLetters",
                        ["sqs:SendMessage"],
                        a[0],
                        principal={"Service": "events.amazonaws.com"},
                        condition={"ArnEquals": {"aws:SourceArn": [a[1], a[2]]}},
                    )
                )
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "functions": {k: f.name for k, f in self.functions.items()},
                "failuresQueue": self.failures.url,
                "eventsDlq": self.events_dlq.url,
            }
        )

    def _function(
        self,
        label: str,
        *,
        env: Mapping[str, pulumi.Input[str]],
        statements: pulumi.Output[list[dict]],
        timeout: int,
        memory: int,
        vpc_group: str | None = None,
        reserved_concurrency: int | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> aws.lambda_.Function:
        cfg, name = self.cfg, self._name
        child = pulumi.ResourceOptions(parent=self)
        fn_name = f"{cfg.prefix}-{label}"
        role = aws.iam.Role(
            f"{name}-{label}-role",
            description=f"{fn_name} Lambda",
            assume_role_policy=iam.assume_role("lambda.amazonaws.com"),
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-{label}-managed",
            role=role.name,
            policy_arn=iam.managed(
                self.partition, iam.LAMBDA_VPC if vpc_group else iam.LAMBDA_BASIC
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-{label}-policy",
            role=role.id,
            policy=statements.apply(lambda sts: iam.document(*sts)),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-{label}-logs",
            name=f"/aws/lambda/{fn_name}",
            retention_in_days=cfg.log_retention_days,
            opts=child,
        )
        vpc_config: aws.lambda_.FunctionVpcConfigArgsDict | None = None
        if vpc_group:
            vpc_config = {
                "subnet_ids": self.network.private_subnet_ids,
                "security_group_ids": [self.network.compute_groups[vpc_group].id],
            }
        base = pulumi.ResourceOptions(parent=self, depends_on=[attachment, policy, log_group])
        image_config: aws.lambda_.FunctionImageConfigArgsDict = {
            "entry_points": ["python", "-m", "awslambdaric"],
            "commands": [HANDLERS[label]],
            "working_directory": "/app",
        }
        environment: aws.lambda_.FunctionEnvironmentArgsDict = {"variables": dict(env)}
        logging_config: aws.lambda_.FunctionLoggingConfigArgsDict = {
            "log_format": "JSON",
            "log_group": log_group.name,
        }
        fn = aws.lambda_.Function(
            f"{name}-{label}",
            name=fn_name,
            description=f"{HANDLERS[label]} from the API image",
            package_type="Image",
            image_uri=self.image_uri,
            architectures=["x86_64"],
            image_config=image_config,
            role=role.arn,
            timeout=timeout,
            memory_size=memory,
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            vpc_config=vpc_config,
            logging_config=logging_config,
            opts=base.merge(opts) if opts else base,
        )
        self.functions[label] = fn
        return fn

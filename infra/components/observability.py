"""Observability: CloudWatch alarms to an SNS topic for the dead-letter and on-failure queues, the
API's 5xx rate and latency, and RDS CPU, free storage and connections.

The topics are encrypted with a customer managed key whose policy lets CloudWatch use it: the AWS
managed key ``alias/aws/sns`` has a key policy that cannot grant ``cloudwatch.amazonaws.com``, so an
alarm action on a topic encrypted with it fails
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .. import iam, providers
from ..config import PROJECT, AlarmsConfig
from ..metrics import (
    AlarmSpec,
    AppAlarmThresholds,
    app_alarms,
    dashboard_body,
    lambda_error_alarm,
)

TYPE = "jobapptracker:observability:Observability"
FIVE_MINUTES = 300


def topic_key_policy(account: str, partition: str) -> str:
    """The alarm topics' key policy: the account administers the key, CloudWatch (alarm actions)
    may generate data keys and decrypt with it, for this account's alarms only."""
    return iam.document(
        iam.statement(
            "AccountAdministersKey",
            ["kms:*"],
            "*",
            principal={"AWS": f"arn:{partition}:iam::{account}:root"},
        ),
        iam.statement(
            "CloudWatchAlarmsPublish",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            principal={"Service": "cloudwatch.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceAccount": account}},
        ),
    )


@dataclass(frozen=True)
class WatchedDatabase:
    identifier: str
    max_connections: int
    allocated_storage_gib: int


@dataclass(frozen=True)
class WatchedAppRunner:
    service_name: pulumi.Input[str]
    service_id: pulumi.Input[str]


@dataclass(frozen=True)
class WatchedApplication:
    """The application's own metrics (infra/metrics.py): their namespace, the region the
    dashboard reads them in, and the functions whose errors are alarmed (label: name)."""

    namespace: str
    region: str
    functions: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class ObservabilityArgs:
    """What the alarms watch. The queues and the API exist only once an image is deployed, so the
    program creates this component after them."""

    prefix: str
    alarms: AlarmsConfig
    account: str
    partition: str
    database: WatchedDatabase
    queues: Mapping[str, aws.sqs.Queue] = field(default_factory=dict)
    apprunner: WatchedAppRunner | None = None
    # ECS: the CloudFront distribution in front of the API.
    distribution: aws.cloudfront.Distribution | None = None
    application: WatchedApplication | None = None


class Observability(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._prefix = args.prefix
        self._alarm_email = args.alarms.email
        self._name = name
        self._account = args.account
        self._partition = args.partition
        child = pulumi.ResourceOptions(parent=self)
        self.topic_key = self._topic_key(f"{name}-alarms-key", child)
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"{args.prefix}-alarms",
            kms_master_key_id=self.topic_key.arn,
            opts=child,
        )
        # Without a subscriber the alarms still change state, but nobody is told: say so.
        self.subscribed = bool(args.alarms.email)
        if not self.subscribed:
            pulumi.log.warn(
                f"{args.prefix}: the alarm topic has no subscriber (set {PROJECT}:alarms.email "
                "to be notified); alarms are visible in the CloudWatch console only",
                resource=self.topic,
            )
        if args.alarms.email:
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alarms.email,
                opts=child,
            )
        self._watch_database(args.database)
        self._watch_queues(args.queues)
        if args.apprunner is not None:
            self._watch_apprunner(args.apprunner)
        if args.distribution is not None:
            self._watch_cloudfront(args.distribution)
        self.dashboard: aws.cloudwatch.Dashboard | None = None
        if args.application is not None:
            self.dashboard = self._watch_application(args.application, args.alarms, args.database)
        self.register_outputs({"topicArn": self.topic.arn})

    def _watch_application(
        self, app: WatchedApplication, alarms: AlarmsConfig, database: WatchedDatabase
    ) -> aws.cloudwatch.Dashboard:
        """The stack's dashboard, and the alarms on refresh-token reuse, failed sign-ins,
        failed scans, the outbox's oldest email and each function's errors
        (docs/operations.md)."""
        thresholds = AppAlarmThresholds(
            refresh_token_reuse=alarms.refresh_token_reuse,
            failed_logins=alarms.failed_logins,
            outbox_oldest_seconds=alarms.outbox_oldest_seconds,
        )
        for spec in app_alarms(app.namespace, thresholds):
            self._spec_alarm(spec)
        for label, function_name in app.functions.items():
            self._spec_alarm(lambda_error_alarm(label, function_name))
        labels = list(app.functions)
        body = pulumi.Output.all(*app.functions.values()).apply(
            lambda names: dashboard_body(
                app.namespace,
                app.region,
                dict(zip(labels, names, strict=True)),
                database.identifier,
            )
        )
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=self._prefix,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _spec_alarm(self, spec: AlarmSpec) -> aws.cloudwatch.MetricAlarm:
        return self._alarm(
            spec.label,
            spec.description,
            spec.namespace,
            spec.metric,
            dict(spec.dimensions),
            threshold=spec.threshold,
            comparison=spec.comparison,
            statistic=spec.statistic,
        )

    def _watch_database(self, database: WatchedDatabase) -> None:
        rds = {"DBInstanceIdentifier": database.identifier}
        self._alarm(
            "rds-cpu",
            "RDS CPU above 80% for 15 minutes",
            "AWS/RDS",
            "CPUUtilization",
            rds,
            threshold=80,
            periods=3,
        )
        self._alarm(
            "rds-free-storage",
            "RDS free storage below 10% of the allocated storage",
            "AWS/RDS",
            "FreeStorageSpace",
            rds,
            threshold=database.allocated_storage_gib * 1024**3 * 0.10,
            comparison="LessThanThreshold",
            statistic="Minimum",
        )
        self._alarm(
            "rds-connections",
            f"RDS connections above 80% of max_connections ({database.max_connections})",
            "AWS/RDS",
            "DatabaseConnections",
            rds,
            threshold=int(database.max_connections * 0.8),
            statistic="Maximum",
            periods=2,
        )

    def _alarm(
        self,
        label: str,
        description: str,
        namespace: str,
        metric: str,
        dimensions: dict,
        *,
        threshold: float,
        comparison: str = "GreaterThanThreshold",
        statistic: str = "Average",
        periods: int = 1,
        extended_statistic: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
        topic: aws.sns.Topic | None = None,
    ) -> aws.cloudwatch.MetricAlarm:
        topic = topic or self.topic
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{label}",
            name=f"{self._prefix}-{label}",
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=None if extended_statistic else statistic,
            extended_statistic=extended_statistic,
            period=FIVE_MINUTES,
            evaluation_periods=periods,
            threshold=threshold,
            comparison_operator=comparison,
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            opts=opts or pulumi.ResourceOptions(parent=self),
        )

    def _topic_key(self, name: str, opts: pulumi.ResourceOptions) -> aws.kms.Key:
        return aws.kms.Key(
            name,
            description=f"{self._prefix}: alarm topic encryption (CloudWatch may use it)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=topic_key_policy(self._account, self._partition),
            opts=opts,
        )

    def _watch_queues(self, queues: Mapping[str, aws.sqs.Queue]) -> None:
        for label, queue in queues.items():
            self._alarm(
                f"{label}-depth",
                f"messages waiting in {label}: a delivery or a handler failed",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": queue.name},
                threshold=0,
                statistic="Maximum",
            )

    def _watch_apprunner(self, service: WatchedAppRunner) -> None:
        dims = {"ServiceName": service.service_name, "ServiceID": service.service_id}
        self._ratio_alarm(
            "api-5xx-rate",
            "API 5xx responses above 5% of requests",
            "AWS/AppRunner",
            "5xxStatusResponses",
            "Requests",
            dims,
            None,
        )
        self._alarm(
            "api-latency",
            "API p99 latency above 2 s",
            "AWS/AppRunner",
            "RequestLatency",
            dims,
            threshold=2000,
            extended_statistic="p99",
            periods=3,
        )

    def _watch_cloudfront(self, distribution: aws.cloudfront.Distribution) -> None:
        """CloudFront publishes its metrics in us-east-1 only, so these alarms and their topic
        live there."""
        us_east_1 = providers.us_east_1(f"{self._name}-us-east-1", parent=self)
        edge = pulumi.ResourceOptions(parent=self, provider=us_east_1)
        key = self._topic_key(f"{self._name}-alarms-us-east-1-key", edge)
        topic = aws.sns.Topic(
            f"{self._name}-alarms-us-east-1",
            name=f"{self._prefix}-alarms-edge",
            kms_master_key_id=key.arn,
            opts=edge,
        )
        # OriginLatency is one of the additional metrics, published only with a subscription.
        aws.cloudfront.MonitoringSubscription(
            f"{self._name}-cdn-metrics",
            distribution_id=distribution.id,
            monitoring_subscription={
                "realtime_metrics_subscription_config": {
                    "realtime_metrics_subscription_status": "Enabled"
                }
            },
            opts=edge,
        )
        if self._alarm_email:
            aws.sns.TopicSubscription(
                f"{self._name}-alarms-us-east-1-email",
                topic=topic.arn,
                protocol="email",
                endpoint=self._alarm_email,
                opts=edge,
            )
        dims = {"DistributionId": distribution.id, "Region": "Global"}
        self._alarm(
            "api-5xx-rate",
            "API 5xx error rate above 5%",
            "AWS/CloudFront",
            "5xxErrorRate",
            dims,
            threshold=5,
            periods=2,
            opts=edge,
            topic=topic,
        )
        self._alarm(
            "api-latency",
            "API origin latency p99 above 2 s",
            "AWS/CloudFront",
            "OriginLatency",
            dims,
            threshold=2000,
            extended_statistic="p99",
            periods=3,
            opts=edge,
            topic=topic,
        )

    def _ratio_alarm(
        self,
        label: str,
        description: str,
        namespace: str,
        numerator: str,
        denominator: str,
        dims: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None,
    ) -> None:
        def metric(mid: str, name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgsDict:
            return {
                "id": mid,
                "return_data": False,
                "metric": {
                    "namespace": namespace,
                    "metric_name": name,
                    "dimensions": dims,
                    "period": FIVE_MINUTES,
                    "stat": "Sum",
                },
            }

        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{label}",
            name=f"{self._prefix}-{label}",
            alarm_description=description,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=2,
            threshold=5,
            treat_missing_data="notBreaching",
            metric_queries=[
                metric("errors", numerator),
                metric("requests", denominator),
                {
                    "id": "rate",
                    "expression": "IF(requests > 0, 100 * errors / requests, 0)",
                    "label": "5xx %",
                    "return_data": True,
                },
            ],
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=opts or pulumi.ResourceOptions(parent=self),
        )

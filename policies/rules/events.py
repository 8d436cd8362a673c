"""EventBridge: the scan-result rule reaches the scan-result Lambda; Lambda targets keep a DLQ."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ..joins import StackView
from ..model import UNKNOWN, NotApplicable, Rule, as_list, load_json_document, peek
from .lambda_ import EVENT_TARGET, FUNCTION
from .s3 import UPLOADS_PATTERN, uploads_buckets

EVENT_RULE = ("aws:cloudwatch/eventRule:EventRule",)
SCAN_RESULT_DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"


def _is_scan_rule(rule: Any) -> tuple[bool, Any]:
    pattern = load_json_document(peek(rule.props, "eventPattern"), ["eventPattern"])
    if not isinstance(pattern, dict):
        return False, None
    sources = as_list(pattern.get("source"))
    detail_types = as_list(pattern.get("detail-type"))
    return "aws.guardduty" in sources and SCAN_RESULT_DETAIL_TYPE in detail_types, pattern


def check_scan_rule(stack: StackView, config: Mapping) -> Iterator[tuple[str, str | None]]:
    if not stack.image_deployed():
        raise NotApplicable("image-less first phase: the scan-result Lambda does not exist yet")
    fn_pattern = re.compile(peek(config, "scanResultFunctionPattern") or "scan", re.IGNORECASE)
    rules = []
    for r in stack.of_type(*EVENT_RULE):
        ok, pattern = _is_scan_rule(r)
        if ok:
            rules.append((r, pattern))
    if not rules:
        yield (
            "no EventBridge rule matches source aws.guardduty, detail-type "
            f"'{SCAN_RESULT_DETAIL_TYPE}'",
            None,
        )
        return
    bucket_names = {
        peek(b.props, "bucket")
        for b in uploads_buckets(stack, config)
        if isinstance(peek(b.props, "bucket"), str)
    }
    for r, pattern in rules:
        filtered = as_list(peek(pattern, "detail", "s3ObjectDetails", "bucketName"))
        if not filtered:
            yield (
                f"rule {r.name} matches scan results of every bucket; filter "
                "detail.s3ObjectDetails.bucketName",
                r.urn,
            )
        elif bucket_names and not bucket_names & set(filtered):
            yield (
                f"rule {r.name} filters buckets {filtered}, not the uploads bucket "
                f"{sorted(bucket_names)}",
                r.urn,
            )
        targets = stack.referrers(r, EVENT_TARGET, "rule")
        functions = [fn for t in targets for fn in stack.refs(t, "arn", FUNCTION)]
        names = [(fn.name, peek(fn.props, "name")) for fn in functions]
        if not any(isinstance(n, str) and fn_pattern.search(n) for pair in names for n in pair):
            yield (
                f"rule {r.name} does not target the scan-result Lambda (targets: "
                f"{[n for n, _ in names] or 'none'})",
                r.urn,
            )


def check_target_dlq(stack: StackView, config: Mapping) -> Iterator[tuple[str, str]]:
    targets = [t for t in stack.of_type(*EVENT_TARGET) if stack.refs(t, "arn", FUNCTION)]
    if not targets:
        raise NotApplicable("no EventBridge target invokes a Lambda function")
    for t in targets:
        dlq = peek(t.props, "deadLetterConfig", "arn")
        if dlq is not UNKNOWN and not dlq:
            yield f"target {t.name} has no dead-letter queue for delivery failures", t.urn


RULES = [
    Rule(
        name="eventbridge-scan-result-rule",
        description="An EventBridge rule for the uploads bucket's GuardDuty Malware Protection "
        "scan results "
        "exists and targets the scan-result Lambda.",
        control="JAT-EVENTS-1 (docs/design.md §6)",
        severity=Severity.HIGH,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Create aws.cloudwatch.EventRule with event_pattern {source: [aws.guardduty], "
        "detail-type: "
        f"['{SCAN_RESULT_DETAIL_TYPE}'], detail: "
        f"{{s3ObjectDetails: {{bucketName: [<uploads bucket>]}}}}}} "
        "and an EventTarget whose arn is the scan-result function's ARN.",
        unknown="defer: an unknown event pattern or target join without dependency information "
        "reports the advisory 'can't run during preview'; not applicable in the image-less phase",
        check=check_scan_rule,
        kind="stack",
        config={
            **UPLOADS_PATTERN,
            "scanResultFunctionPattern": {"type": "string", "default": "scan"},
        },
        image_bound=True,
    ),
    Rule(
        name="eventbridge-lambda-target-dlq",
        description="EventBridge targets that invoke a Lambda function have a dead-letter queue.",
        control="JAT-EVENTS-2",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="Set dead_letter_config={'arn': queue.arn} on the EventTarget.",
        unknown="pass: an unknown dead-letter ARN counts as set",
        check=check_target_dlq,
        kind="stack",
        image_bound=True,
    ),
]

"""The scan-result Lambda: GuardDuty Malware Protection results, delivered by EventBridge.

Event: detail-type "GuardDuty Malware Protection Object Scan Result", source "aws.guardduty",
``detail.s3ObjectDetails`` {bucketName, objectKey, versionId, eTag} and
``detail.scanResultDetails`` {scanResultStatus, threats}. It acts on the recorded version only
(app/services/attachments.py decides). It connects as the jobs role. Real errors raise:
EventBridge invokes Lambda asynchronously, so Lambda's retries and the on-failure destination
handle them; malformed or foreign events are logged and ignored, since retrying cannot help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from app import bootstrap
from app.core.metrics import (
    FAILED_SCANS,
    INFECTED_FILES,
    SCAN_RESULTS,
    Metrics,
    NullMetrics,
)
from app.services.attachments import AttachmentService

log = structlog.get_logger("app.jobs.scan_result")

DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
SOURCE = "aws.guardduty"
VALIDATION_OBJECT = "malware-protection-resource-validation-object"
# GuardDuty's results that carry no verdict on the file.
WITHOUT_VERDICT = frozenset({"UNSUPPORTED", "ACCESS_DENIED", "FAILED"})


@dataclass(frozen=True)
class ScanEvent:
    bucket: str
    key: str
    version_id: str | None
    status: str
    threats: list[str]


def parse(event: dict[str, Any]) -> ScanEvent | None:
    if event.get("detail-type") != DETAIL_TYPE or event.get("source") != SOURCE:
        return None
    detail = event.get("detail") or {}
    obj = detail.get("s3ObjectDetails") or {}
    result = detail.get("scanResultDetails") or {}
    status = result.get("scanResultStatus")
    if not obj.get("bucketName") or not obj.get("objectKey") or not status:
        return None
    threats = [
        t.get("name", "unknown") for t in (result.get("threats") or []) if isinstance(t, dict)
    ]
    return ScanEvent(obj["bucketName"], obj["objectKey"], obj.get("versionId"), status, threats)


def run(
    event: dict[str, Any],
    service: AttachmentService,
    bucket: str,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    metrics = metrics or NullMetrics()
    scan = parse(event)
    if scan is None:
        log.warning("scan_event_ignored", reason="not a GuardDuty object scan result")
        return {"outcome": "ignored", "reason": "not a scan result"}
    if scan.bucket != bucket:
        log.warning("scan_event_ignored", reason="another bucket")
        return {"outcome": "ignored", "reason": "another bucket"}
    if scan.key == VALIDATION_OBJECT:
        log.info("scan_event_ignored", reason="GuardDuty validation object")
        return {"outcome": "ignored", "reason": "validation object"}
    # The object, so an operator can follow one upload from the API's log to its result.
    structlog.contextvars.bind_contextvars(key=scan.key, version_id=scan.version_id)
    outcome = service.apply_scan_result(scan.key, scan.version_id, scan.status, scan.threats)
    log.info(
        "scan_event_done",
        outcome=outcome.outcome,
        result=scan.status,
        attachment=str(outcome.attachment_id) if outcome.attachment_id else None,
    )
    metrics.record(SCAN_RESULTS, Status=scan.status)
    if scan.status == "THREATS_FOUND":
        metrics.record(INFECTED_FILES)
    elif scan.status in WITHOUT_VERDICT:
        metrics.record(FAILED_SCANS)
    return {
        "outcome": outcome.outcome,
        "attachment": str(outcome.attachment_id) if outcome.attachment_id else None,
        "status": outcome.status,
    }


# Built once per execution environment by the composition root (app/bootstrap.py).
cold_start = bootstrap.ColdStart("scan_result", bootstrap.scan_result_job)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = cold_start()
    structlog.contextvars.clear_contextvars()
    if context is not None:
        structlog.contextvars.bind_contextvars(request_id=context.aws_request_id)
    with job.database.connection_context():
        return run(event, job.attachments, job.settings.s3_storage().bucket, job.metrics)

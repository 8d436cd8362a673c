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
from app.services.attachments import AttachmentService

log = structlog.get_logger("app.jobs.scan_result")

DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
SOURCE = "aws.guardduty"
VALIDATION_OBJECT = "malware-protection-resource-validation-object"


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


def run(event: dict[str, Any], service: AttachmentService, bucket: str) -> dict[str, Any]:
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
    outcome = service.apply_scan_result(scan.key, scan.version_id, scan.status, scan.threats)
    log.info("scan_event_done", outcome=outcome.outcome, result=scan.status)
    return {
        "outcome": outcome.outcome,
        "attachment": str(outcome.attachment_id) if outcome.attachment_id else None,
        "status": outcome.status,
    }


# Built once per execution environment by the composition root (app/bootstrap.py).
cold_start = bootstrap.ColdStart("scan_result", bootstrap.scan_result_job)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = cold_start()
    with job.database.connection_context():
        return run(event, job.attachments, job.settings.s3_storage().bucket)

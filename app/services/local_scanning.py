"""Local mode's stand-in for GuardDuty: scan each upload in the background and report through
the same service path the scan-result Lambda uses.

The runner holds no service: each submission carries the callback that records its verdict
(``AttachmentService.apply_scan_result``), so the runner is built before the service that uses
it and nothing is wired after construction (app/bootstrap.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import structlog

from app.core.database import db
from app.integrations.scanner import ScanVerdict
from app.integrations.storage import ServedFiles
from app.models import Attachment

log = structlog.get_logger("app.local_scan")

# apply_scan_result(key, version_id, status, threats, reason, owner_id=...) -> an outcome.
ReportScan = Callable[..., Any]


class FileScanner(Protocol):
    def scan(self, path: Path) -> ScanVerdict: ...


class LocalScanRunner:
    def __init__(self, scanner: FileScanner, files: ServedFiles):
        self.scanner = scanner
        self.files = files
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-scan")

    def submit(self, attachment: Attachment, report: ReportScan) -> None:
        """Scan the attachment's recorded version in the background; ``report`` records the
        verdict."""
        if attachment.version_id is None:
            raise RuntimeError("an attachment is scanned once its version is stored")
        self._executor.submit(
            self._scan, attachment.storage_key, attachment.version_id, attachment.owner_id, report
        )

    def _scan(self, key: str, version_id: str, owner_id: uuid.UUID, report: ReportScan) -> None:
        verdict = self.scanner.scan(self.files.path_of(key, version_id))
        with db.connection_context():
            outcome = report(
                key, version_id, verdict.status, verdict.threats, verdict.reason, owner_id=owner_id
            )
        log.info("local_scan_done", result=verdict.status, outcome=outcome.outcome)

"""Local mode's stand-in for GuardDuty: scan each upload in the background and report through
the same service path the scan-result Lambda uses."""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from app.core.database import db
from app.integrations.storage import LocalStorage

log = structlog.get_logger("app.local_scan")


class LocalScanRunner:
    def __init__(self, scanner, storage: LocalStorage):
        self.scanner = scanner
        self.storage = storage
        self.service = None  # set once the service exists (they refer to each other)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-scan")
        self._pending: list[Future] = []

    def __call__(self, attachment) -> None:
        future = self._executor.submit(
            self._scan, attachment.storage_key, attachment.version_id, attachment.owner_id
        )
        self._pending.append(future)

    def _scan(self, key: str, version_id: str, owner_id: uuid.UUID) -> None:
        verdict = self.scanner.scan(self.storage.path_of(key, version_id))
        with db.connection_context():
            outcome = self.service.apply_scan_result(
                key, version_id, verdict.status, verdict.threats, verdict.reason, owner_id=owner_id
            )
        log.info("local_scan_done", result=verdict.status, outcome=outcome.outcome)

    def drain(self, timeout: float = 30) -> None:
        """Wait for every scan started so far (tests and shutdown)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result(timeout)

"""Attachments: files that stay hostile until a malware scan says they are clean.

The API records an attachment as pending and hands out a short-lived upload; `complete` records
the exact object version; the scan result (GuardDuty through EventBridge to the scan-result
Lambda, or the local scanner) decides, for that version only, whether the file becomes clean,
infected or scan_failed. Only clean files get download URLs, always for the recorded version.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from app.core.clock import Clock
from app.core.database import db, user_transaction
from app.core.errors import AppError, NotFound
from app.core.settings import Settings
from app.integrations.notifier import Notifier
from app.integrations.storage import ByteStream, ObjectStorage, ServedFile, ServedFiles
from app.models import Application, Attachment
from app.schemas.attachments import AttachmentCreate

if TYPE_CHECKING:
    from app.services.local_scanning import LocalScanRunner

log = structlog.get_logger("app.attachments")

CONTENT_TYPES = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/plain": ".txt",
    "image/png": ".png",
    "image/jpeg": ".jpg",
}
CLEAN, INFECTED, FAILED = "NO_THREATS_FOUND", "THREATS_FOUND", "FAILED"
FINAL = ("clean", "infected", "scan_failed", "expired")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class NotAvailable(AppError):
    def __init__(self, status: str):
        super().__init__(
            409,
            "ATTACHMENT_NOT_AVAILABLE",
            "This file cannot be downloaded: it has not been scanned clean.",
            details=[{"field": "status", "message": status}],
        )


def sanitise_filename(raw: str) -> str:
    """A display name only: no path, no control or reserved characters, at most 255 bytes."""
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    while len(name.encode()) > 255:
        name = name[:-1]
    return name or "file"


@dataclass
class ScanOutcome:
    outcome: str  # applied | duplicate | stored-early | other-version | ignored
    attachment_id: uuid.UUID | None = None
    status: str | None = None


class AttachmentService:
    def __init__(
        self,
        settings: Settings,
        storage: ObjectStorage,
        clock: Clock,
        notifier: Notifier,
        local_scan: LocalScanRunner | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.notifier = notifier
        # Local mode: scans each upload in the background and reports through this service.
        self.local_scan = local_scan

    @property
    def serves_files(self) -> bool:
        """Whether uploads and downloads go through this API (local mode) rather than S3."""
        return self.storage.served_files is not None

    def _served_files(self) -> ServedFiles:
        files = self.storage.served_files
        if files is None:
            raise NotFound("Uploads and downloads go to the object store, not to this API.")
        return files

    # ----- shaping ------------------------------------------------------------------------

    def describe(self, attachment: Attachment, *, with_url: bool = True) -> dict[str, Any]:
        data = {
            "id": str(attachment.id),
            "application_id": str(attachment.application_id),
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "status": attachment.status,
            "scanned_at": attachment.scanned_at,
            "threats": attachment.threats or [],
            "created_at": attachment.created_at,
            "updated_at": attachment.updated_at,
        }
        if with_url and attachment.status == "clean":
            data["download_url"] = self._download_url(attachment)
        return data

    def _download_url(self, attachment: Attachment) -> str:
        ttl = self.settings.download_url_ttl_seconds
        if attachment.version_id is None:
            raise RuntimeError("a clean attachment always has its recorded version")
        return self.storage.presign_download(
            attachment.storage_key,
            attachment.version_id,
            attachment.filename,
            attachment.content_type,
            self.clock() + timedelta(seconds=ttl),
            ttl,
        )

    def _get(
        self, user_id: uuid.UUID, attachment_id: uuid.UUID, *, lock: bool = False
    ) -> Attachment:
        query = Attachment.select().where(
            Attachment.id == attachment_id, Attachment.owner == user_id
        )
        row: Attachment | None = (query.for_update() if lock else query).first()
        if row is None:
            raise NotFound("No attachment with this id.")
        return row

    # ----- the API side -------------------------------------------------------------------

    def create(
        self, user_id: uuid.UUID, application_id: uuid.UUID, body: AttachmentCreate
    ) -> dict[str, Any]:
        now = self.clock()
        ttl = self.settings.upload_url_ttl_seconds
        expires_at = now + timedelta(seconds=ttl)
        with user_transaction(user_id):
            owned = (
                Application.select()
                .where(Application.id == application_id, Application.owner == user_id)
                .exists()
            )
            if not owned:
                raise NotFound("No application with this id.")
            attachment = Attachment.create(
                id=uuid.uuid4(),
                owner=user_id,
                application=application_id,
                filename=sanitise_filename(body.filename),
                content_type=body.content_type,
                size=body.size,
                status="pending_upload",
                storage_key=f"attachments/{uuid.uuid4()}",
                upload_expires_at=now + timedelta(seconds=self.settings.upload_pending_ttl_seconds),
                threats=[],
                early_results={},
                created_at=now,
                updated_at=now,
            )
        ticket = self.storage.presign_upload(
            attachment.storage_key,
            attachment.content_type,
            attachment.size,
            expires_at,
            ttl,
            {"attachment": str(attachment.id), "owner": str(user_id)},
        )
        upload = {
            "method": ticket.method,
            "url": ticket.url,
            "fields": ticket.fields,
            "headers": ticket.headers,
            "expires_at": ticket.expires_at,
        }
        log.info("upload_started", attachment=str(attachment.id), key=attachment.storage_key)
        return {"attachment": self.describe(attachment), "upload": upload}

    def complete(self, user_id: uuid.UUID, attachment_id: uuid.UUID) -> dict[str, Any]:
        """Idempotent: once the version is recorded, it answers with the current state."""
        with user_transaction(user_id):
            attachment = self._get(user_id, attachment_id, lock=True)
            if attachment.status != "pending_upload":
                return self.describe(attachment)
            if attachment.upload_expires_at <= self.clock():
                raise AppError(409, "UPLOAD_EXPIRED", "This upload expired. Start a new one.")
            version = self.storage.latest_version(attachment.storage_key)
            if version is None:
                raise AppError(
                    409, "UPLOAD_NOT_FOUND", "The file has not arrived yet. Upload it, then retry."
                )
            if version.size != attachment.size:
                raise AppError(
                    422,
                    "UPLOAD_SIZE_MISMATCH",
                    "The uploaded file's size differs from the size declared.",
                    details=[{"field": "size", "message": f"uploaded {version.size} bytes"}],
                )
            self._record_version(attachment, version.version_id, version.etag)
        return self.describe(attachment)

    def _record_version(self, attachment: Attachment, version_id: str, etag: str) -> None:
        attachment.version_id = version_id
        attachment.etag = etag
        attachment.status = "scanning"
        attachment.updated_at = self.clock()
        # With the key and version the scan result will name (app/jobs/scan_result.py), so an
        # operator can follow one upload from this line to its result.
        log.info(
            "upload_completed",
            attachment=str(attachment.id),
            key=attachment.storage_key,
            version_id=version_id,
        )
        early = (attachment.early_results or {}).get(version_id)
        Attachment.update(
            version_id=version_id, etag=etag, status="scanning", updated_at=attachment.updated_at
        ).where(Attachment.id == attachment.id).execute()
        if early:  # the scan finished before the client called complete
            self._apply(attachment, early["status"], early.get("threats", []), early.get("reason"))

    def receive_local_upload(
        self, token: str, stream: ByteStream, length: int | None, content_type: str | None
    ) -> dict[str, Any]:
        """Local mode's PUT: a signed, single-use token names the attachment."""
        files = self._served_files()
        claims = files.upload_claims(token, self.clock())
        if claims is None:
            raise AppError(403, "UPLOAD_TOKEN_INVALID", "This upload link is invalid or expired.")
        # The token was signed by this service, so its owner claim is the request's identity.
        attachment_id, owner = uuid.UUID(claims["attachment"]), uuid.UUID(claims["owner"])
        with user_transaction(owner):
            attachment = self._get(owner, attachment_id, lock=True)
            if attachment.status != "pending_upload" or claims["key"] != attachment.storage_key:
                raise AppError(403, "UPLOAD_TOKEN_INVALID", "This upload link was already used.")
            if (content_type or "").split(";")[0].strip() != attachment.content_type:
                raise AppError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must match the upload.")
            if length != attachment.size:
                raise AppError(
                    422,
                    "UPLOAD_SIZE_MISMATCH",
                    "Content-Length must equal the declared size.",
                    details=[{"field": "size", "message": f"expected {attachment.size} bytes"}],
                )
            version = files.write(attachment.storage_key, stream, attachment.size)
            self._record_version(attachment, version.version_id, version.etag)
        if self.local_scan is not None:
            self.local_scan.submit(attachment, self.apply_scan_result)
        return self.describe(attachment)

    def open_local_download(self, token: str) -> ServedFile:
        """Local mode's GET of a clean file's recorded version, named by a signed token."""
        opened = self._served_files().open_download(token, self.clock())
        if opened is None:
            raise AppError(
                403, "DOWNLOAD_TOKEN_INVALID", "This download link is invalid or expired."
            )
        return opened

    def list(self, user_id: uuid.UUID, application_id: uuid.UUID) -> list[dict[str, Any]]:
        with user_transaction(user_id):
            if not (
                Application.select()
                .where(Application.id == application_id, Application.owner == user_id)
                .exists()
            ):
                raise NotFound("No application with this id.")
            rows = list(
                Attachment.select()
                .where(Attachment.application == application_id, Attachment.owner == user_id)
                .order_by(Attachment.created_at)
            )
            for row in rows:
                self._reconcile_if_stale(row)
        return [self.describe(row) for row in rows]

    def get(self, user_id: uuid.UUID, attachment_id: uuid.UUID) -> dict[str, Any]:
        with user_transaction(user_id):
            attachment = self._get(user_id, attachment_id)
            self._reconcile_if_stale(attachment)
        return self.describe(attachment)

    def download_url(self, user_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
        with user_transaction(user_id):
            attachment = self._get(user_id, attachment_id)
            self._reconcile_if_stale(attachment)
        if attachment.status != "clean":
            raise NotAvailable(attachment.status)
        return self._download_url(attachment)

    def delete(self, user_id: uuid.UUID, attachment_id: uuid.UUID) -> None:
        with user_transaction(user_id):
            attachment = self._get(user_id, attachment_id, lock=True)
            self.storage.delete_all_versions(attachment.storage_key)
            Attachment.delete().where(Attachment.id == attachment.id).execute()

    def delete_objects(self, user_id: uuid.UUID, application_id: uuid.UUID | None = None) -> int:
        """Every stored object of an application (or of the whole account), before its rows
        go: a deleted account leaves no file behind."""
        with user_transaction(user_id):
            query = Attachment.select(Attachment.storage_key).where(Attachment.owner == user_id)
            if application_id is not None:
                query = query.where(Attachment.application == application_id)
            keys = [row.storage_key for row in query]
        return sum(self.storage.delete_all_versions(key) for key in keys)

    def export(self, user_id: uuid.UUID) -> builtins.list[dict[str, Any]]:
        """Metadata of every attachment, with a short-lived URL for clean files only."""
        with user_transaction(user_id):
            rows = list(
                Attachment.select()
                .where(Attachment.owner == user_id)
                .order_by(Attachment.created_at)
            )
        return [self.describe(row) for row in rows]

    # ----- scan results -------------------------------------------------------------------

    def _reconcile_if_stale(self, attachment: Attachment) -> None:
        """Fallback when a result never arrived: read the recorded version's scan tag
        (GetObjectVersionTagging is not denied by the bucket policy)."""
        if attachment.status != "scanning" or not attachment.version_id:
            return
        if (
            attachment.updated_at + timedelta(seconds=self.settings.scan_stale_seconds)
            > self.clock()
        ):
            return
        try:
            tag = self.storage.scan_tag(attachment.storage_key, attachment.version_id)
        except Exception as exc:  # noqa: BLE001 - a read must not fail because of the fallback
            log.warning(
                "scan_tag_unreadable", attachment=str(attachment.id), error=type(exc).__name__
            )
            return
        if tag:
            log.info("scan_reconciled_from_tag", attachment=str(attachment.id), status=tag)
            self._apply(attachment, tag, [], "reconciled from the object's scan tag")

    def apply_scan_result(
        self,
        key: str,
        version_id: str | None,
        status: str,
        threats: builtins.list[str],
        reason: str | None = None,
        owner_id: uuid.UUID | None = None,
    ) -> ScanOutcome:
        """Apply one scan result. The scan-result Lambda calls it as the jobs role (no owner);
        the local scanner calls it with the owner, under RLS."""
        context = user_transaction(owner_id) if owner_id else db.atomic()
        with context:
            attachment = (
                Attachment.select().where(Attachment.storage_key == key).for_update().first()
            )
            if attachment is None:
                log.info("scan_result_ignored", reason="unknown key", key=key)
                return ScanOutcome("ignored")
            if attachment.version_id is None:
                return self._store_early(attachment, version_id, status, threats, reason)
            if version_id != attachment.version_id:
                return self._other_version(attachment, version_id, status, threats)
            target = self._status_for(status)
            if attachment.status == target:
                return ScanOutcome("duplicate", attachment.id, attachment.status)
            if attachment.status in FINAL:
                log.warning(
                    "scan_result_conflict",
                    attachment=str(attachment.id),
                    current=attachment.status,
                    result=status,
                )
                return ScanOutcome("duplicate", attachment.id, attachment.status)
            self._apply(attachment, status, threats, reason)
            return ScanOutcome("applied", attachment.id, attachment.status)

    @staticmethod
    def _status_for(result: str) -> str:
        if result == CLEAN:
            return "clean"
        if result == INFECTED:
            return "infected"
        return "scan_failed"

    def _apply(
        self,
        attachment: Attachment,
        result: str,
        threats: Sequence[str] | None,
        reason: str | None,
    ) -> None:
        now = self.clock()
        status = self._status_for(result)
        detail = None if status == "clean" else (reason or result)
        if status == "infected":
            self.storage.delete_all_versions(attachment.storage_key)
        Attachment.update(
            status=status,
            scanned_at=now,
            threats=list(threats or []),
            scan_detail=detail,
            updated_at=now,
        ).where(Attachment.id == attachment.id).execute()
        attachment.status, attachment.scanned_at = status, now
        attachment.threats, attachment.scan_detail = list(threats or []), detail
        if status == "infected":
            self._alert("malware_found", "Malware found in an upload", attachment, threats)
        elif status == "scan_failed":
            self._alert("scan_failed", f"Malware scan did not complete: {result}", attachment, [])

    def _store_early(
        self,
        attachment: Attachment,
        version_id: str | None,
        status: str,
        threats: Sequence[str] | None,
        reason: str | None,
    ) -> ScanOutcome:
        if status == INFECTED:
            # A malicious upload can never become this attachment's clean file.
            self._apply(attachment, status, threats, reason)
            return ScanOutcome("applied", attachment.id, attachment.status)
        early = dict(attachment.early_results or {})
        early[version_id] = {"status": status, "threats": list(threats or []), "reason": reason}
        Attachment.update(early_results=early).where(Attachment.id == attachment.id).execute()
        return ScanOutcome("stored-early", attachment.id, attachment.status)

    def _other_version(
        self,
        attachment: Attachment,
        version_id: str | None,
        status: str,
        threats: Sequence[str] | None,
    ) -> ScanOutcome:
        """A result for a version we did not record (a replayed upload) never changes the
        attachment; an infected one is still deleted and alerted."""
        if status == INFECTED and version_id:
            self.storage.delete_version(attachment.storage_key, version_id)
            self._alert(
                "malware_found",
                "Malware found in another version of an upload",
                attachment,
                threats,
            )
        log.info("scan_result_other_version", attachment=str(attachment.id), status=status)
        return ScanOutcome("other-version", attachment.id, attachment.status)

    def _alert(
        self, kind: str, title: str, attachment: Attachment, threats: Sequence[str] | None
    ) -> None:
        try:
            self.notifier.notify(
                kind,
                title,
                {
                    "attachment": str(attachment.id),
                    "owner": str(attachment.owner_id),
                    "threats": ", ".join(threats or []) or "-",
                    "detail": attachment.scan_detail or "-",
                },
            )
        except Exception as exc:  # noqa: BLE001 - an alert failure must not undo the result
            log.error("alert_failed", kind=kind, error=type(exc).__name__)

    # ----- maintenance --------------------------------------------------------------------

    def expire_pending(self) -> int:
        """Uploads still pending past their time-to-live (longer than the presigned POST's
        lifetime): mark them expired and delete whatever was uploaded. As the jobs role."""
        now = self.clock()
        with db.atomic():
            rows = list(
                Attachment.select()
                .where(Attachment.status == "pending_upload", Attachment.upload_expires_at <= now)
                .for_update("FOR UPDATE SKIP LOCKED")  # type: ignore[arg-type]  # peewee takes a lock clause as text; peewee's stubs says bool only
            )
            for row in rows:
                self.storage.delete_all_versions(row.storage_key)
                Attachment.update(status="expired", updated_at=now).where(
                    Attachment.id == row.id
                ).execute()
        return len(rows)

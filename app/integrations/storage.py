"""Object storage for attachments: S3 in AWS, the filesystem locally, one interface.

S3: uploads are presigned POSTs whose policy pins the exact key, the content-length range and the
Content-Type; `complete` finds the uploaded version with ListObjectVersions (HeadObject is
authorised as GetObject, which the bucket policy denies until the scan tags the object clean);
downloads are presigned GETs of one recorded version.

Local: uploads are a PUT to the API with a signed, single-use token; downloads are a GET from the
API with a signed, short-lived token. Both tokens are JWTs (PyJWT) under a key derived from
JWT_SECRET, with their own audience. That local-only part of the interface is ``served_files``:
the files the API holds and serves itself, ``None`` for S3, so no caller tests for a class.

This module imports no AWS SDK: the S3 client arrives built (app/bootstrap.py builds it only when
STORAGE_BACKEND=s3).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import quote

import jwt

from app.core.errors import AppError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

SCAN_TAG = "GuardDutyMalwareScanStatus"


class IncompleteUpload(AppError):
    """The upload's body ended before the size it declared: nothing was stored."""

    def __init__(self, received: int, declared: int):
        super().__init__(
            400,
            "UPLOAD_INCOMPLETE",
            "The upload ended before its declared size. Send the whole file again.",
            details=[{"field": "size", "message": f"received {received} of {declared} bytes"}],
        )


class FileGone(AppError):
    """A valid download link whose file is no longer stored."""

    def __init__(self) -> None:
        super().__init__(404, "NOT_FOUND", "The file is gone.")


@dataclass(frozen=True)
class UploadTicket:
    method: str
    url: str
    fields: dict[str, str]
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class StoredVersion:
    version_id: str
    etag: str
    size: int


@dataclass(frozen=True)
class ServedFile:
    """One stored version, opened for the API to send as a download."""

    stream: BinaryIO
    size: int
    content_type: str
    content_disposition: str


class ByteStream(Protocol):
    """What an upload body is read from (a request's bounded stream, a file)."""

    def read(self, size: int, /) -> bytes: ...


class ServedFiles(Protocol):
    """Files the API holds and serves itself (local mode): it takes their uploads (a PUT with a
    signed, single-use token) and serves their downloads (a GET with a signed, short-lived
    token). S3 takes and serves its own, so an S3 store has none."""

    def upload_claims(self, token: str, now: datetime) -> dict[str, str] | None: ...

    def write(self, key: str, stream: ByteStream, size: int) -> StoredVersion: ...

    def open_download(self, token: str, now: datetime) -> ServedFile | None: ...

    def path_of(self, key: str, version_id: str) -> Path: ...


class ObjectStorage(Protocol):
    @property
    def served_files(self) -> ServedFiles | None: ...

    def presign_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        expires_at: datetime,
        expires_in: int,
        claims: dict[str, str],
    ) -> UploadTicket: ...

    def latest_version(self, key: str) -> StoredVersion | None: ...

    def delete_all_versions(self, key: str) -> int: ...

    def delete_version(self, key: str, version_id: str) -> None: ...

    def presign_download(
        self,
        key: str,
        version_id: str,
        filename: str,
        content_type: str,
        expires_at: datetime,
        expires_in: int,
    ) -> str: ...

    def scan_tag(self, key: str, version_id: str) -> str | None: ...


def content_disposition(filename: str) -> str:
    """attachment; with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class S3Storage:
    def __init__(self, bucket: str, client: S3Client):
        self.bucket = bucket
        self.client = client

    @property
    def served_files(self) -> None:
        """S3 takes the uploads (presigned POST) and serves the downloads (presigned GET)."""
        return None

    def presign_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        expires_at: datetime,
        expires_in: int,
        claims: dict[str, str],
    ) -> UploadTicket:
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"bucket": self.bucket},
                ["eq", "$key", key],
                ["eq", "$Content-Type", content_type],
                ["content-length-range", size, size],
            ],
            ExpiresIn=expires_in,
        )
        return UploadTicket("POST", post["url"], dict(post["fields"]), {}, expires_at)

    def latest_version(self, key: str) -> StoredVersion | None:
        response = self.client.list_object_versions(Bucket=self.bucket, Prefix=key, MaxKeys=50)
        versions = [v for v in response.get("Versions", []) if v["Key"] == key]
        latest = next((v for v in versions if v.get("IsLatest")), None)
        if latest is None:
            return None
        return StoredVersion(latest["VersionId"], latest["ETag"].strip('"'), latest["Size"])

    def _versions(self, key: str) -> list[ObjectIdentifierTypeDef]:
        found: list[ObjectIdentifierTypeDef] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if entry["Key"] == key:
                    found.append({"Key": key, "VersionId": entry["VersionId"]})
        return found

    def delete_all_versions(self, key: str) -> int:
        versions = self._versions(key)
        for start in range(0, len(versions), 1000):
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": versions[start : start + 1000], "Quiet": True},
            )
        return len(versions)

    def delete_version(self, key: str, version_id: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)

    def presign_download(
        self,
        key: str,
        version_id: str,
        filename: str,
        content_type: str,
        expires_at: datetime,
        expires_in: int,
    ) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "VersionId": version_id,
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )

    def scan_tag(self, key: str, version_id: str) -> str | None:
        response = self.client.get_object_tagging(Bucket=self.bucket, Key=key, VersionId=version_id)
        for tag in response.get("TagSet", []):
            if tag["Key"] == SCAN_TAG:
                return tag["Value"]
        return None


class LocalTokens:
    """Signed upload and download tokens for local mode."""

    UPLOAD = "jat-local-upload"
    DOWNLOAD = "jat-local-download"

    def __init__(self, secret: str):
        self._key = hmac.new(secret.encode(), b"jat-local-storage", hashlib.sha256).hexdigest()

    def issue(self, audience: str, expires_at: datetime, **claims: Any) -> str:
        payload = {**claims, "aud": audience, "exp": int(expires_at.timestamp())}
        return jwt.encode(payload, self._key, algorithm="HS256")

    def read(self, audience: str, token: str, now: datetime) -> dict[str, Any] | None:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "aud"], "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            return None
        if claims["exp"] <= now.timestamp():
            return None
        return claims


class LocalStorage:
    """Files under ``root/<key>/<version id>``; every write is a new version, like S3."""

    def __init__(self, root: Path, api_url: str, tokens: LocalTokens):
        self.root = root
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens

    @property
    def served_files(self) -> LocalStorage:
        return self

    def upload_claims(self, token: str, now: datetime) -> dict[str, str] | None:
        """The claims of a valid upload token (the key, the attachment and its owner)."""
        return self.tokens.read(LocalTokens.UPLOAD, token, now)

    def open_download(self, token: str, now: datetime) -> ServedFile | None:
        """The version a valid download token names, opened; ``None`` for an invalid token."""
        claims = self.tokens.read(LocalTokens.DOWNLOAD, token, now)
        if claims is None:
            return None
        path = self.path_of(claims["key"], claims["version"])
        if not path.is_file():
            raise FileGone()
        return ServedFile(
            path.open("rb"),
            path.stat().st_size,
            claims["content_type"],
            content_disposition(claims["filename"]),
        )

    def _dir(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage folder")
        return path

    def path_of(self, key: str, version_id: str) -> Path:
        return self._dir(key) / version_id

    def presign_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        expires_at: datetime,
        expires_in: int,
        claims: dict[str, str],
    ) -> UploadTicket:
        """``claims`` (the attachment and its owner) travel signed inside the token."""
        token = self.tokens.issue(LocalTokens.UPLOAD, expires_at, key=key, **claims)
        return UploadTicket(
            "PUT",
            f"{self.api_url}/local-storage/uploads/{token}",
            {},
            {"Content-Type": content_type, "Content-Length": str(size)},
            expires_at,
        )

    def write(self, key: str, stream: ByteStream, size: int) -> StoredVersion:
        """Store exactly ``size`` bytes from ``stream`` as a new version."""
        directory = self._dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        version_id = uuid.uuid4().hex
        target = directory / version_id
        partial = directory / f".{version_id}.partial"
        digest = hashlib.md5(usedforsecurity=False)
        remaining = size
        with open(partial, "wb") as out:
            while remaining > 0:
                try:
                    chunk = stream.read(min(65536, remaining))
                except OSError:  # the client went away mid-body (gunicorn's NoMoreData)
                    chunk = b""
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                remaining -= len(chunk)
        if remaining:
            partial.unlink(missing_ok=True)
            raise IncompleteUpload(size - remaining, size)
        os.replace(partial, target)
        return StoredVersion(version_id, digest.hexdigest(), size)

    def latest_version(self, key: str) -> StoredVersion | None:
        directory = self._dir(key)
        if not directory.is_dir():
            return None
        versions = [p for p in directory.iterdir() if not p.name.startswith(".")]
        if not versions:
            return None
        latest = max(versions, key=lambda p: p.stat().st_mtime_ns)
        digest = hashlib.md5(latest.read_bytes(), usedforsecurity=False).hexdigest()
        return StoredVersion(latest.name, digest, latest.stat().st_size)

    def delete_all_versions(self, key: str) -> int:
        directory = self._dir(key)
        if not directory.is_dir():
            return 0
        count = sum(1 for p in directory.iterdir() if not p.name.startswith("."))
        shutil.rmtree(directory)
        return count

    def delete_version(self, key: str, version_id: str) -> None:
        self.path_of(key, version_id).unlink(missing_ok=True)

    def presign_download(
        self,
        key: str,
        version_id: str,
        filename: str,
        content_type: str,
        expires_at: datetime,
        expires_in: int,
    ) -> str:
        token = self.tokens.issue(
            LocalTokens.DOWNLOAD,
            expires_at,
            key=key,
            version=version_id,
            filename=filename,
            content_type=content_type,
        )
        return f"{self.api_url}/local-storage/downloads/{token}"

    def scan_tag(self, key: str, version_id: str) -> str | None:
        return None  # the local scanner reports directly; there is no tag to read

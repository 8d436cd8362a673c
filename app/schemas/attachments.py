"""Contracts of the attachment endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import SuccessEnvelope
from app.schemas.text import single_line

ContentType = Literal[
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "image/png",
    "image/jpeg",
]
AttachmentStatus = Literal[
    "pending_upload", "scanning", "clean", "infected", "scan_failed", "expired"
]


class AttachmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = single_line(min_length=1, max_length=1024, examples=["resume.pdf"])
    content_type: ContentType
    size: int = Field(
        ge=1, description="bytes; at most the configured UPLOAD_MAX_BYTES", examples=[48213]
    )


class AttachmentOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    filename: str
    content_type: ContentType
    size: int
    status: AttachmentStatus
    scanned_at: datetime | None
    threats: list[str]
    created_at: datetime
    updated_at: datetime
    download_url: str | None = Field(
        default=None,
        description="present only when status is clean; short-lived",
        json_schema_extra={"format": "uri"},
    )


class UploadOut(BaseModel):
    method: Literal["POST", "PUT"]
    url: str = Field(description="absolute", json_schema_extra={"format": "uri"})
    fields: dict[str, str] = Field(description="form fields to send before the file (POST)")
    headers: dict[str, str] = Field(description="headers to send (PUT)")
    expires_at: datetime


class AttachmentCreated(BaseModel):
    attachment: AttachmentOut
    upload: UploadOut


class AttachmentResponse(SuccessEnvelope[AttachmentOut]):
    pass


class AttachmentListResponse(SuccessEnvelope[list[AttachmentOut]]):
    pass


class AttachmentCreatedResponse(SuccessEnvelope[AttachmentCreated]):
    pass

"""Thin resources for attachments, and local mode's upload and download endpoints."""

from __future__ import annotations

import uuid
from typing import Any

import falcon

from app.core.errors import ValidationFailed
from app.core.settings import Settings
from app.core.spec import api_spec
from app.routes.auth import BEARER
from app.routes.common import create_request, ok, respond_created, responses
from app.schemas.attachments import (
    AttachmentCreate,
    AttachmentCreatedResponse,
    AttachmentListResponse,
    AttachmentResponse,
)
from app.services.attachments import AttachmentService
from app.services.idempotency import Created, IdempotentCreates

TAGS = ["attachments"]


class ApplicationAttachmentsResource:
    auth_required = True

    def __init__(self, service: AttachmentService, settings: Settings, creates: IdempotentCreates):
        self.service = service
        self.max_bytes = settings.upload_max_bytes
        self.creates = creates

    @api_spec.validate(
        operation_id="createAttachment",
        json=AttachmentCreate,
        resp=responses(201, AttachmentCreatedResponse, 401, 403, 404, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        application_id: uuid.UUID,
        json: AttachmentCreate,
    ) -> None:
        """Start an upload: the attachment (`pending_upload`) and `upload`, which the client
        follows exactly (a presigned S3 POST, or a PUT to this API locally). `size` is at most
        the configured upload limit; `Location` is the attachment's URL. With an
        `Idempotency-Key`, a retry answers the first result again and creates nothing."""
        if json.size > self.max_bytes:
            raise ValidationFailed(
                [{"field": "size", "message": f"must be at most {self.max_bytes} bytes"}]
            )
        user_id = req.context.current.user.id

        def create() -> Created:
            data = self.service.create(user_id, application_id, json)
            return Created(data, {"Location": f"/v1/attachments/{data['attachment']['id']}"})

        respond_created(req, resp, self.creates.run(create_request(req), user_id, create))

    @api_spec.validate(
        operation_id="listAttachments",
        resp=responses(200, AttachmentListResponse, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, application_id: uuid.UUID) -> None:
        """The application's attachments."""
        ok(req, resp, self.service.list(req.context.current.user.id, application_id))


class AttachmentResource:
    auth_required = True

    def __init__(self, service: AttachmentService):
        self.service = service

    @api_spec.validate(
        operation_id="getAttachment",
        resp=responses(200, AttachmentResponse, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, attachment_id: uuid.UUID) -> None:
        """One attachment; `download_url` only when it is clean."""
        ok(req, resp, self.service.get(req.context.current.user.id, attachment_id))

    @api_spec.validate(
        operation_id="deleteAttachment",
        resp=responses(204, None, 401, 403, 404),
        tags=TAGS,
        security=BEARER,
    )
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, attachment_id: uuid.UUID
    ) -> None:
        """Delete every stored version of the file, and the record."""
        self.service.delete(req.context.current.user.id, attachment_id)
        resp.status = 204


class CompleteResource:
    auth_required = True

    def __init__(self, service: AttachmentService):
        self.service = service

    @api_spec.validate(
        operation_id="completeAttachmentUpload",
        resp=responses(200, AttachmentResponse, 401, 403, 404, 409, 422),
        tags=TAGS,
        security=BEARER,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, attachment_id: uuid.UUID) -> None:
        """After uploading: record the object's version and start waiting for the scan.
        Idempotent."""
        ok(req, resp, self.service.complete(req.context.current.user.id, attachment_id))


class DownloadResource:
    auth_required = True

    def __init__(self, service: AttachmentService):
        self.service = service

    @api_spec.validate(
        operation_id="downloadAttachment",
        resp=responses(302, None, 401, 403, 404, 409),
        tags=TAGS,
        security=BEARER,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, attachment_id: uuid.UUID) -> None:
        """Redirect (302) to a short-lived URL of the scanned version; 409
        `ATTACHMENT_NOT_AVAILABLE` unless the file is clean."""
        url = self.service.download_url(req.context.current.user.id, attachment_id)
        raise falcon.HTTPFound(url)


class LocalUploadResource:
    """Local mode only: the PUT that `upload` describes, authorised by its signed token."""

    def __init__(self, service: AttachmentService):
        self.service = service

    def on_put(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        data = self.service.receive_local_upload(
            token, req.bounded_stream, req.content_length, req.content_type
        )
        ok(req, resp, data)


class LocalDownloadResource:
    """Local mode only: the short-lived download URL of a clean file's recorded version."""

    def __init__(self, service: AttachmentService):
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        served = self.service.open_local_download(token)
        resp.content_type = served.content_type
        resp.set_header("Content-Disposition", served.content_disposition)
        resp.stream = served.stream
        resp.content_length = served.size


def add_routes(
    app: falcon.App[Any, Any],
    service: AttachmentService,
    settings: Settings,
    creates: IdempotentCreates,
) -> None:
    app.add_route(
        "/v1/applications/{application_id:uuid}/attachments",
        ApplicationAttachmentsResource(service, settings, creates),
    )
    app.add_route("/v1/attachments/{attachment_id:uuid}", AttachmentResource(service))
    app.add_route("/v1/attachments/{attachment_id:uuid}/complete", CompleteResource(service))
    app.add_route("/v1/attachments/{attachment_id:uuid}/download", DownloadResource(service))
    if service.serves_files:
        app.add_route("/local-storage/uploads/{token}", LocalUploadResource(service))
        app.add_route("/local-storage/downloads/{token}", LocalDownloadResource(service))

"""Helpers every resource shares: the success envelope and client details."""

from __future__ import annotations

from typing import Any

import falcon
from spectree import Response

from app.core.errors import meta
from app.schemas.common import ErrorEnvelope
from app.services.idempotency import HEADER as IDEMPOTENCY_KEY_HEADER
from app.services.idempotency import REPLAYED_HEADER, CreateRequest


def ok(
    req: falcon.Request, resp: falcon.Response, data: Any, *, status: int = 200, **extra: Any
) -> None:
    resp.status = status
    resp.media = {"success": True, "data": data, "meta": meta(req, **extra)}


def create_request(req: falcon.Request) -> CreateRequest:
    """What ``IdempotentCreates.run`` needs of the request; the body is read only when an
    ``Idempotency-Key`` makes it part of the key's fingerprint."""
    key = req.get_header(IDEMPOTENCY_KEY_HEADER)
    body = req.get_media(default_when_empty=None) if key is not None else None
    return CreateRequest(key, req.method, req.path, body)


def respond_created(req: falcon.Request, resp: falcon.Response, outcome: Any) -> None:
    """The answer of a create run through ``IdempotentCreates.run``: first time or replayed."""
    result, replayed = outcome
    for name, value in result.headers.items():
        resp.set_header(name, value)
    if replayed:
        resp.set_header(REPLAYED_HEADER, "true")
    ok(req, resp, result.data, status=result.status)


def responses(status: int, model: Any, *errors: int | tuple[int, str]) -> Response:
    """spectree responses: the success model plus the error envelope for each error status. An
    error given as ``(status, "CODE: when it happens")`` is documented with that description,
    and the document's example for it carries that code."""
    codes: dict[str, Any] = {f"HTTP_{status}": model}
    for error in errors:
        if isinstance(error, tuple):
            code, description = error
            codes[f"HTTP_{code}"] = (ErrorEnvelope, description)
        else:
            codes[f"HTTP_{error}"] = ErrorEnvelope
    return Response(**codes)


def client_ip(req: falcon.Request, trusted_hops: int) -> str | None:
    """The address the trusted proxies saw. Each trusted hop (App Runner's front end, an ALB)
    appends one entry to X-Forwarded-For, so the client is ``trusted_hops`` from the right;
    anything further left was written by the client and is not believed."""
    if trusted_hops <= 0:
        return req.remote_addr
    forwarded = [part.strip() for part in (req.get_header("X-Forwarded-For") or "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) >= trusted_hops:
        return forwarded[-trusted_hops][:64]
    return req.remote_addr

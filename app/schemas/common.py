"""Envelope models shared by every operation (docs/design.md §4)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Meta(BaseModel):
    request_id: str | None = None
    timestamp: str


class SuccessEnvelope(BaseModel, Generic[T]):
    success: bool = True
    data: T
    meta: Meta


class PageMeta(Meta):
    """A list's ``meta``: where the next page starts, and the page's size and order."""

    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )
    limit: int
    sort: str


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody
    meta: Meta

"""Contracts of the job-application endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)

from app.schemas.attachments import AttachmentOut
from app.schemas.common import PageMeta, SuccessEnvelope
from app.schemas.text import HTTP_URL_PATTERN, multi_line, single_line

Status = Literal[
    "wishlist", "applied", "screening", "interviewing", "offer", "accepted", "rejected", "withdrawn"
]
Sort = Literal["updated_at", "-updated_at", "applied_on", "-applied_on", "company", "-company"]

# ISO 4217 active codes.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)
MAX_SALARY = 1_000_000_000
MAX_VERSION = 2**31 - 1  # the column is a PostgreSQL integer
JobUrl = Field(
    default=None, max_length=2048, pattern=HTTP_URL_PATTERN, json_schema_extra={"format": "uri"}
)


def _query_bool(value: Any) -> Any:
    """Query booleans are exactly `true` or `false`, as the schema says; not 0, 1, yes or on."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return value


class ApplicationFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company: str | None = single_line(None, min_length=1, max_length=200)
    role_title: str | None = single_line(None, min_length=1, max_length=200)
    status: Status | None = None
    applied_on: date | None = None
    job_url: str | None = JobUrl
    location: str | None = single_line(None, max_length=200)
    source: str | None = single_line(None, max_length=100)
    salary_min: int | None = Field(default=None, ge=0, le=MAX_SALARY)
    salary_max: int | None = Field(default=None, ge=0, le=MAX_SALARY)
    salary_currency: str | None = single_line(None, examples=["EUR"])
    notes: str | None = multi_line(None, max_length=10_000)
    next_action_at: datetime | None = None
    archived: StrictBool | None = None

    _url = field_validator("job_url")(classmethod(lambda cls, value: _http_url(value)))

    @field_validator("salary_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in CURRENCIES:
            raise ValueError("must be an ISO 4217 currency code")
        return value.upper() if value else value

    @field_validator("next_action_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-14:00 is past year 9999 in UTC
            raise ValueError("is out of range") from exc

    @field_validator("salary_max")
    @classmethod
    def _salary(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("salary_min")
        if value is not None and low is not None and low > value:
            raise ValueError("must not be less than salary_min")
        return value


def _absent(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null: its schema has no (null) default."""
    schema.pop("default", None)


class ApplicationCreate(ApplicationFields):
    company: str = single_line(min_length=1, max_length=200, examples=["Acme Corp"])
    role_title: str = single_line(min_length=1, max_length=200, examples=["Backend Engineer"])
    status: Status = "applied"
    archived: StrictBool = False
    status_note: str | None = multi_line(None, max_length=2000)


class ApplicationUpdate(ApplicationFields):
    """Only the fields sent change. `null` clears an optional field; the four fields every
    application has (company, role_title, status, archived) cannot be null."""

    company: str = single_line(None, min_length=1, max_length=200, json_schema_extra=_absent)
    role_title: str = single_line(None, min_length=1, max_length=200, json_schema_extra=_absent)
    status: Status = Field(default=None, json_schema_extra=_absent)  # type: ignore[arg-type]  # None means "not sent"; _absent keeps null out of the schema
    archived: StrictBool = Field(default=None, json_schema_extra=_absent)  # type: ignore[assignment]  # as status: None means "not sent"
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="the version this change is based on; this or an If-Match header is required",
    )
    status_note: str | None = multi_line(None, max_length=2000)


class ApplicationOut(BaseModel):
    id: uuid.UUID
    company: str
    role_title: str
    status: Status
    applied_on: date | None
    job_url: str | None
    location: str | None
    source: str | None
    salary_min: int | None
    salary_max: int | None
    salary_currency: str | None
    notes: str | None
    next_action_at: datetime | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    version: int


class EventOut(BaseModel):
    id: uuid.UUID
    from_status: Status | None
    to_status: Status
    note: str | None
    created_at: datetime


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Status] | None = None
    q: str | None = single_line(None, min_length=1, max_length=200)
    applied_from: date | None = None
    applied_to: date | None = None
    archived: QueryBool | None = None
    sort: Sort = "-updated_at"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = single_line(None, min_length=1, max_length=512)

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # `status=a,b` is accepted as well as `status=a&status=b`; an empty part (`status=`)
        # is not a status, so it is refused as the schema refuses it.
        if isinstance(value, str):
            return value.split(",")
        if isinstance(value, list):
            return [
                part
                for item in value
                for part in (item.split(",") if isinstance(item, str) else [item])
            ]
        return value

    @field_validator("applied_to")
    @classmethod
    def _range(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("applied_from")
        if value is not None and start is not None and start > value:
            raise ValueError("must not be before applied_from")
        return value


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tz: str = single_line("UTC", max_length=64, examples=["Europe/Paris"])


class WeekCount(BaseModel):
    week: str = Field(examples=["2026-W48"])
    starts_on: date
    count: int


class StatsOut(BaseModel):
    by_status: dict[str, int]
    total: int
    response_rate: float | None
    per_week: list[WeekCount]
    tz: str


class DeleteAccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = single_line(min_length=1, max_length=1024)


class ApplicationResponse(SuccessEnvelope[ApplicationOut]):
    pass


class ApplicationListMeta(PageMeta):
    sort: Sort


class ApplicationListResponse(SuccessEnvelope[list[ApplicationOut]]):
    meta: ApplicationListMeta


class EventListResponse(SuccessEnvelope[list[EventOut]]):
    pass


class StatsResponse(SuccessEnvelope[StatsOut]):
    pass


class ExportedUser(BaseModel):
    id: uuid.UUID
    email: str
    email_verified_at: datetime | None
    password_changed_at: datetime
    created_at: datetime


class ExportedApplication(ApplicationOut):
    events: list[EventOut]


class ExportedSession(BaseModel):
    family_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_agent: str | None
    ip: str | None


class ExportedSecurityEvent(BaseModel):
    type: str
    created_at: datetime
    ip: str | None
    user_agent: str | None


class ExportedFactor(BaseModel):
    type: str = Field(examples=["totp"])
    name: str
    created_at: datetime
    confirmed_at: datetime | None
    last_used_at: datetime | None
    remaining: int | None = Field(description="recovery codes: how many are unused")


class ExportOut(BaseModel):
    exported_at: datetime
    user: ExportedUser
    applications: list[ExportedApplication]
    attachments: list[AttachmentOut]
    sessions: list[ExportedSession]
    security_events: list[ExportedSecurityEvent]
    second_factors: list[ExportedFactor]


class ExportResponse(SuccessEnvelope[ExportOut]):
    pass

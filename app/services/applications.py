"""Job applications: listing, changes with their timeline, stats, export and account deletion.

Every operation runs in one transaction that sets ``app.user_id`` for row-level security, so a
query that forgot its owner filter still sees only the caller's rows. The explicit owner filters
stay as well: they are what the indexes are built on.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee

from app.core.clock import Clock
from app.core.database import PreparedSelect, UserRead, tuples_as_user, user_transaction
from app.core.errors import AppError, NotFound, ValidationFailed
from app.models import (
    STATUSES,
    Application,
    ApplicationEvent,
    Attachment,
    Passkey,
    RefreshToken,
    SecurityEvent,
    User,
)
from app.schemas.applications import ApplicationCreate, ApplicationUpdate, ListQuery

if TYPE_CHECKING:
    from app.services.attachments import AttachmentService

# Sort name -> the indexed key expression (see migrations/003_applications.py).
SORT_KEYS = {
    "updated_at": Application.updated_at,
    "applied_on": peewee.fn.COALESCE(Application.applied_on, peewee.SQL("DATE '0001-01-01'")),
    "company": peewee.fn.LOWER(Application.company),
}
PAST_APPLIED = ("screening", "interviewing", "offer", "accepted", "rejected")
AT_OR_BEYOND_APPLIED = ("applied", *PAST_APPLIED)
WEEKS = 12
_WORD = re.compile(r"\w+", re.UNICODE)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")

APPLICATION_FIELDS = (
    "company", "role_title", "status", "applied_on", "job_url", "location", "source",
    "salary_min", "salary_max", "salary_currency", "notes", "next_action_at", "archived",
)  # fmt: skip


class VersionConflict(AppError):
    def __init__(self, current: int):
        super().__init__(
            409,
            "VERSION_CONFLICT",
            "This application was changed by someone else. Reload it and try again.",
            details=[{"field": "version", "message": f"the current version is {current}"}],
        )


def expected_version(body_version: int | None, if_match: int | None) -> int:
    """The version a change is based on, from the body or If-Match; one of them is required,
    so a client cannot overwrite someone else's change by leaving both out."""
    if body_version is not None and if_match is not None and body_version != if_match:
        raise AppError(
            400,
            "VERSION_MISMATCH",
            "If-Match and version name different versions; send one, or the same in both.",
            details=[
                {
                    "field": "version",
                    "message": f"is {body_version} but If-Match is {if_match}",
                }
            ],
        )
    if body_version is not None:
        return body_version
    if if_match is not None:
        return if_match
    raise AppError(
        428,
        "PRECONDITION_REQUIRED",
        "Send the version you are changing: `version` in the body or an If-Match header.",
    )


# An application as every response carries it, in order: a page's rows go from the cursor
# straight into this shape (``ApplicationService.list``).
RESPONSE_FIELDS = ("id", *APPLICATION_FIELDS, "created_at", "updated_at", "version")


def serialise(application: Application) -> dict[str, Any]:
    return {
        "id": str(application.id),
        **{name: getattr(application, name) for name in APPLICATION_FIELDS},
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "version": application.version,
    }


def serialise_event(event: ApplicationEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "created_at": event.created_at,
    }


def encode_cursor(sort: str, key: Any, row_id: uuid.UUID) -> str:
    if isinstance(key, datetime):
        key = key.astimezone(UTC)  # cursors carry UTC only; decode_cursor refuses other offsets
    value = key.isoformat() if isinstance(key, date | datetime) else key
    raw = json.dumps([sort, value, str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        row_id = uuid.UUID(row_id)
        field = sort.lstrip("-")
        if cursor_sort != sort:
            raise ValueError("the cursor belongs to another sort order")
        if not isinstance(value, str) or _CONTROL_CHARACTER.search(value):
            raise ValueError("the cursor's key is not text this service wrote")
        if field == "updated_at":
            value = datetime.fromisoformat(value)
            # Only the UTC this service writes: a forged offset such as +23:59 is one Python
            # parses and PostgreSQL refuses.
            if value.utcoffset() != timedelta(0):
                raise ValueError("the cursor's timestamp is not in UTC")
        elif field == "applied_on":
            value = date.fromisoformat(value)
    except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error) as exc:
        raise ValidationFailed(
            [{"field": "cursor", "message": "is not a cursor from this listing"}]
        ) from exc
    return value, row_id


def prefix_query(text: str) -> str | None:
    """User text as a safe tsquery: every word must match, each as a prefix."""
    words = _WORD.findall(text.lower())[:16]
    return " & ".join(f"{word}:*" for word in words) or None


def _page_query(
    sort: str,
    statuses: int,
    search: bool,
    applied_from: bool,
    applied_to: bool,
    archived: bool,
    after: bool,
) -> Callable[..., peewee.SelectBase]:
    """How to build the SQL of one shape of list query (the sort, and which filters are set):
    every value arrives as a placeholder, in the order ``ApplicationService.list`` passes them,
    and the text is built once per shape (``PreparedSelect``), not per request."""
    descending = sort.startswith("-")
    key = SORT_KEYS[sort.lstrip("-")]

    def build(owner: Any, *values: Any) -> peewee.SelectBase:
        rest = list(values)
        select = Application.select(
            *(getattr(Application, name) for name in RESPONSE_FIELDS), key.alias("sort_key")
        ).where(Application.owner == owner)
        if statuses:
            select = select.where(Application.status.in_([rest.pop(0) for _ in range(statuses)]))
        if search:
            terms = peewee.fn.to_tsquery("simple", rest.pop(0))
            select = select.where(peewee.Expression(peewee.SQL("search"), "@@", terms))
        if applied_from:
            select = select.where(Application.applied_on >= rest.pop(0))
        if applied_to:
            select = select.where(Application.applied_on <= rest.pop(0))
        if archived:
            select = select.where(Application.archived == rest.pop(0))
        if after:
            bound = peewee.Tuple(rest.pop(0), rest.pop(0))
            after_key = peewee.Tuple(key, Application.id)
            select = select.where(after_key < bound if descending else after_key > bound)
        order = (key.desc(), Application.id.desc()) if descending else (key, Application.id)
        return select.order_by(*order).limit(rest.pop(0))

    return build


# One PreparedSelect per shape of list query: at most the six sorts x the filter combinations.
_PAGES: dict[tuple[str, int, bool, bool, bool, bool, bool], PreparedSelect] = {}
# One application, by id and owner, in the response's shape.
_ONE = PreparedSelect(
    lambda application_id, owner: (
        Application.select(*(getattr(Application, name) for name in RESPONSE_FIELDS))
        .where(Application.id == application_id, Application.owner == owner)
        .limit(1)
    ),
    arity=2,
)


class ApplicationService:
    def __init__(self, clock: Clock, attachments: AttachmentService) -> None:
        self.clock = clock
        self.attachments = attachments

    # ----- reads --------------------------------------------------------------------------

    def list(self, user_id: uuid.UUID, query: ListQuery) -> tuple[list[dict[str, Any]], str | None]:
        values: list[Any] = [str(user_id)]
        if query.status:
            values += query.status
        if query.q:
            terms = prefix_query(query.q)
            if terms is None:
                return [], None
            values.append(terms)
        if query.applied_from:
            values.append(query.applied_from)
        if query.applied_to:
            values.append(query.applied_to)
        if query.archived is not None:
            values.append(query.archived)
        if query.cursor:
            key, row_id = decode_cursor(query.cursor, query.sort)
            values += [key, str(row_id)]
        values.append(query.limit + 1)
        shape = (
            query.sort,
            len(query.status or ()),
            bool(query.q),
            bool(query.applied_from),
            bool(query.applied_to),
            query.archived is not None,
            bool(query.cursor),
        )
        page = _PAGES.get(shape)
        if page is None:
            page = _PAGES.setdefault(shape, PreparedSelect(_page_query(*shape), len(values)))
        rows = tuples_as_user(user_id, *page.statement(*values))
        more = len(rows) > query.limit
        items = []
        for row in rows[: query.limit]:
            # The row's last column, the sort key, is not part of the response.
            item = dict(zip(RESPONSE_FIELDS, row[:-1], strict=True))
            item["id"] = str(item["id"])
            items.append(item)
        next_cursor = (
            encode_cursor(query.sort, rows[query.limit - 1][-1], uuid.UUID(items[-1]["id"]))
            if more and items
            else None
        )
        return items, next_cursor

    def _get(
        self, user_id: uuid.UUID, application_id: uuid.UUID, *, lock: bool = False
    ) -> Application:
        select = Application.select().where(
            Application.id == application_id, Application.owner == user_id
        )
        row: Application | None = (select.for_update() if lock else select).first()
        if row is None:  # another user's id looks exactly like a missing one
            raise NotFound("No application with this id.")
        return row

    @staticmethod
    def one(user_id: uuid.UUID, application_id: uuid.UUID) -> UserRead:
        """The read of one application in the response's shape, to go with the request's
        authentication (``UserRead``); ``of`` turns its row into the response."""
        return _ONE.user_read(str(application_id), str(user_id))

    @staticmethod
    def of(row: tuple[Any, ...] | None) -> dict[str, Any]:
        """The response for the row ``one`` read: all NULL when no application of the user has
        the id (another user's id looks exactly like a missing one)."""
        if row is None or row[0] is None:
            raise NotFound("No application with this id.")
        item = dict(zip(RESPONSE_FIELDS, row, strict=True))
        item["id"] = str(item["id"])
        return item

    def events(
        self, user_id: uuid.UUID, application_id: uuid.UUID
    ) -> builtins.list[dict[str, Any]]:
        with user_transaction(user_id):
            self._get(user_id, application_id)
            rows = (
                ApplicationEvent.select()
                .where(ApplicationEvent.application == application_id)
                .order_by(ApplicationEvent.created_at, ApplicationEvent.id)
            )
            return [serialise_event(row) for row in rows]

    # ----- writes -------------------------------------------------------------------------

    def create(self, user_id: uuid.UUID, body: ApplicationCreate) -> dict[str, Any]:
        now = self.clock()
        values = body.model_dump(include=set(APPLICATION_FIELDS))
        with user_transaction(user_id):
            application = Application.create(
                id=uuid.uuid4(), owner=user_id, created_at=now, updated_at=now, version=1, **values
            )
            ApplicationEvent.create(
                application=application,
                owner=user_id,
                from_status=None,
                to_status=application.status,
                note=body.status_note,
                created_at=now,
            )
        return serialise(application)

    def update(
        self,
        user_id: uuid.UUID,
        application_id: uuid.UUID,
        body: ApplicationUpdate,
        if_match: int | None,
    ) -> dict[str, Any]:
        expected = expected_version(body.version, if_match)
        changes = body.model_dump(include=set(APPLICATION_FIELDS), exclude_unset=True)
        for required in ("company", "role_title", "status", "archived"):
            if required in changes and changes[required] is None:
                raise ValidationFailed([{"field": required, "message": "cannot be null"}])
        now = self.clock()
        with user_transaction(user_id):
            current = self._get(user_id, application_id, lock=True)
            if expected != current.version:
                raise VersionConflict(current.version)
            low = changes.get("salary_min", current.salary_min)
            high = changes.get("salary_max", current.salary_max)
            if low is not None and high is not None and low > high:
                raise ValidationFailed(
                    [{"field": "salary_max", "message": "must not be less than salary_min"}]
                )
            status_changed = "status" in changes and changes["status"] != current.status
            if changes:
                Application.update(
                    **changes, updated_at=now, version=Application.version + 1
                ).where(Application.id == current.id).execute()
            if status_changed:
                ApplicationEvent.create(
                    application=current.id,
                    owner=user_id,
                    from_status=current.status,
                    to_status=changes["status"],
                    note=body.status_note,
                    created_at=now,
                )
            return serialise(self._get(user_id, application_id))

    def delete(self, user_id: uuid.UUID, application_id: uuid.UUID) -> None:
        """Stored files go first: a failure after that leaves rows pointing at nothing, never
        files nobody can reach."""
        self.attachments.delete_objects(user_id, application_id)
        with user_transaction(user_id):
            deleted = (
                Application.delete()
                .where(Application.id == application_id, Application.owner == user_id)
                .execute()
            )
        if not deleted:
            raise NotFound("No application with this id.")

    # ----- stats --------------------------------------------------------------------------

    def stats(self, user_id: uuid.UUID, tz_name: str) -> dict[str, Any]:
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(
                [{"field": "tz", "message": "is not an IANA time zone name"}]
            ) from exc
        today = self.clock().astimezone(zone).date()
        this_week = today - timedelta(days=today.weekday())
        first_week = this_week - timedelta(weeks=WEEKS - 1)
        # The day an application counts for: applied_on, else its creation day in ``tz``.
        day = peewee.fn.COALESCE(
            Application.applied_on,
            peewee.SQL("(created_at AT TIME ZONE %s)::date", (tz_name,)),
        )
        week = peewee.fn.date_trunc("week", day).cast("date")
        with user_transaction(user_id):
            by_status: dict[str, int] = dict(
                Application.select(Application.status, peewee.fn.COUNT(Application.id))  # type: ignore[arg-type]  # peewee's stubs types the rows of .tuples() as model instances
                .where(Application.owner == user_id)
                .group_by(Application.status)
                .tuples()
            )
            weekly: dict[date, int] = dict(
                Application.select(week, peewee.fn.COUNT(Application.id))  # type: ignore[arg-type]  # peewee's stubs types the rows of .tuples() as model instances
                .where(Application.owner == user_id, day >= first_week, day <= today)
                .group_by(week)
                .tuples()
            )
        counts = {status: by_status.get(status, 0) for status in STATUSES}
        denominator = sum(counts[s] for s in AT_OR_BEYOND_APPLIED)
        numerator = sum(counts[s] for s in PAST_APPLIED)
        per_week = []
        for index in range(WEEKS):
            starts = first_week + timedelta(weeks=index)
            iso = starts.isocalendar()
            per_week.append(
                {
                    "week": f"{iso.year}-W{iso.week:02d}",
                    "starts_on": starts,
                    "count": weekly.get(starts, 0),
                }
            )
        return {
            "by_status": counts,
            "total": sum(counts.values()),
            "response_rate": round(numerator / denominator, 4) if denominator else None,
            "per_week": per_week,
            "tz": tz_name,
        }

    # ----- the account as a whole ---------------------------------------------------------

    def export(self, user: User) -> dict[str, Any]:
        with user_transaction(user.id):
            applications = list(
                Application.select()
                .where(Application.owner == user.id)
                .order_by(Application.created_at)
            )
            events: dict[uuid.UUID, list[dict[str, Any]]] = {}
            for event in (
                ApplicationEvent.select()
                .where(ApplicationEvent.owner == user.id)
                .order_by(ApplicationEvent.created_at)
            ):
                events.setdefault(event.application_id, []).append(serialise_event(event))
            sessions = list(
                RefreshToken.select()
                .where(RefreshToken.user == user.id)
                .order_by(RefreshToken.created_at)
            )
            security = list(
                SecurityEvent.select()
                .where(SecurityEvent.user == user.id)
                .order_by(SecurityEvent.created_at)
            )
        return {
            "exported_at": self.clock(),
            "user": {
                "id": str(user.id),
                "email": user.email,
                "email_verified_at": user.email_verified_at,
                "password_changed_at": user.password_changed_at,
                "created_at": user.created_at,
            },
            "applications": [
                {**serialise(app), "events": events.get(app.id, [])} for app in applications
            ],
            "attachments": self.attachments.export(user.id),
            "sessions": [
                {
                    "family_id": str(row.family_id),
                    "created_at": row.created_at,
                    "expires_at": row.expires_at,
                    "revoked_at": row.revoked_at,
                    "user_agent": row.user_agent,
                    "ip": row.ip,
                }
                for row in sessions
            ],
            "security_events": [
                {
                    "type": row.event_type,
                    "created_at": row.created_at,
                    "ip": row.ip,
                    "user_agent": row.user_agent,
                }
                for row in security
            ],
        }

    def delete_account(self, user: User) -> None:
        """Everything the user owns goes in one transaction: applications and events (under
        RLS, as the user), then the account, which cascades to sessions, tokens and events."""
        self.attachments.delete_objects(user.id)
        with user_transaction(user.id):
            Attachment.delete().where(Attachment.owner == user.id).execute()
            Passkey.delete().where(Passkey.owner == user.id).execute()
            ApplicationEvent.delete().where(ApplicationEvent.owner == user.id).execute()
            Application.delete().where(Application.owner == user.id).execute()
            User.delete().where(User.id == user.id).execute()

"""PostgreSQL access: one pooled peewee database per process, bound to every model.

Connections are opened lazily (so ``/health`` never touches the database), checked out once per
request and returned to the pool when the response goes out, whether or not the request failed.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import peewee
import psycopg2.extensions
from playhouse.pool import PooledPostgresqlDatabase

from app.core.settings import Settings

# Models bind to this proxy; create_app (or a job) initialises it with a real database.
db = peewee.DatabaseProxy()

USER_SETTING = "app.user_id"


class DatabaseUnavailable(Exception):
    """The database could not be reached or did not answer in time."""


def connect_options(settings: Settings, *, application_name: str) -> dict[str, Any]:
    """libpq options that bound every wait, so a hung server cannot hang a worker forever."""
    timeout_ms = settings.db_statement_timeout_ms
    return {
        "connect_timeout": settings.db_connect_timeout,
        "application_name": application_name,
        # A dead peer is noticed within seconds instead of the kernel's default hours.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": max(timeout_ms, 1000) + 5000 if timeout_ms else 30000,
        "options": (
            f"-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout=60000"
        ),
    }


class RecentlyCheckedPool(PooledPostgresqlDatabase):  # type: ignore[misc]  # playhouse has no stubs (see pyproject.toml)
    """peewee's pool pings every connection (``SELECT 1``) on check-out. A connection that was
    checked in moments ago is not pinged again: that saves one round trip per request, and a
    connection that died in between still fails its first query, is discarded, and the
    request answers 503 (keepalives and tcp_user_timeout bound how long that can take)."""

    PING_AFTER_IDLE_SECONDS = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked_in: dict[int, float] = {}

    def _is_closed(self, conn: Any) -> bool:
        import psycopg2.extensions as pg

        if conn.closed:
            return True
        idle_since = self._checked_in.get(id(conn))
        recently = idle_since is not None and (
            time.monotonic() - idle_since < self.PING_AFTER_IDLE_SECONDS
        )
        if recently and conn.get_transaction_status() == pg.TRANSACTION_STATUS_IDLE:
            return False
        return bool(super()._is_closed(conn))

    def _can_reuse(self, conn: Any) -> bool:
        # A connection closed under a deadline (app/core/db_deadline.py) never goes back.
        return not conn.closed and bool(super()._can_reuse(conn))

    def _close(self, conn: Any, close_conn: bool = False) -> Any:
        self._checked_in[id(conn)] = time.monotonic()
        return super()._close(conn, close_conn)

    def _close_raw(self, conn: Any) -> Any:
        self._checked_in.pop(id(conn), None)
        return super()._close_raw(conn)


class PreparingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers the statements it has prepared on its server
    session (``PREPARE``), under the name each was given. The names live on the connection
    object itself, so a new connection (after a failure or a recycle) starts with none and
    prepares again; nothing can name a statement a session does not have."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: dict[str, str | None] = {}


# At most this many statements prepared per connection; later ones run as before. The reads
# that prepare (authentication, PreparedSelect texts) come in a bounded number of shapes.
MAX_PREPARED_PER_CONNECTION = 64
_NUMBERED: dict[str, tuple[str, int]] = {}
_PLACEHOLDER = re.compile(r"%[s%]")


def _numbered(sql: str) -> tuple[str, int]:
    """``sql`` with psycopg2's ``%s`` placeholders as PostgreSQL's ``$1``, ``$2``... and their
    count (``%%`` is a literal ``%``)."""
    known = _NUMBERED.get(sql)
    if known is None:
        count = 0

        def number(match: re.Match[str]) -> str:
            nonlocal count
            if match.group() == "%%":
                return "%"
            count += 1
            return f"${count}"

        known = (_PLACEHOLDER.sub(number, sql), count)
        if len(_NUMBERED) < 4 * MAX_PREPARED_PER_CONNECTION:
            _NUMBERED[sql] = known
    return known


def prepared(sql: str, database: peewee.Database | peewee.DatabaseProxy = db) -> str:
    """What to send for ``sql`` (a statement whose text is fixed, outside any transaction): the
    ``EXECUTE`` of the statement this connection prepared for it, preparing it first (its own
    round trip, once per connection) if it has not; ``sql`` itself when it cannot be prepared.

    PostgreSQL then parses, rewrites (row-level security included) and plans it once per
    connection instead of on every request, which is most of the server's time for these
    short statements. Row-level security still holds: policies that read ``current_setting`` are
    evaluated when the statement runs, not when it is planned. ``database`` is the pool whose
    connection runs it (the request's, unless a service has its own: the rate limiter)."""
    connection = database.connection()
    names = getattr(connection, "prepared", None)
    if names is None or database.in_transaction():
        return sql
    if sql in names:
        name = names[sql]
    elif len(names) >= MAX_PREPARED_PER_CONNECTION:
        return sql
    else:
        name = f"jat_{len(names)}"
        text, _ = _numbered(sql)
        try:
            database.execute_sql(f"PREPARE {name} AS {text}")
        except peewee.ProgrammingError:
            name = None  # a parameter whose type only its value decides: sent as it is
        names[sql] = name
    if name is None:
        return sql
    count = _numbered(sql)[1]
    return f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"


def make_database(
    url: str,
    settings: Settings,
    *,
    application_name: str = "jobapptracker-api",
    pool_size: int | None = None,
) -> PooledPostgresqlDatabase:
    return RecentlyCheckedPool(
        url,
        max_connections=pool_size or settings.pool_size,
        stale_timeout=300,
        timeout=settings.db_connect_timeout,
        connection_factory=PreparingConnection,
        **connect_options(settings, application_name=application_name),
    )


def init_database(url: str, settings: Settings, **kwargs: Any) -> PooledPostgresqlDatabase:
    database = make_database(url, settings, **kwargs)
    db.initialize(database)
    return database


def release_connection() -> None:
    """Return this thread's connection to the pool (rolled back if a transaction was open)."""
    if db.obj is not None and not db.is_closed():
        db.close()


@contextlib.contextmanager
def user_transaction(user_id: UUID | str | None) -> Iterator[None]:
    """One transaction with the row-level-security user set for its duration only.

    ``set_config(..., true)`` is transaction-local, so a pooled connection never carries one
    user's identity into another request.
    """
    with db.atomic():
        db.execute_sql(
            "SELECT set_config(%s, %s, true)",
            (USER_SETTING, "" if user_id is None else str(user_id)),
        )
        yield


def execute_as_user(
    user_id: UUID | str, sql: str, params: Sequence[Any], *, prepare: bool = False
) -> Any:
    """One read with the row-level-security user set, in one round trip.

    ``set_config(..., true)`` and the query go to PostgreSQL as one simple-query message.
    Outside an explicit transaction (peewee runs psycopg2 in autocommit mode) PostgreSQL runs
    the statements of one such message as a single implicit transaction: the setting is in
    force for the query and gone when the message completes, exactly as with
    ``user_transaction`` but without its BEGIN and COMMIT round trips. Inside a transaction
    this falls back to ``user_transaction``, which sets the user with a savepoint's scope.
    With ``prepare`` (a text fixed per shape of query, never one built from data), the query
    goes as the ``EXECUTE`` of the connection's prepared statement for it (``prepared``).
    """
    if db.in_transaction():
        with user_transaction(user_id):
            return db.execute_sql(sql, params)
    message = "SELECT set_config(%s, %s, true); " + (prepared(sql) if prepare else sql)
    return db.execute_sql(message, (USER_SETTING, str(user_id), *params))


def execute_prepared(
    sql: str, params: Sequence[Any], database: peewee.Database | peewee.DatabaseProxy = db
) -> Any:
    """``database.execute_sql`` for a fixed text, sent as the connection's prepared statement
    for it (``prepared``; as it is inside a transaction)."""
    return database.execute_sql(prepared(sql, database), params)


def fetch_as_user(user_id: UUID | str, query: peewee.SelectBase) -> list[dict[str, Any]]:
    """The rows of one peewee read as the user, in one round trip (``execute_as_user``); each
    row a plain dict of column name to the value psycopg2 decoded (no model instances)."""
    cursor = execute_as_user(user_id, *query.sql())
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def tuples_as_user(user_id: UUID | str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``fetch_as_user`` for SQL text already built (``PreparedSelect.statement``), the SQL
    built once instead of per request: each row the tuple the cursor returned, in the SELECT's
    column order."""
    rows: list[tuple[Any, ...]] = execute_as_user(user_id, sql, params, prepare=True).fetchall()
    return rows


class PreparedSelect:
    """A peewee SELECT whose SQL text is built once, on first use, instead of per call.

    ``build`` receives one placeholder per value that changes between calls and returns the
    query; ``rows(*values)`` runs that text with the values (already in their database form:
    a UUID as its string) and returns the rows as the query would (models, dicts or tuples).
    """

    def __init__(self, build: Callable[..., Any], arity: int) -> None:
        self._build = build
        self._arity = arity
        self._prepared: tuple[Any, str, list[tuple[bool, Any]]] | None = None

    def _prepare(self) -> tuple[Any, str, list[tuple[bool, Any]]]:
        slots = [object() for _ in range(self._arity)]
        query = self._build(*(peewee.Value(slot, converter=False) for slot in slots))
        sql, params = query.sql()
        order: list[tuple[bool, Any]] = []
        for param in params:
            matches = [index for index, slot in enumerate(slots) if param is slot]
            order.append((True, matches[0]) if matches else (False, param))
        self._prepared = (query, sql, order)
        return self._prepared

    def statement(self, *values: Any) -> tuple[str, list[Any]]:
        """The SQL text and its parameters for ``values``."""
        _, sql, order = self._prepared or self._prepare()
        return sql, [values[item] if is_slot else item for is_slot, item in order]

    def rows(self, *values: Any) -> list[Any]:
        query = (self._prepared or self._prepare())[0]
        return list(query._get_cursor_wrapper(db.execute_sql(*self.statement(*values))))

    def user_read(self, *values: Any) -> UserRead:
        """The text for ``values`` as a ``UserRead``, to go with the request's authentication."""
        sql, params = self.statement(*values)
        return UserRead(sql, tuple(params))


@dataclass(frozen=True)
class UserRead:
    """A read of at most one row, as the signed-in user, that goes to PostgreSQL in the same
    message as the request's authentication (``AuthService.authenticate``) instead of a round
    trip of its own. ``sql`` is a SELECT of at most one row (it ends in ``LIMIT 1`` or reads one
    row by key) whose placeholders take ``params``; it is joined LATERAL to the user's row, so
    its columns follow the user's, all NULL when it finds no row, and row-level security is in
    force for it as for ``execute_as_user``."""

    sql: str
    params: tuple[Any, ...]


class ModelRow:
    """Model instances from rows that start with every column of the model's table, in the
    model's field order (``Model.select(Model, ...)``), built as peewee's own cursor wrapper
    builds them (each value through its field's ``python_value``, nothing marked dirty) but
    without resolving the cursor's columns again for every query: authentication builds the
    user this way on every request. The cursor's column names are checked against the fields
    on first use, so a query whose columns do not line up fails at once instead of filling the
    wrong attributes."""

    def __init__(self, model: type[peewee.Model]) -> None:
        self._model = model
        fields = model._meta.sorted_fields  # peewee's own field order, as select(Model) writes
        self._columns = [field.column_name for field in fields]
        self._fields = tuple((field.name, field.python_value) for field in fields)
        self._checked = False

    def first(self, cursor: Any) -> tuple[Any, tuple[Any, ...]] | None:
        """The first row's instance and the row's further columns, or None without a row."""
        if not self._checked:
            names = [column.name for column in cursor.description][: len(self._columns)]
            if names != self._columns:
                raise RuntimeError(f"columns {names} are not {self._model.__name__}'s fields")
            self._checked = True
        row = cursor.fetchone()
        if row is None:
            return None
        instance = self._model(__no_default__=1)
        data = instance.__data__
        for (name, convert), value in zip(self._fields, row, strict=False):
            data[name] = convert(value)
        return instance, tuple(row[len(self._fields) :])


def probe(settings: Settings, url: str) -> None:
    """Check the database answers, within ``settings.ready_timeout_seconds`` even if it hangs.

    It uses its own short-lived connection, so a wedged pool cannot hide a recovered database
    and a hung server cannot hold a request thread: the wait is bounded by a watchdog thread.
    """
    import psycopg2

    outcome: dict[str, BaseException | None] = {}
    timeout = settings.ready_timeout_seconds

    def attempt() -> None:
        from app.core.db_deadline import database_deadline

        try:
            options = connect_options(settings, application_name="jobapptracker-ready")
            options["connect_timeout"] = max(1, int(timeout))
            options["tcp_user_timeout"] = int(timeout * 1000)
            options["options"] = f"-c statement_timeout={int(timeout * 1000)}"
            with database_deadline(timeout):
                connection = psycopg2.connect(url, **options)
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")
                        cursor.fetchone()
                finally:
                    connection.close()
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - any failure means not ready
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="db-ready-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DatabaseUnavailable(f"the database did not answer within {timeout:g} s")
    error = outcome.get("error")
    if error is not None:
        raise DatabaseUnavailable(type(error).__name__) from error

"""The API's JSON encoding of the values the standard encoder refuses: dates, UUIDs, decimals.

``json_default`` is the standard encoder's default, used by the idempotency store, which keeps
an answer exactly as it was sent (app/services/idempotency.py). ``json_dumps`` encodes response
bodies (app/main.py) to the same JSON values, faster.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import pydantic_core


def json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_dumps(value: object) -> bytes:
    """Response bodies through pydantic-core's serialiser, loaded anyway for the schemas: the
    same JSON values as ``json.dumps`` with ``json_default`` (UTC datetimes end in ``Z``; dates,
    UUIDs and decimals are strings), non-ASCII written as UTF-8 rather than escaped, about six
    times faster on a page of applications (docs/benchmarks.md). Any other type raises, as
    ``json_default`` does."""
    return pydantic_core.to_json(value)

"""The API's JSON encoding of the values the standard encoder refuses: dates, UUIDs, decimals.

One function, used by the response media handler (app/main.py) and by the idempotency store,
which keeps an answer exactly as it was sent (app/services/idempotency.py).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID


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

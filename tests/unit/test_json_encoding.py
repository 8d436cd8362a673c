"""Response bodies are encoded by pydantic-core (``json_dumps``, app/core/json_encoding.py): the
same JSON values the standard library writes with ``json_default``, for every type a response
carries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.core.json_encoding import json_default, json_dumps

VALUES = {
    "utc": datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
    "utc_fixed_offset": datetime(2025, 3, 14, 9, 30, 0, 123456, tzinfo=timezone(timedelta(0))),
    "offset": datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    "naive": datetime(2025, 3, 14, 9, 30),
    "day": date(2025, 3, 14),
    "id": uuid.UUID("0b8e5a7e-3f4c-4d1e-9a55-6f1f2b7c9d10"),
    "amount": Decimal("1234.50"),
    "text": 'Zürich — 東京 "quoted" \\ \n',
    "numbers": [0, -1, 2**53, 0.1, 1e-7, 0.1234],
    "flags": [True, False, None],
    "nested": {"by_status": {"applied": 3}, "per_week": [{"starts_on": date(2025, 1, 6)}]},
}


def test_the_same_json_values_as_the_standard_library():
    expected = json.loads(json.dumps(VALUES, default=json_default))
    assert json.loads(json_dumps(VALUES)) == expected


def test_utc_datetimes_end_in_z():
    assert json.loads(json_dumps(VALUES["utc"])) == "2025-03-14T09:30:00Z"
    assert json.loads(json_dumps(VALUES["utc_fixed_offset"])) == "2025-03-14T09:30:00.123456Z"


def test_any_other_type_is_refused():
    with pytest.raises(ValueError):
        json_dumps({"value": object()})

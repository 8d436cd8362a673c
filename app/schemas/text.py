"""Text fields: every string the API accepts refuses control characters, and says so in the
OpenAPI document with a ``pattern``, so the document and the server agree.

C0 (U+0000-U+001F, NUL included: PostgreSQL cannot store it in text), DEL and C1
(U+007F-U+009F) are refused everywhere; multi-line fields such as notes keep tab, line feed and
carriage return.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

SINGLE_LINE_PATTERN = r"^[^\u0000-\u001F\u007F-\u009F]*$"
MULTI_LINE_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
# An http(s) URL (app/schemas/applications.py's _http_url in the schema's terms: the scheme in
# any case, then an authority) with no control character anywhere.
HTTP_URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://[^/?#\s\u0000-\u001F\u007F-\u009F]+"
    r"[^\u0000-\u001F\u007F-\u009F]*$"
)
CONTROL_CHARACTERS_MESSAGE = "must not contain control characters"
MULTI_LINE_MESSAGE = "must not contain control characters other than tab and line breaks"
PATTERN_MESSAGES = {
    SINGLE_LINE_PATTERN: CONTROL_CHARACTERS_MESSAGE,
    MULTI_LINE_PATTERN: MULTI_LINE_MESSAGE,
    HTTP_URL_PATTERN: "must not contain control characters, and must be an http or https URL",
}


def single_line(default: Any = ..., **constraints: Any) -> Any:
    """A string field on one line: no control character at all."""
    return Field(default, pattern=SINGLE_LINE_PATTERN, **constraints)


def multi_line(default: Any = ..., **constraints: Any) -> Any:
    """A free-text field: line breaks and tabs allowed, no other control character."""
    return Field(default, pattern=MULTI_LINE_PATTERN, **constraints)

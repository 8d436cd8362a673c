"""Structured JSON logs on stdout, with secrets redacted wherever they would appear."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog

# Keys whose values are never written, at any depth of an event.
SENSITIVE_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential|webhook|dsn|session",
    re.IGNORECASE,
)
REDACTED = "[REDACTED]"
# Credentials embedded in URLs, e.g. postgresql://user:pass@host.
_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


# Whether a key is sensitive, remembered per key: a line's keys come from a small set (the
# access log writes the same five on every request), so each is matched against the pattern
# once. Bounded, in case some caller logs keys made from data.
_SENSITIVE: dict[Any, bool] = {}
_SENSITIVE_LIMIT = 4096


def _sensitive(key: Any) -> bool:
    known = _SENSITIVE.get(key)
    if known is None:
        known = SENSITIVE_KEYS.search(str(key)) is not None
        if len(_SENSITIVE) < _SENSITIVE_LIMIT:
            _SENSITIVE[key] = known
    return known


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        # Only a URL can carry credentials: most strings are returned without a regex pass.
        return _URL_CREDENTIALS.sub(r"\1" + REDACTED + "@", value) if "://" in value else value
    if isinstance(value, dict):
        return {key: REDACTED if _sensitive(key) else _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def redact_processor(logger: Any, method_name: str, event_dict: Any) -> Any:
    return _redact(event_dict)


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to the current sys.stdout, even if it was replaced after configuration."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _processor_chain() -> tuple[list[Any], list[Any]]:
    """The one chain every line goes through, structlog's and the standard library's alike.

    The first part adds what a line carries (the request id and other context variables, the
    level, the time); the second turns an exception into its traceback text, redacts, and
    renders one JSON object. Standard-library records enter the first part through
    ``ProcessorFormatter``'s ``foreign_pre_chain`` and the second through its ``processors``
    (https://www.structlog.org/en/stable/standard-library.html#rendering-using-structlog-based-formatters-within-logging).
    """
    enrich = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    render = [
        structlog.processors.format_exc_info,
        redact_processor,
        structlog.processors.JSONRenderer(),
    ]
    return enrich, render


def configure_logging(level: str = "INFO") -> None:
    """Idempotent: safe to call from every entrypoint (API workers, Lambdas, CLI)."""
    numeric = logging.getLevelName(level.upper())
    enrich, render = _processor_chain()
    structlog.configure(
        processors=[*enrich, *render],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # No file given: each line goes to whatever sys.stdout is when it is written.
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    # Standard-library loggers (gunicorn, botocore, peewee) share stdout, one JSON line each,
    # through the same chain.
    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
            foreign_pre_chain=enrich,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("botocore", "boto3", "urllib3", "peewee"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))

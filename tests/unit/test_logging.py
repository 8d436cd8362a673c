"""Lines from the standard library's ``logging`` go through the same chain as structlog's: they
carry the request id and render an exception as its traceback text."""

from __future__ import annotations

import json
import logging

import structlog

from app.core.logging import configure_logging


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_a_standard_library_line_carries_the_request_id(capsys):
    configure_logging("INFO")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-123")
    try:
        logging.getLogger("gunicorn.error").warning("worker %s busy", 7)
        structlog.get_logger("app").warning("ours")
    finally:
        structlog.contextvars.clear_contextvars()
    stdlib_line, ours = lines(capsys)
    assert stdlib_line["event"] == "worker 7 busy"
    assert stdlib_line["request_id"] == ours["request_id"] == "req-123"
    assert stdlib_line["level"] == ours["level"] == "warning"
    assert set(ours) - {"event"} <= set(stdlib_line)  # nothing ours has is missing


def test_a_standard_library_exception_renders_as_a_traceback(capsys):
    configure_logging("INFO")

    def fail():
        raise ValueError("bad thing with password=hunter2@x")

    try:
        fail()
    except ValueError:
        logging.getLogger("botocore.x").error("call failed", exc_info=True)
        structlog.get_logger("app").exception("ours failed")
    stdlib_line, ours = lines(capsys)
    for line in (stdlib_line, ours):
        assert "exc_info" not in line
        assert isinstance(line["exception"], str)
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert "in fail" in line["exception"]
        assert line["exception"].rstrip().endswith("ValueError: bad thing with password=hunter2@x")


def test_a_standard_library_line_is_redacted(capsys):
    configure_logging("INFO")
    logging.getLogger("peewee.x").warning(
        "connecting to %s", "postgresql://jat_app:s3cret@db:5432/jat"
    )
    (line,) = lines(capsys)
    assert "s3cret" not in json.dumps(line)
    assert line["event"] == "connecting to postgresql://jat_app:[REDACTED]@db:5432/jat"

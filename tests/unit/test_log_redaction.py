"""The log redaction of credentials, on its own: an ``authorization`` key is redacted at any
depth and in any case, whatever logs it, not only because the access log leaves headers out."""

from __future__ import annotations

import json

import structlog

from app.core.logging import REDACTED, configure_logging


def last_line(capsys) -> tuple[str, dict]:
    line = capsys.readouterr().out.strip().splitlines()[-1]
    return line, json.loads(line)


def test_an_authorization_key_is_redacted_at_any_depth_and_in_any_case(capsys):
    configure_logging("INFO")
    structlog.get_logger("app.outbound").info(
        "provider_call",
        authorization="Bearer top-level-credential",
        headers={"Authorization": "Bearer nested-credential", "Accept": "application/json"},
        attempts=[{"AUTHORIZATION": "Basic listed-credential", "status": 401}],
        proxy_authorization="Basic proxy-credential",
    )
    line, event = last_line(capsys)
    assert event["authorization"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert event["attempts"] == [{"AUTHORIZATION": REDACTED, "status": 401}]
    assert event["proxy_authorization"] == REDACTED
    assert "credential" not in line


def test_values_under_other_keys_are_kept(capsys):
    configure_logging("INFO")
    structlog.get_logger("app.outbound").info("provider_call", author="Ada", status=200)
    _, event = last_line(capsys)
    assert (event["author"], event["status"]) == ("Ada", 200)


def test_keys_made_from_data_are_matched_every_time_and_remembered_within_a_bound(capsys):
    from app.core import logging as app_logging

    limit = app_logging._SENSITIVE_LIMIT
    app_logging._redact({f"field_{n}": n for n in range(limit + 100)})
    assert len(app_logging._SENSITIVE) <= limit
    configure_logging("INFO")
    structlog.get_logger("app.outbound").info(
        "late", **{f"api_key_{limit + 1}": "late-credential"}, note="see https://u:p@host/x"
    )
    line, event = last_line(capsys)
    assert event[f"api_key_{limit + 1}"] == REDACTED
    assert event["note"] == "see https://u:[REDACTED]@host/x"
    assert "late-credential" not in line

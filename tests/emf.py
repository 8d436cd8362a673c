"""Checks an EMF document against the CloudWatch Embedded Metric Format specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
and collects the documents among a process's stdout lines."""

from __future__ import annotations

import json

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(document: dict) -> dict:
    """Assert ``document`` is a valid EMF document; return it."""
    meta = document["_aws"]
    assert isinstance(meta, dict)
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000  # ms
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) <= {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 1024
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list)
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(name, str) and 1 <= len(name) <= 250
                assert isinstance(document[name], str) and 1 <= len(document[name]) <= 1024
        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert isinstance(metric["Name"], str) and 1 <= len(metric["Name"]) <= 1024
            assert metric.get("Unit", "None") in UNITS
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert values and len(values) <= 100
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return document


def emf_records(text: str) -> list[dict]:
    """Every EMF document among ``text``'s lines, each checked; a line is one only if it is a
    JSON object with ``_aws`` at its root."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" in document:
            records.append(check_emf(document))
    return records


def named(records: list[dict], name: str) -> list[dict]:
    """The records that carry metric ``name``."""
    return [
        r
        for r in records
        if any(m["Name"] == name for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]


def declared(record: dict, name: str) -> tuple[str, list[list[str]]]:
    """(unit, dimension sets) of ``name`` in ``record``."""
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for metric in directive["Metrics"]:
            if metric["Name"] == name:
                return metric.get("Unit", "None"), directive["Dimensions"]
    raise AssertionError(f"{name} is not in the record")

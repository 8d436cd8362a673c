"""Policy config: the file ``pulumi preview --policy-pack-config`` takes, and its checks.

``policies/config/<environment>.json`` is committed per environment. Keys are policy names (or
``all``); values are an enforcement level or an object with ``enforcementLevel`` and the policy's
properties (``environment``, rule settings, ``justification``). Any change from a rule's defaults --
a different enforcement level or a rule setting -- must carry a ``justification`` of at least
20 characters; the offline runner refuses the config otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from .model import Rule
from .pack import JUSTIFICATION

CONFIG_DIR = Path(__file__).resolve().parent / "config"
LEVELS = {level.value for level in EnforcementLevel}
MIN_JUSTIFICATION = 20


class ConfigError(ValueError):
    pass


def load(environment: str, path: Path | None = None) -> dict[str, Any]:
    path = path or CONFIG_DIR / f"{environment}.json"
    if not path.is_file():
        raise ConfigError(f"no policy config {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object keyed by policy name")
    return data


def validate(config: Mapping[str, Any], rules: list[Rule], environment: str) -> list[str]:
    """Problems with ``config`` (empty when it is usable)."""
    problems = []
    by_name = {r.name: r for r in rules}
    for key, entry in config.items():
        if key != "all" and key not in by_name:
            problems.append(f"{key}: no such policy")
            continue
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, Mapping):
            problems.append(f"{key}: expected an enforcement level or an object")
            continue
        level = entry.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            problems.append(f"{key}: unknown enforcementLevel {level!r}")
        schema = {**JUSTIFICATION, **(by_name[key].config if key in by_name else {})}
        unknown = [k for k in entry if k != "enforcementLevel" and k not in schema]
        if unknown:
            problems.append(f"{key}: unknown setting(s) {unknown}")
        env = entry.get("environment")
        if env is not None and env != environment:
            problems.append(
                f"{key}: environment {env!r} does not match the stack's {environment!r}"
            )
        changed = (
            level is not None and (key == "all" or level != by_name[key].enforcement.value)
        ) or any(k not in ("enforcementLevel", "environment", "justification") for k in entry)
        justification = entry.get("justification")
        if changed and (
            not isinstance(justification, str) or len(justification.strip()) < MIN_JUSTIFICATION
        ):
            problems.append(
                f"{key}: overrides the rule's defaults without a written justification "
                f'("justification": at least {MIN_JUSTIFICATION} characters)'
            )
    return problems


def for_environment(
    config: Mapping[str, Any], rules: list[Rule], environment: str
) -> dict[str, Any]:
    """``config`` with ``environment`` set for every environment-dependent policy."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in config.items()}
    for r in rules:
        if not r.environment_dependent:
            continue
        entry = out.get(r.name)
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        entry = dict(entry or {})
        entry["environment"] = environment
        out[r.name] = entry
    return out

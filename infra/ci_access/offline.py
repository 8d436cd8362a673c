"""The CI access program offline, under the main program's mocks and capture
(``infra.offline.run_offline``): ``capture_stack(stack)`` returns every resource as ``{type, name,
urn, id, props, propertyDependencies, dependencies, provider}``, read from
``infra/ci_access/Pulumi.<stack>.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .. import offline as main_offline
from . import config as cfgmod

PROJECT_DIR = Path(__file__).resolve().parent


def list_stacks(project_dir: Path | None = None) -> list[str]:
    return main_offline.list_stacks(project_dir or PROJECT_DIR)


def read_stack_config(stack: str, project_dir: Path | None = None) -> dict[str, Any]:
    path = (project_dir or PROJECT_DIR) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path} (stacks: {', '.join(list_stacks())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("config") or {})


def stack_settings(
    stack: str, project_dir: Path | None = None
) -> tuple[cfgmod.CiAccessConfig, dict[str, str]]:
    """(typed config, flat Pulumi config dict) for an offline run."""
    raw = read_stack_config(stack, project_dir)
    region = raw.get("aws:region", "eu-west-1")
    prefix = f"{cfgmod.PROJECT}:"
    values = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    typed = cfgmod.from_mapping(values, stack=stack, region=region)
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    flat.setdefault("aws:region", region)
    return typed, flat


def capture_stack(stack: str, *, project_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every resource of the CI access stack ``stack`` (a fresh thread: see infra.offline)."""
    from . import program

    typed, flat = stack_settings(stack, project_dir)
    return main_offline.run_offline(
        lambda: program.build(typed),
        project=cfgmod.PROJECT,
        stack=stack,
        config=flat,
        secret_keys=[],
        region=typed.region,
    )

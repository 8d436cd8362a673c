"""The CI access program offline, under the same Pulumi mocks as the main program
(``infra.offline``): ``capture_stack(stack)`` returns every resource as ``{type, name, urn, id,
props, propertyDependencies, dependencies}``, read from ``infra/ci_access/Pulumi.<stack>.yaml``."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import yaml

from .. import offline as main_offline
from . import config as cfgmod

PROJECT_DIR = Path(__file__).resolve().parent


def list_stacks(project_dir: Path | None = None) -> list[str]:
    d = project_dir or PROJECT_DIR
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in d.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, project_dir: Path | None = None) -> dict[str, Any]:
    path = (project_dir or PROJECT_DIR) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path} (stacks: {', '.join(list_stacks())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("config") or {})


def stack_settings(stack: str, project_dir: Path | None = None):
    """(typed config, flat Pulumi config dict) for an offline run."""
    raw = read_stack_config(stack, project_dir)
    region = raw.get("aws:region", "eu-west-1")
    prefix = f"{cfgmod.PROJECT}:"
    values = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    typed = cfgmod.from_mapping(values, stack=stack, region=region)
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    flat.setdefault("aws:region", region)
    return typed, flat


class _Mocks(main_offline._Mocks):
    """The main program's mocks, plus the IAM shapes this project creates."""

    def _shape(self, typ: str, name: str, s: dict, r: str) -> tuple[str, dict]:
        account = main_offline.ACCOUNT
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(s.get("url", "")).removeprefix("https://")
            s["arn"] = f"arn:aws:iam::{account}:oidc-provider/{host}"
            return s["arn"], s
        if typ == "aws:iam/policy:Policy":
            s.setdefault("name", f"{name}-{main_offline._suffix(name)}")
            s["arn"] = f"arn:aws:iam::{account}:policy/{s['name']}"
            return s["arn"], s
        return super()._shape(typ, name, s, r)


def _capture(stack: str, project_dir: Path | None) -> list[dict]:
    import pulumi
    from pulumi.runtime.stack import run_pulumi_func

    from . import program

    typed, flat = stack_settings(stack, project_dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(flat, [])
        mocks = _Mocks(typed.region)
        monitor = main_offline._monitor_class()(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=cfgmod.PROJECT, stack=stack, preview=False, monitor=monitor
        )
        loop.run_until_complete(run_pulumi_func(lambda: program.build(typed)))
        out = []
        for urn in monitor.order:
            typ, name = monitor.types[urn]
            reg = monitor.resources.get(urn)
            out.append(
                {
                    "type": typ,
                    "name": name,
                    "urn": urn,
                    "id": reg.id if reg else "",
                    "props": main_offline._plain(reg.state if reg else {}),
                    "propertyDependencies": monitor.dependencies.get(urn, {}),
                    "dependencies": monitor.depends_on.get(urn, []),
                }
            )
        return out
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def capture_stack(stack: str, *, project_dir: Path | None = None) -> list[dict]:
    """Every resource of the CI access stack ``stack`` (a fresh thread: see infra.offline)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = _capture(stack, project_dir)
        except BaseException as e:  # noqa: BLE001 - handed back to the calling thread
            result["error"] = e

    t = threading.Thread(target=run, name=f"capture-ci-access-{stack}")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]

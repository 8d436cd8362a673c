"""Captures of the real program under mocks, shared by the infra tests (each stack and phase is
rendered once per session)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from infra.offline import capture_stack, list_stacks

STACKS = list_stacks()


@cache
def _capture(stack: str, with_image: bool) -> tuple[dict, ...]:
    return tuple(capture_stack(stack, with_image=with_image))


class Stack:
    def __init__(self, stack: str, with_image: bool = True, resources: list[dict] | None = None):
        self.stack = stack
        self.resources = list(_capture(stack, with_image) if resources is None else resources)
        self.by_urn = {r["urn"]: r for r in self.resources}

    def of_type(self, token: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == token]

    def one(self, token: str, name: str | None = None) -> dict:
        found = [r for r in self.of_type(token) if name is None or r["name"] == name]
        assert len(found) == 1, f"{token} {name}: {[r['name'] for r in found]}"
        return found[0]

    def named(self, name: str) -> dict:
        found = [
            r for r in self.resources if r["name"] == name and "jobapptracker:" not in r["type"]
        ]
        assert len(found) == 1, name
        return found[0]

    def types(self) -> set[str]:
        return {r["type"] for r in self.resources}

    def waits_for(self, r: dict) -> set[str]:
        """Names of every resource ``r`` waits for, directly or through its dependencies."""
        seen: set[str] = set()
        todo = list(r.get("dependencies", []))
        for deps in (r.get("propertyDependencies") or {}).values():
            todo += deps
        while todo:
            urn = todo.pop()
            if urn in seen or urn not in self.by_urn:
                continue
            seen.add(urn)
            dep = self.by_urn[urn]
            todo += dep.get("dependencies", [])
        return {self.by_urn[u]["name"] for u in seen}


@pytest.fixture(scope="session")
def dev() -> Stack:
    return Stack("dev")


@pytest.fixture(scope="session")
def prod() -> Stack:
    return Stack("prod")


@pytest.fixture(scope="session")
def ecs() -> Stack:
    return Stack("ecs")


@pytest.fixture(scope="session")
def all_stacks() -> list[Stack]:
    return [Stack(s, w) for s in STACKS for w in (True, False)]


def doc(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def variant(tmp_path_factory, name: str, base: str = "dev", **config) -> Stack:
    """Stack ``base`` with some of its jobapptracker:* settings replaced (``None`` removes one),
    captured under mocks as stack ``name``."""
    import yaml

    from infra.offline import STACKS_DIR

    d = tmp_path_factory.mktemp(name)
    data = yaml.safe_load((STACKS_DIR / f"Pulumi.{base}.yaml").read_text())
    for key, value in config.items():
        if value is None:
            data["config"].pop(f"jobapptracker:{key}", None)
        else:
            data["config"][f"jobapptracker:{key}"] = value
    (d / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(data))
    return Stack(name, resources=capture_stack(name, stacks_dir=d))

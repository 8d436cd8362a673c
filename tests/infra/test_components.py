"""Every component finishes what it starts: all its children exist before its register_outputs,
so a component is complete when its constructor returns (nothing adds to it from outside)."""

from __future__ import annotations

import inspect
import threading

import pulumi
import pytest

from infra.offline import capture_stack

from .conftest import STACKS

_RESOURCE_INIT = inspect.signature(pulumi.Resource.__init__)


class _Watch:
    """Records, across the capture's thread, each component's register_outputs and any resource
    created with a parent that had already registered its outputs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished: set[int] = set()
        self.registered: list[str] = []
        self.late: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original_init = pulumi.Resource.__init__
        original_register = pulumi.ComponentResource.register_outputs

        def init(resource: pulumi.Resource, *args: object, **kwargs: object) -> None:
            bound = _RESOURCE_INIT.bind(resource, *args, **kwargs)
            opts = bound.arguments.get("opts")
            parent = getattr(opts, "parent", None)
            if parent is not None:
                with self.lock:
                    if id(parent) in self.finished:
                        self.late.append(
                            f"{bound.arguments['t']} {bound.arguments['name']} after "
                            f"{parent._name}'s register_outputs"
                        )
            original_init(resource, *args, **kwargs)

        def register(component: pulumi.ComponentResource, outputs: object) -> None:
            with self.lock:
                self.finished.add(id(component))
                self.registered.append(component._name)
            original_register(component, outputs)

        monkeypatch.setattr(pulumi.Resource, "__init__", init)
        monkeypatch.setattr(pulumi.ComponentResource, "register_outputs", register)


@pytest.mark.parametrize("stack", STACKS)
def test_no_component_gets_a_child_after_register_outputs(stack, monkeypatch):
    # The full phase: every component the image-less phase has, and the ones it adds.
    watch = _Watch()
    watch.install(monkeypatch)
    capture_stack(stack, with_image=True)
    assert watch.registered, "no component registered its outputs: the watch saw nothing"
    assert "uploads" in watch.registered and "scanning" in watch.registered
    assert watch.late == []


def test_the_watch_sees_a_child_added_after_register_outputs(monkeypatch):
    """The check itself: a component that adds a child late is reported."""
    watch = _Watch()
    watch.install(monkeypatch)

    class Late(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("test:index:Late", "late")
            self.register_outputs({})
            pulumi.ComponentResource(
                "test:index:Child", "child", None, pulumi.ResourceOptions(parent=self)
            )

    class _NoCloud(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            return args.name, dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
            return {}, []

    def run() -> None:
        import asyncio

        from pulumi.runtime.stack import run_pulumi_func

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pulumi.runtime.set_mocks(_NoCloud(), project="p", stack="s", preview=False)
            loop.run_until_complete(run_pulumi_func(lambda: Late() and None))
        finally:
            loop.close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert watch.late == ["test:index:Child child after late's register_outputs"]

"""Tags: project, stack and owner on every resource whose type takes ``tags``.

Provider default tags are invisible under mocks, and ``register_resource_transform`` transforms do
not run under ``set_mocks`` (pulumi/pulumi#17090). The SDK-side stack transformation below runs in
the program's own process, in a real ``pulumi up`` and under mocks alike, so the tests see exactly
what AWS receives. ``taggable_types.txt`` is the committed list of the types the program creates
that take ``tags``; ``infra.tag_list`` writes it, and a test keeps it equal to what the installed
pulumi-aws declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import cast

import pulumi

TAGGABLE_FILE = Path(__file__).with_name("taggable_types.txt")


@cache
def taggable_types() -> frozenset[str]:
    lines = TAGGABLE_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip() for x in lines if x.strip() and not x.startswith("#"))


def merge(existing: Mapping[str, str] | None, required: Mapping[str, str]) -> dict[str, str]:
    """Resource-specific tags (e.g. Name) kept; project, stack and owner always win."""
    return {**dict(existing or {}), **dict(required)}


def transformation(required: Mapping[str, str]) -> pulumi.ResourceTransformation:
    required = dict(required)

    def add_tags(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ not in taggable_types():
            return None
        props = dict(args.props)
        current = props.get("tags")
        if isinstance(current, pulumi.Output):
            props["tags"] = current.apply(lambda t: merge(t, required))
        else:
            # Plain tags: a mapping (Name and the like) or none at all.
            props["tags"] = merge(cast("Mapping[str, str] | None", current), required)
        return pulumi.ResourceTransformationResult(props, args.opts)

    return add_tags


def register(required: Mapping[str, str]) -> None:
    """Tag every taggable resource created after this call in this stack."""
    pulumi.runtime.register_stack_transformation(transformation(required))

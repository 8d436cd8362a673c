"""Tags: project, stack and owner on every resource whose type takes ``tags``.

Provider default tags are invisible under mocks, and ``register_resource_transform`` transforms do
not run under ``set_mocks`` (pulumi/pulumi#17090). The SDK-side stack transformation below runs in
the program's own process, in a real ``pulumi up`` and under mocks alike, so the tests see exactly
what AWS receives. ``taggable_types.txt`` is the committed list of the types the program creates
that take ``tags``; a test keeps it equal to what the installed pulumi-aws declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pulumi

TAGGABLE_FILE = Path(__file__).with_name("taggable_types.txt")


@cache
def taggable_types() -> frozenset[str]:
    lines = TAGGABLE_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip() for x in lines if x.strip() and not x.startswith("#"))


def merge(existing: Mapping[str, str] | None, required: Mapping[str, str]) -> dict[str, str]:
    """Resource-specific tags (e.g. Name) kept; project, stack and owner always win."""
    return {**dict(existing or {}), **dict(required)}


def transformation(required: Mapping[str, str]):
    required = dict(required)

    def add_tags(args: pulumi.ResourceTransformationArgs):
        if args.type_ not in taggable_types():
            return None
        props = dict(args.props)
        current = props.get("tags")
        if isinstance(current, pulumi.Output):
            props["tags"] = current.apply(lambda t: merge(t, required))
        else:
            props["tags"] = merge(current, required)
        return pulumi.ResourceTransformationResult(props, args.opts)

    return add_tags


def register(required: Mapping[str, str]) -> None:
    """Tag every taggable resource created after this call in this stack."""
    pulumi.runtime.register_stack_transformation(transformation(required))


def resource_class(token: str):
    """The pulumi-aws class of an ``aws:<module>/<x>:<Class>`` type token, or None."""
    import importlib

    if not token.startswith("aws:"):
        return None
    module = token.split(":")[1].split("/")[0]
    module = {"lambda": "lambda_", "index": ""}.get(module, module)
    try:
        mod = importlib.import_module(f"pulumi_aws.{module}" if module else "pulumi_aws")
    except ImportError:
        return None
    return getattr(mod, token.rsplit(":", 1)[-1], None)


def takes_tags(token: str) -> bool:
    """True when the installed pulumi-aws declares a ``tags`` input for this type."""
    import inspect

    cls = resource_class(token)
    if cls is None:
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters


def program_types() -> set[str]:
    """Every AWS type any stack creates, in either phase."""
    from .offline import capture_stack, list_stacks

    return {
        r["type"]
        for stack in list_stacks()
        for with_image in (True, False)
        for r in capture_stack(stack, with_image=with_image)
        if r["type"].startswith("aws:")
    }


def write_list() -> list[str]:
    import pulumi_aws

    version = getattr(pulumi_aws, "__version__", None) or _aws_version()
    types = sorted(t for t in program_types() if takes_tags(t))
    TAGGABLE_FILE.write_text(
        f"# Types this program creates that take `tags` (pulumi-aws {version}).\n"
        "# Regenerate with: python -m infra.tags --write (tests/infra checks it stays exact)\n"
        + "".join(f"{t}\n" for t in types),
        encoding="utf-8",
    )
    taggable_types.cache_clear()
    return types


def _aws_version() -> str:
    from importlib.metadata import version

    return version("pulumi-aws")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        print("\n".join(write_list()))
    else:
        print("usage: python -m infra.tags --write", file=sys.stderr)
        sys.exit(2)

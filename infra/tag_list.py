"""The committed list of taggable types (``infra/taggable_types.txt``): every AWS type any stack
creates, in either phase, whose pulumi-aws class takes ``tags``. Regenerate it with
``python -m infra.tag_list --write``; tests/infra checks it stays exact. The runtime side, the
transformation that tags those types, is ``infra.tags``."""

from __future__ import annotations

import sys

from .aws_types import takes_input
from .offline import capture_stack, list_stacks
from .tags import TAGGABLE_FILE, taggable_types


def takes_tags(token: str) -> bool:
    """True when the installed pulumi-aws declares a ``tags`` input for this type."""
    return takes_input(token, "tags")


def program_types() -> set[str]:
    """Every AWS type any stack creates, in either phase."""
    return {
        r["type"]
        for stack in list_stacks()
        for with_image in (True, False)
        for r in capture_stack(stack, with_image=with_image)
        if r["type"].startswith("aws:")
    }


def write_list() -> list[str]:
    from importlib.metadata import version

    types = sorted(t for t in program_types() if takes_tags(t))
    TAGGABLE_FILE.write_text(
        f"# Types this program creates that take `tags` (pulumi-aws {version('pulumi-aws')}).\n"
        "# Regenerate with: python -m infra.tag_list --write (tests/infra checks it stays exact)\n"
        + "".join(f"{t}\n" for t in types),
        encoding="utf-8",
    )
    taggable_types.cache_clear()
    return types


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        print("\n".join(write_list()))
    else:
        print("usage: python -m infra.tag_list --write", file=sys.stderr)
        sys.exit(2)

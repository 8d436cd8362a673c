"""The AWS resource types that take ``tags``, generated from the installed pulumi_aws.

The list is committed (``policies/data/taggable_types.txt``) because the pack's own virtualenv does
not install pulumi_aws. Regenerate it after upgrading pulumi-aws:

    python -m policies.taggable --write

A test compares the committed list with the installed package.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "taggable_types.txt"
_TYPE = re.compile(r"super\([A-Za-z0-9_]*,?\s*__self__\)\.__init__\(\s*'(aws:[^']+)'")
_ARGS = re.compile(r"^class \w+Args:\n    def __init__\(__self__, \*,(.*?)\):", re.S | re.M)


def generate() -> list[str]:
    import pulumi_aws

    root = Path(pulumi_aws.__file__).resolve().parent
    found = set()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if not f.endswith(".py") or f.startswith(("_", "get_")):
                continue
            src = (Path(dirpath) / f).read_text(encoding="utf-8")
            m = _TYPE.search(src)
            if not m:
                continue
            args = _ARGS.search(src)
            if args and re.search(r"^\s+tags: ", args.group(1), re.M):
                found.add(m.group(1))
    return sorted(found)


@lru_cache(maxsize=1)
def taggable_types() -> frozenset[str]:
    return frozenset(
        line.strip()
        for line in DATA.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )


def _render(types: list[str]) -> str:
    from importlib.metadata import version

    import pulumi_aws  # noqa: F401

    header = (
        f"# AWS types that take `tags` (pulumi-aws {version('pulumi-aws')}); python -m "
        "policies.taggable --write\n"
    )
    return header + "\n".join(types) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the committed list")
    args = parser.parse_args(argv)
    text = _render(generate())
    if args.write:
        DATA.write_text(text, encoding="utf-8")
        print(f"wrote {DATA}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

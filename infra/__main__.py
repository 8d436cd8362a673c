"""Pulumi entry point (Pulumi.yaml: main: infra/). Runs the program with the stack's config."""

import os
import sys

# Pulumi runs this directory as a script; make `infra` importable as a package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from infra import config, program  # noqa: E402

program.build(config.load())

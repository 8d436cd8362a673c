"""Pulumi entry point (infra/ci_access/Pulumi.yaml). Runs the CI access program with the stack's
config."""

import os
import sys

# Pulumi runs this directory as a script; make `infra` importable as a package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from infra.ci_access import config, program  # noqa: E402

program.build(config.load())

"""The CrossGuard policy pack: ``pulumi preview --policy-pack policies``.

The Pulumi CLI runs this directory as a script (possibly unpacked under another name), so the rule
package is loaded from this file's directory under a fixed module name; ``python -m policies`` works
as well. Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks, which is why it
happens here and nowhere else.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pulumi_policy import EnforcementLevel, PolicyPack


def _load_package() -> ModuleType:
    if __package__:
        return importlib.import_module(f"{__package__}.pack")
    here = Path(__file__).resolve().parent
    name = "jobapptracker_policies"
    spec = importlib.util.spec_from_file_location(
        name, here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the policy rules from {here}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.pack")


pack = _load_package()

PolicyPack(
    name=pack.PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=pack.build_policies(),
    description="AWS FSBP controls and the repository's own rules for the Job App Tracker stacks",
)

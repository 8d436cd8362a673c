"""The installed pulumi-aws classes behind ``aws:<module>/<x>:<Class>`` type tokens."""

from __future__ import annotations

import importlib
import inspect

import pulumi


def resource_class(token: str) -> type[pulumi.CustomResource] | None:
    """The pulumi-aws class of an ``aws:<module>/<x>:<Class>`` type token, or None."""
    if not token.startswith("aws:"):
        return None
    module = token.split(":")[1].split("/")[0]
    module = {"lambda": "lambda_", "index": ""}.get(module, module)
    try:
        mod = importlib.import_module(f"pulumi_aws.{module}" if module else "pulumi_aws")
    except ImportError:
        return None
    cls = getattr(mod, token.rsplit(":", 1)[-1], None)
    return cls if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource) else None


def takes_input(token: str, name: str) -> bool:
    """True when the installed pulumi-aws declares the input ``name`` for this type."""
    cls = resource_class(token)
    if cls is None:
        return False
    return name in inspect.signature(vars(cls)["_internal_init"]).parameters

"""The CI access stack's configuration, read once into a typed, validated object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

PROJECT = "jobapptracker-ci-access"
KEYS = ("owner", "repository", "deployStacks", "stateBucket", "stateKeyId")

# GitHub owner and repository names: letters, digits, '-', '_' and '.'; never a wildcard.
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+$")
# GitHub environment names as used here: the Pulumi stack names (no wildcard characters).
_STACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_ID = re.compile(
    r"^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


class ConfigError(ValueError):
    """The stack configuration is invalid; ``problems`` lists every problem at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid ci-access configuration:\n{listed}")


@dataclass(frozen=True)
class CiAccessConfig:
    stack: str
    region: str
    owner: str
    repository: str  # owner/name
    deploy_stacks: tuple[str, ...]
    state_bucket: str
    state_key_id: str

    @property
    def tags(self) -> dict[str, str]:
        return {"project": "jobapptracker", "stack": self.stack, "owner": self.owner}


def from_mapping(values: Mapping[str, Any], *, stack: str, region: str) -> CiAccessConfig:
    problems: list[str] = []
    owner = str(values.get("owner") or "")
    if not owner:
        problems.append(f"{PROJECT}:owner is required (the owner tag on every resource)")
    repository = str(values.get("repository") or "")
    if not _REPOSITORY.match(repository):
        problems.append(
            f"{PROJECT}:repository must be <owner>/<name> of one GitHub repository, without "
            f"wildcards (got {repository!r})"
        )
    raw_stacks = values.get("deployStacks") or []
    if not isinstance(raw_stacks, list) or not raw_stacks:
        problems.append(f"{PROJECT}:deployStacks must be a non-empty list of stack names")
        raw_stacks = []
    stacks = tuple(str(s) for s in raw_stacks)
    bad = [s for s in stacks if not _STACK.match(s)]
    if bad:
        problems.append(f"{PROJECT}:deployStacks has names that are not plain stack names: {bad}")
    if len(set(stacks)) != len(stacks):
        problems.append(f"{PROJECT}:deployStacks lists a stack twice: {list(stacks)}")
    bucket = str(values.get("stateBucket") or "")
    if not _BUCKET.match(bucket):
        problems.append(
            f"{PROJECT}:stateBucket must be the state backend's S3 bucket name (got {bucket!r})"
        )
    key_id = str(values.get("stateKeyId") or "")
    if not _KEY_ID.match(key_id):
        problems.append(
            f"{PROJECT}:stateKeyId must be the id of the KMS key that encrypts the stacks' "
            f"secrets (a key id, not an alias or ARN; got {key_id!r})"
        )
    if problems:
        raise ConfigError(problems)
    return CiAccessConfig(
        stack=stack,
        region=region,
        owner=owner,
        repository=repository,
        deploy_stacks=stacks,
        state_bucket=bucket,
        state_key_id=key_id,
    )


def load() -> CiAccessConfig:
    """Read the running stack's configuration (inside a Pulumi program)."""
    conf = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for key in KEYS:
        raw = conf.get(key)
        if raw is None:
            continue
        values[key] = conf.get_object(key) if raw.lstrip().startswith(("[", "{")) else raw
    region = pulumi.Config("aws").require("region")
    return from_mapping(values, stack=pulumi.get_stack(), region=region)

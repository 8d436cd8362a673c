"""The rule modules; :data:`ALL_RULES` is every rule of the pack, in report order."""

from __future__ import annotations

from . import ecr, events, iam, lambda_, mfa_key, preflight, rds, s3, secrets, service, tags

ALL_RULES = [
    *s3.RULES,
    *rds.RULES,
    *ecr.RULES,
    *service.RULES,
    *mfa_key.RULES,
    *lambda_.RULES,
    *iam.RULES,
    *events.RULES,
    *tags.RULES,
    *secrets.RULES,
    *preflight.RULES,
]

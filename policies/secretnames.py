"""What counts as a secret-looking environment variable name, and as a Secrets Manager reference."""

from __future__ import annotations

import re
from typing import Any

from .model import is_unknown

SECRET_WORDS = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|SIGNING_?KEY|"
    r"CREDENTIALS?|WEBHOOK|DSN|CONNECTION_?STRING|DATABASE_URL)",
    re.IGNORECASE,
)
# Names that carry a pointer to a secret or a setting about one, never the secret itself.
METADATA_SUFFIX = re.compile(
    r"_(ARN|NAME|LENGTH|DAYS|SECONDS|MINUTES|HOURS|TTL|ENABLED|SAMESITE|ISSUER|AUDIENCE|PATH|"
    r"HEADER|ALGORITHM|REGION|VERSION_ID)$",
    re.IGNORECASE,
)
SECRETS_MANAGER_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


def secret_looking(name: str, allowed: frozenset[str] = frozenset()) -> bool:
    return (
        name not in allowed and bool(SECRET_WORDS.search(name)) and not METADATA_SUFFIX.search(name)
    )


def is_secret_reference(v: Any) -> bool:
    """A Secrets Manager ARN (optionally with a JSON key suffix), or an unknown value, which can
    only be another resource's output."""
    return is_unknown(v) or (isinstance(v, str) and bool(SECRETS_MANAGER_ARN.match(v)))

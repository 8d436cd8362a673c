"""Password policy (NIST SP 800-63B): length, not composition; no common or breached passwords.

Checked only when a password is set or changed; login never rejects an existing password.
"""

from __future__ import annotations

from functools import cache

from app.core.errors import ValidationFailed
from app.core.security import normalise_password

MAX_PASSWORD_BYTES = 1024  # well above 64 characters; stops hashing abuse with huge inputs


@cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's bundled list of the 30,000 most common passwords from public breach corpora."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problems(password: str, *, email: str | None, min_length: int) -> list[str]:
    problems = []
    normalised = normalise_password(password)  # counted as it will be hashed
    if len(normalised) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if len(normalised.encode()) > MAX_PASSWORD_BYTES:
        problems.append(f"must be at most {MAX_PASSWORD_BYTES} bytes")
    if normalised.lower() in common_passwords():
        problems.append("is too common: it appears in lists of breached passwords")
    if email and normalised.strip().lower() == email.strip().lower():
        problems.append("must not be your email address")
    return problems


def check_password(
    password: str, *, email: str | None, min_length: int, field: str = "password"
) -> str:
    """The password as given (hashing normalises it), or a 422 naming every problem."""
    problems = password_problems(password, email=email, min_length=min_length)
    if problems:
        raise ValidationFailed([{"field": field, "message": problem} for problem in problems])
    return password

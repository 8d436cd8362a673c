"""Email addresses as account names: one normal form, and no invisible or look-alike characters.

NFKC folds compatibility forms (full-width letters, ligatures) into one spelling, then anything
that would let two addresses look the same while comparing different is refused: combining marks
left after NFKC, format characters (zero-width space and joiners, bidi controls: Unicode Cf),
control characters (Cc) and spaces (Zs) inside the address, and a trailing dot on the domain
(``example.com.`` is the same host as ``example.com``). Confusable scripts (UTS #39, a Cyrillic
``а`` for a Latin ``a``) are out of scope: docs/security.md says why.
"""

from __future__ import annotations

import re
import unicodedata

from app.core.errors import ValidationFailed

MAX_EMAIL_LENGTH = 320
_EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# Unicode general categories refused anywhere in an address.
_REFUSED_CATEGORIES = {
    "Mn": "must not contain combining marks",
    "Mc": "must not contain combining marks",
    "Me": "must not contain combining marks",
    "Cf": "must not contain invisible formatting characters",
    "Cc": "must not contain control characters",
    "Zs": "must not contain spaces",
}


def email_problems(email: str) -> list[str]:
    """What makes an already-normalised address a possible look-alike of another."""
    problems = []
    for character in email:
        problem = _REFUSED_CATEGORIES.get(unicodedata.category(character))
        if problem and problem not in problems:
            problems.append(problem)
    if email.endswith("."):
        problems.append("must not end with a dot")
    return problems


def normalise_email(raw: str, field: str = "email") -> str:
    """NFKC, trimmed and lower-cased; a 422 naming every look-alike problem. Every path that
    takes an address (register, login, password reset, the CLI) goes through here."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    problems = email_problems(email)
    if problems:
        raise ValidationFailed([{"field": field, "message": problem} for problem in problems])
    return email


def valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and bool(_EMAIL_SHAPE.match(email))

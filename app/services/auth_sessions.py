"""Session state of an account, and the one lock that orders every change to it.

Rotation (refresh) and revocation (logout, logout-all, password change and reset, the forced
change, reuse detection) each start by locking the account's ``users`` row ``FOR NO KEY UPDATE``
inside their transaction, and only then read or write ``sessions``. So they run one after the
other for the same account: a revocation that answers after a rotation sees the child that
rotation inserted (each statement in READ COMMITTED reads what committed before it started), and
a rotation that waited behind a revocation finds its token revoked. Without the lock, an
``UPDATE ... WHERE revoked_at IS NULL`` never sees a child inserted by a concurrent rotation, and
the stolen session lives on.

``NO KEY UPDATE`` rather than ``UPDATE``: it still conflicts with itself and with the password
and flag updates of ``users``, but not with the ``KEY SHARE`` lock that inserting a session or a
security event takes on the row for its foreign key, so sign-ins are never held up by it.

Needs no signing key: the forced-change command runs this with the database alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from app.core.database import db
from app.models import EmailToken, RefreshToken, User

_LOCK = "FOR NO KEY UPDATE"


def _require_transaction() -> None:
    # Outside a transaction the row lock would end with its own statement and order nothing.
    # An explicit check, not an assert, so ``python -O`` keeps it.
    if not db.in_transaction():
        raise RuntimeError("the session lock is only held inside a transaction")


def lock_account(user_id: uuid.UUID | str) -> User | None:
    """Take the account's session lock (until the transaction ends) and read the account."""
    _require_transaction()
    user: User | None = User.select().where(User.id == user_id).for_update(_LOCK).first()  # type: ignore[arg-type]  # peewee takes a lock clause as text; peewee's stubs says bool only
    return user


def lock_account_of_token(token_hash: str) -> User | None:
    """The same lock, found from a refresh token's digest: one statement that locks only the
    account's row (a subquery's rows are not locked)."""
    _require_transaction()
    owner = RefreshToken.select(RefreshToken.user).where(RefreshToken.token_hash == token_hash)
    user: User | None = User.select().where(User.id == owner).for_update(_LOCK).first()  # type: ignore[arg-type]  # peewee takes a lock clause as text; peewee's stubs says bool only
    return user


def revoke_family(family_id: uuid.UUID, now: datetime) -> int:
    """Revoke one family. The caller holds the account's lock."""
    revoked: int = (
        RefreshToken.update(revoked_at=now)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_null())
        .execute()
    )
    return revoked


# Links that act on the account's credentials: none may outlive a password change, a reset, a
# forced change, a logout-all or an email change.
_CREDENTIAL_LINKS = ("password_reset", "email_change")


def revoke_everything(user: User, now: datetime, keep: uuid.UUID | None = None) -> int:
    """Revoke every session of the account but ``keep``, and every open password-reset and
    email-change link: a link sent before a password change, a reset, a forced change, a
    logout-all or an email change must not outlive it. Takes the account's lock; the caller's
    transaction holds it until commit."""
    lock_account(user.id)
    sessions = RefreshToken.update(revoked_at=now).where(
        RefreshToken.user == user.id, RefreshToken.revoked_at.is_null()
    )
    if keep is not None:
        sessions = sessions.where(RefreshToken.family_id != keep)
    revoked: int = sessions.execute()
    EmailToken.update(used_at=now).where(
        EmailToken.user == user.id,
        EmailToken.purpose.in_(_CREDENTIAL_LINKS),
        EmailToken.used_at.is_null(),
    ).execute()
    return revoked

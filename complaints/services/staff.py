"""Staff accounts, passwords (argon2id) and API tokens (stored as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.db import utcnow
from complaints.models import ApiToken, User, UserRole
from complaints.vocab import ROLES

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# Verified against when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_LENGTH = 8


class StaffError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None


def get_user_by_email(s: Session, email: str) -> User | None:
    return s.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).first()


def create_user(
    s: Session, email: str, name: str, roles: Iterable[str], password: str, locale: str | None = None
) -> User:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise StaffError(
            _(
                "Unknown role(s): %(roles)s. Known: %(known)s.",
                roles=", ".join(unknown),
                known=", ".join(ROLES),
            )
        )
    if not roles:
        raise StaffError(_("Give at least one role."))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(_("The password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    email = email.strip().lower()
    if "@" not in email:
        raise StaffError(_("Not an email address."))
    if get_user_by_email(s, email) is not None:
        raise StaffError(_("A user with email %(email)s exists already.", email=email))
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=hash_password(password),
        active=True,
        session_version=1,
        locale=locale,
        created_at=utcnow(),
    )
    user.role_rows = [UserRole(role=r) for r in roles]
    s.add(user)
    s.flush()
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(s: Session, user: User) -> str:
    """A new bearer token; shown once, only its digest is kept."""
    token = "cpl_" + secrets.token_urlsafe(32)
    s.add(ApiToken(user_id=user.id, token_hash=token_digest(token), created_at=utcnow()))
    s.flush()
    return token


def user_for_token(s: Session, token: str, now: datetime | None = None) -> User | None:
    row = s.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.user.active:
        return None
    return row.user

"""The editable forbidden-phrase list (服务禁语, DOMAIN.md §4): rows in the database.

phrases.py decides whether a text says a phrase; this module keeps the list it decides with.
The built-in phrases (phrases.DEFAULT_PHRASES) are seeded once and never deleted: a quality
manager who finds one too strict deactivates it, and the row stays so it is not seeded again.
Phrases quality managers add may be deleted by whoever added them.

The compiled Guard is cached per process. Its key is cheap to read on every check: the row
count and the highest id (an addition or deletion changes them), and a token in the settings
table that every edit replaces (a deactivation or reactivation changes nothing else).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.errors import Conflict, Forbidden, NotFound
from complaints.evidence import EvidenceError
from complaints.models import ForbiddenPhrase, Setting, User
from complaints.permissions import can_delete_phrase, can_edit_phrases
from complaints.phrases import DEFAULT_ALLOWED, DEFAULT_PHRASES, Guard, is_usable, normalize

VERSION_KEY = "forbidden_phrases.version"
MAX_LENGTH = 200  # the column's length
MIN_FOLDED = 2  # a one-character phrase (不, a) would refuse nearly every message
_CACHE_SIZE = 8

_cache: dict[tuple[Any, ...], Guard] = {}
_cache_lock = threading.Lock()


def _logger() -> logging.Logger:
    return current_app.logger


def _insert(s: Session) -> Any:
    """INSERT … ON CONFLICT for this session's database (both speak it)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


# --- the list ---------------------------------------------------------------------------
def ensure_default_phrases(s: Session, now: datetime | None = None) -> int:
    """Add the built-in phrases that are not on the list yet (by their normalised form).

    Idempotent and safe when run concurrently; a deactivated built-in phrase stays
    deactivated. Flushes in the caller's transaction; returns how many rows were added.
    """
    present = {normalize(text) for text in s.scalars(select(ForbiddenPhrase.phrase))}
    rows = []
    for phrase in DEFAULT_PHRASES:
        folded = normalize(phrase.text)
        if folded and folded not in present:
            present.add(folded)
            row: dict[str, Any] = {"phrase": phrase.text, "active": True, "builtin": True}
            if now is not None:
                row["created_at"] = now
            rows.append(row)
    if not rows:
        return 0
    # One statement, rows in list order (ids ascending: the order phrases are named in).
    stmt = (
        _insert(s)(ForbiddenPhrase)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["phrase"])
        .returning(ForbiddenPhrase.id)
    )
    return len(s.execute(stmt).all())


def seed_if_empty(s: Session) -> int:
    """Seed the built-in phrases on first use (init-db, start and demo seed them anyway)."""
    if s.scalar(select(func.count()).select_from(ForbiddenPhrase)) == 0:
        return ensure_default_phrases(s)
    return 0


def list_phrases(s: Session) -> list[ForbiddenPhrase]:
    """Every phrase, active or not, in list order (which phrase is named when several match)."""
    seed_if_empty(s)
    return list(s.scalars(select(ForbiddenPhrase).order_by(ForbiddenPhrase.id)))


def _version(s: Session) -> tuple[int, int | None, Any]:
    count, max_id = s.execute(select(func.count(), func.max(ForbiddenPhrase.id))).one()
    token = s.scalar(select(Setting.value).where(Setting.key == VERSION_KEY))
    return int(count), max_id, token


def active_guard(s: Session) -> Guard:
    """The compiled guard of the active phrases; compiled again only after an edit."""
    version = _version(s)
    if version[0] == 0:
        ensure_default_phrases(s)
        version = _version(s)
    key = (str(s.get_bind().url), *version)
    with _cache_lock:
        guard = _cache.get(key)
    if guard is not None:
        return guard
    texts = s.scalars(
        select(ForbiddenPhrase.phrase).where(ForbiddenPhrase.active.is_(True)).order_by(ForbiddenPhrase.id)
    )
    guard = Guard(list(texts), DEFAULT_ALLOWED)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = guard
    return guard


def find_forbidden(s: Session, text: str | None) -> str | None:
    """The first active phrase the text says (as written on the list), or None."""
    if not text:
        return None
    return active_guard(s).find(text)


# --- editing (quality managers) -----------------------------------------------------------
def _bump(s: Session, actor: User, now: datetime) -> None:
    """Every edit replaces the token, so every process compiles the list again."""
    insert = _insert(s)
    token = uuid.uuid4().hex
    stmt = insert(Setting).values(key=VERSION_KEY, value=token, updated_at=now, updated_by_id=actor.id)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": stmt.excluded.value, "updated_at": now, "updated_by_id": actor.id},
    )
    s.execute(stmt)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (possible in JSON): no database stores them
        return False
    return True


def validate_phrase(s: Session, text: Any) -> str:
    """A phrase that can be matched and is not on the list yet (in any spelling), or a 422."""
    if not isinstance(text, str) or not text.strip():
        raise EvidenceError({"phrase": _("This field is required.")})
    text = " ".join(text.split())
    if len(text) > MAX_LENGTH:
        raise EvidenceError({"phrase": _("At most %(n)d characters.", n=MAX_LENGTH)})
    if "\x00" in text or not text.isprintable() or not _encodable(text):
        raise EvidenceError({"phrase": _("Contains characters that are not allowed.")})
    if not is_usable(text):
        raise EvidenceError(
            {"phrase": _("A phrase needs at least one letter or digit: punctuation alone cannot be matched.")}
        )
    folded = normalize(text)
    if len(folded) < MIN_FOLDED:
        raise EvidenceError(
            {
                "phrase": _(
                    "A phrase of one character would refuse almost every message. Write the whole phrase."
                )
            }
        )
    for row in s.scalars(select(ForbiddenPhrase)):
        if normalize(row.phrase) == folded:
            if row.active:
                message = _("“%(phrase)s” is on the list already.", phrase=row.phrase)
            else:
                message = _(
                    "“%(phrase)s” is on the list already, deactivated: reactivate it instead.",
                    phrase=row.phrase,
                )
            raise EvidenceError({"phrase": message})
    return text


def add_phrase(s: Session, actor: User, text: Any, now: datetime) -> ForbiddenPhrase:
    """Add a phrase to the list; it is refused from the next message on."""
    if not can_edit_phrases(actor):
        raise Forbidden(_("Only quality managers edit the forbidden phrases."))
    ensure_default_phrases(s)  # so a new phrase is compared with the built-in ones too
    text = validate_phrase(s, text)
    row = ForbiddenPhrase(phrase=text, active=True, builtin=False, created_at=now, created_by_id=actor.id)
    s.add(row)
    s.flush()
    _bump(s, actor, now)
    _logger().info("Forbidden phrase %d %r added by user %d at %s", row.id, text, actor.id, now.isoformat())
    return row


def _get(s: Session, phrase_id: int) -> ForbiddenPhrase:
    row = s.get(ForbiddenPhrase, phrase_id)
    if row is None:
        raise NotFound(_("There is no such phrase."))
    return row


def set_phrase_active(
    s: Session, actor: User, phrase_id: int, active: bool, now: datetime
) -> ForbiddenPhrase:
    """Deactivate a phrase (built-in ones included) or reactivate it."""
    if not can_edit_phrases(actor):
        raise Forbidden(_("Only quality managers edit the forbidden phrases."))
    row = _get(s, phrase_id)
    if row.active == active:
        return row
    row.active = active
    s.flush()
    _bump(s, actor, now)
    _logger().info(
        "Forbidden phrase %d %r %s by user %d at %s",
        row.id,
        row.phrase,
        "reactivated" if active else "deactivated",
        actor.id,
        now.isoformat(),
    )
    return row


def delete_phrase(s: Session, actor: User, phrase_id: int, now: datetime) -> None:
    """Delete a phrase one added oneself; built-in phrases are only ever deactivated."""
    row = _get(s, phrase_id)
    if not can_delete_phrase(actor, row):
        if row.builtin and can_edit_phrases(actor):
            raise Conflict(_("A built-in phrase cannot be deleted; deactivate it instead."), "builtin_phrase")
        raise Forbidden(_("Only the quality manager who added a phrase may delete it."))
    text = row.phrase
    s.delete(row)
    s.flush()
    _bump(s, actor, now)
    _logger().info(
        "Forbidden phrase %d %r deleted by user %d at %s", phrase_id, text, actor.id, now.isoformat()
    )


__all__ = [
    "active_guard",
    "add_phrase",
    "delete_phrase",
    "ensure_default_phrases",
    "find_forbidden",
    "list_phrases",
    "seed_if_empty",
    "set_phrase_active",
    "validate_phrase",
]

"""Collections as ``{"items", "next_cursor"}``: keyset pages with an opaque cursor, never OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app, request
from flask_babel import gettext as _
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from complaints.api.inputs import MAX_ID, whole_number
from complaints.evidence import EvidenceError

T = TypeVar("T")


def encode_cursor(values: Sequence[Any]) -> str:
    """The sort key of the last item given, wrapped so clients treat it as a token."""
    plain = [v.isoformat(timespec="microseconds") if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(token: str, kinds: Sequence[type]) -> tuple[Any, ...]:
    """The sort key inside a cursor, checked value by value; 422 for anything else."""
    bad = EvidenceError({"cursor": _("Not a cursor this list gave out.")})
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(plain, list) or len(plain) != len(kinds):
        raise bad
    values: list[Any] = []
    for kind, value in zip(kinds, plain, strict=True):
        if kind is datetime:
            if not isinstance(value, str):
                raise bad
            try:
                values.append(datetime.fromisoformat(value).replace(tzinfo=None))
            except ValueError:
                raise bad from None
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
                raise bad
            values.append(value)
        else:  # pragma: no cover - a programming error
            raise TypeError(kind)
    return tuple(values)


def page_limit() -> int:
    """``limit`` from the query string: default PAGE_SIZE, at most API_MAX_LIMIT."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return int(current_app.config["PAGE_SIZE"])
    return whole_number(raw, "limit", minimum=1, maximum=int(current_app.config["API_MAX_LIMIT"]))


def keyset_page(
    s: Session,
    stmt: Select[tuple[T]],
    keys: Sequence[InstrumentedAttribute[Any]],
    kinds: Sequence[type],
    *,
    descending: bool,
    serialize: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``stmt`` in the order of ``keys`` (unique together), after ``?cursor=``."""
    limit = page_limit()
    token = request.args.get("cursor")
    if token:
        after = decode_cursor(token, kinds)
        left: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
        right: Any = after[0] if len(keys) == 1 else tuple_(*after)
        stmt = stmt.where(left < right if descending else left > right)
    stmt = stmt.order_by(*(k.desc() if descending else k.asc() for k in keys)).limit(limit + 1)
    rows = list(s.scalars(stmt).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return {"items": [serialize(r) for r in rows], "next_cursor": next_cursor}

"""Read-only case lists for the staff pages: the home sections and the filtered, paged list.

Every query is narrowed by permissions.visible_cases_clause, the SQL twin of can_view_case.
Pages are keyset-paged (no OFFSET): the cursor is the last row's (opened_at, id), opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import contains_eager

from complaints import clock, search
from complaints.db import get_session
from complaints.models import Assistant, Case, Customer
from complaints.permissions import visible_cases_clause
from complaints.workflow import OPEN_STATES, STATES

HOME_LIMIT = 50


class BadCursor(ValueError):
    pass


def encode_cursor(opened_at: datetime, case_id: int) -> str:
    raw = json.dumps([opened_at.isoformat(timespec="microseconds"), case_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, case_id = json.loads(raw)
        if not isinstance(case_id, int) or isinstance(case_id, bool):
            raise BadCursor(cursor)
        return datetime.fromisoformat(when), case_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as e:
        raise BadCursor(cursor) from e


def _visible(user: Any) -> Select[tuple[Case]]:
    return select(Case).where(visible_cases_clause(user))


def unclaimed_queue(user: Any) -> list[Case]:
    """Oldest first: the case that has waited longest is claimed first."""
    q = _visible(user).where(Case.state == "new").order_by(Case.opened_at, Case.id).limit(HOME_LIMIT)
    return list(get_session().scalars(q))


def count_unclaimed(user: Any) -> int:
    q = select(func.count()).select_from(Case).where(visible_cases_clause(user), Case.state == "new")
    return get_session().scalar(q) or 0


def my_open_cases(user: Any) -> list[Case]:
    """The cases I own, the nearest deadline first."""
    q = (
        select(Case)
        .where(Case.owner_id == user.id, Case.state.in_(OPEN_STATES))
        .order_by(Case.due_at.asc().nulls_last(), Case.id)
        .limit(HOME_LIMIT)
    )
    return list(get_session().scalars(q))


def assisting(user: Any) -> list[Case]:
    q = (
        select(Case)
        .join(Assistant, Assistant.case_id == Case.id)
        .where(Assistant.user_id == user.id, Case.state.in_(OPEN_STATES))
        .order_by(Case.due_at.asc().nulls_last(), Case.id)
        .limit(HOME_LIMIT)
    )
    return list(get_session().scalars(q))


def opened_by(user: Any) -> list[Case]:
    q = (
        select(Case)
        .where(Case.opened_by_id == user.id)
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .limit(HOME_LIMIT)
    )
    return list(get_session().scalars(q))


def recent(user: Any) -> list[Case]:
    q = _visible(user).order_by(Case.opened_at.desc(), Case.id.desc()).limit(HOME_LIMIT)
    return list(get_session().scalars(q))


@dataclass
class Filters:
    state: str = ""
    owner: str = ""  # "" (anyone), "me", "none" or a user id
    q: str = ""
    sort: str = ""  # "" (newest first) or "due" (nearest deadline first, overdue on top)
    overdue: str = ""  # "1": only open cases past their deadline

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """Unknown filter values are ignored rather than refused: they come from bookmarks."""
        state = args.get("state", "")
        owner = args.get("owner", "")
        q = " ".join(args.get("q", "").split())[:200]
        return cls(
            state=state if state in STATES else "",
            owner=owner if owner in ("me", "none") or owner.isdigit() else "",
            q=q,
            sort="due" if args.get("sort") == "due" else "",
            overdue="1" if args.get("overdue") == "1" else "",
        )

    def args(self) -> dict[str, str]:
        pairs = (("state", self.state), ("owner", self.owner), ("q", self.q))
        return {k: v for k, v in (*pairs, ("sort", self.sort), ("overdue", self.overdue)) if v}


@dataclass
class Page:
    items: list[Case]
    next_cursor: str | None


def search_cases(user: Any, filters: Filters, cursor: str | None, limit: int) -> Page:
    """Newest first; `q` is a case-insensitive substring match for now (full text comes later)."""
    q = (
        select(Case)
        .join(Customer, Customer.id == Case.customer_id)
        .options(contains_eager(Case.customer))
        .where(visible_cases_clause(user))
    )
    if filters.state:
        q = q.where(Case.state == filters.state)
    if filters.owner == "me":
        q = q.where(Case.owner_id == user.id)
    elif filters.owner == "none":
        q = q.where(Case.owner_id.is_(None))
    elif filters.owner:
        q = q.where(Case.owner_id == int(filters.owner))
    if filters.q:
        # The one search rule (complaints/search.py): Chinese, Latin and phone digits, indexed.
        match = search.search_clause(get_session(), filters.q)
        if match is not None:
            q = q.where(match)
    if filters.overdue:
        q = q.where(Case.due_at < clock.now(), Case.state.in_(OPEN_STATES))
    if filters.sort == "due":
        return _by_due(q, cursor, limit)
    if cursor:
        opened_at, case_id = decode_cursor(cursor)
        q = q.where(or_(Case.opened_at < opened_at, and_(Case.opened_at == opened_at, Case.id < case_id)))
    q = q.order_by(Case.opened_at.desc(), Case.id.desc()).limit(limit + 1)
    rows = list(get_session().scalars(q).unique())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].opened_at, rows[-1].id)
    return Page(rows, next_cursor)


def _by_due(q: Select[tuple[Case]], cursor: str | None, limit: int) -> Page:
    """Nearest deadline first (so overdue on top), cases with no deadline last; keyset-paged on
    (due_at, id), the cursor saying where the last page ended (a NULL due_at included)."""
    if cursor:
        due, case_id = _decode_due_cursor(cursor)
        if due is None:
            q = q.where(Case.due_at.is_(None), Case.id > case_id)
        else:
            q = q.where(
                or_(Case.due_at > due, and_(Case.due_at == due, Case.id > case_id), Case.due_at.is_(None))
            )
    q = q.order_by(Case.due_at.asc().nulls_last(), Case.id.asc()).limit(limit + 1)
    rows = list(get_session().scalars(q).unique())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        due_text = last.due_at.isoformat(timespec="microseconds") if last.due_at else None
        raw = json.dumps(["due", due_text, last.id], separators=(",", ":"))
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return Page(rows, next_cursor)


def _decode_due_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, when, case_id = json.loads(raw)
        if kind != "due" or not isinstance(case_id, int) or isinstance(case_id, bool):
            raise BadCursor(cursor)
        return (datetime.fromisoformat(when) if when is not None else None), case_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as e:
        raise BadCursor(cursor) from e

"""Case search: substrings of Chinese and Latin text and of phone digits, indexed on both databases.

What matches
    The searched fields (reference, customer name, email and phone digits, summary, description,
    product, serial number) and the query are normalised alike by normalise(): NFKC, case
    folded, control and format characters dropped, whitespace runs made one space. A case
    matches when one of its normalised fields contains the normalised query; a query that looks
    like a phone number (digits, spaces, dashes, dots, brackets, plus) also matches by its
    digits alone, so ``0013 8`` finds ``138 0013 8000``. Nothing in a query is syntax: ``%``,
    ``_``, ``*``, quotes, NEAR, OR, SQL are characters to find. Queries are cut to
    MAX_QUERY_LENGTH normalised characters. matches() is the same rule in plain Python.

How it is indexed (table case_search: one row per case; ``doc`` = the normalised fields
joined by newlines, ``grams`` = what the index is built on)
    PostgreSQL: ``grams`` is a bigint[] of every character, pair and triple of adjacent
    characters of each field (pg_grams), under a GIN index. A query asks the index for the rows
    holding its character (1), its pair (2) or its triples (3+; those ANALYZE found in most
    rows are left out), then checks ``strpos(doc, query)``. So ``开机`` is one index probe,
    and ``0013`` or ``smith`` are not drowned by pairs that every row has.
    SQLite: ``grams`` is each field's pairs in order as tokens (ASCII-encoded, then one token
    ending the field), indexed by the FTS5 table case_search_fts (ascii tokenizer, external
    content kept in step by triggers). A query is the FTS5 phrase of its pairs: consecutive
    pairs are a substring, and as no pair spans two fields no match does. One character is a
    prefix query on the tokens starting with it. Exact, no re-check.

Keeping it in step (in the transaction of the change)
    open_case indexes the new case (index_new_case). Call reindex_case(s, case) after changing
    a case's searched text, and reindex_customer(s, customer) after changing a customer's name,
    phone or email -- erasing a customer included, or the old values stay findable.
    rebuild_index(s) rewrites every row; index_values() gives one row for bulk loaders (COPY).

Using it in a list (the /cases?q= page and GET /api/v1/cases?q= alike)
    search_cases(s, q, user=user, limit=n, cursor=c, state=..., owner="me"|"none"|id) returns
    (cases, next_cursor): the cases the user may see (permissions.visible_cases_clause) that
    match, newest first (by id, which follows opened_at), keyset-paged by its own opaque cursor
    (BadCursor for any other). An empty query is the plain list. Use it whenever ``q`` is given:
    it stops as soon as the page is full -- SQLite streams FTS5 matches in id order; PostgreSQL
    reads the newest cases in widening windows and turns to the GIN index once the matches seen
    say the index is cheaper -- so a query matching half of a million cases costs about what one
    matching ten does.
    search_clause(s, q) is ``Case.id IN (matching ids)`` (or None for an empty query) for
    anything else -- counts, exports, another order -- next to visible_cases_clause(user)::

        stmt = select(Case).where(visible_cases_clause(user))
        clause = search.search_clause(s, q)
        if clause is not None:
            stmt = stmt.where(clause)

    It is indexed, but the database then reads every match before ordering them: fine for
    rare words, slow for a word in tens of thousands of cases.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger, Text

from complaints.models import Case, CaseSearch, Customer
from complaints.permissions import visible_cases_clause
from complaints.workflow import STATES

MAX_QUERY_LENGTH = 200
# Raw input beyond this is never looked at (normalising can only lengthen text so much).
_RAW_QUERY_LIMIT = 4 * MAX_QUERY_LENGTH
# Keys sent to the GIN index per query form; strpos() checks the whole query anyway. Keys that
# ANALYZE found in more than _COMMON_KEY_SHARE of the rows are left out (read every
# _KEY_STATS_TTL seconds).
_PG_QUERY_KEYS = 12
_COMMON_KEY_SHARE = 0.1
_KEY_STATS_TTL = 600.0
# Code points are below 2**21, so up to three fit in a bigint (see pg_grams).
_SHIFT = 21
# A PostgreSQL page reads the newest cases in id windows, the first this wide, each next one
# _PG_GROWTH times wider, until the page is full or the GIN index looks cheaper: a match from
# the index costs about _PG_INDEX_COST rows read in order.
_PG_FIRST_WINDOW = 1000
_PG_GROWTH = 4
_PG_INDEX_COST = 4
# Reindexing a customer's cases is done in batches of this many rows.
_BATCH = 500

_DROPPED_CATEGORIES = frozenset(("Cc", "Cf", "Cs"))
_PHONE_LIKE = re.compile(r"[\d ().+\-/]+")
_DIGIT = re.compile(r"\d")

# The FTS5 index of SQLite: an external-content table over case_search.grams.
_fts = table("case_search_fts", column("rowid"), column("grams"))


# --- normalising -----------------------------------------------------------------------
def normalise(value: str | None) -> str:
    """The form both fields and queries are compared in: NFKC, case folded, one-space whitespace."""
    if not value:
        return ""
    folded = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    if not folded.isprintable():
        kept = "".join(ch for ch in folded if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
        folded = " ".join(kept.split())
    return folded


def query_forms(query: str | None) -> list[str]:
    """What a query is looked for as: its normalised text, and its digits if it looks like a phone."""
    normal = normalise((query or "")[:_RAW_QUERY_LIMIT])[:MAX_QUERY_LENGTH].rstrip(" ")
    if not normal:
        return []
    forms = [normal]
    if _PHONE_LIKE.fullmatch(normal):
        digits = "".join(_DIGIT.findall(normal))
        if digits and digits != normal:
            forms.append(digits)
    return forms


def document_fields(
    *,
    reference: str | None,
    customer_name: str | None,
    customer_email: str | None,
    customer_phone_digits: str | None,
    summary: str | None,
    description: str | None,
    product: str | None,
    serial_number: str | None,
) -> list[str]:
    """The normalised, non-empty fields of one case, in a fixed order."""
    raw = (
        reference,
        customer_name,
        customer_email,
        customer_phone_digits,
        summary,
        description,
        product,
        serial_number,
    )
    return [f for f in (normalise(v) for v in raw) if f]


def matches(query: str, fields: Iterable[str]) -> bool:
    """The search rule in plain Python (for tests and checks): a form inside a normalised field."""
    forms = query_forms(query)
    return any(form in field for field in fields for form in forms)


# --- grams -----------------------------------------------------------------------------
def _ascii_code(o: int) -> str:
    ch = chr(o)
    if ("a" <= ch <= "y") or ("0" <= ch <= "9"):
        return ch
    if ch == "z":
        return "zz"
    return f"z{o:02x}"


# A prefix-free code whose output the FTS5 ascii tokenizer keeps whole: a-y and 0-9 stand for
# themselves, other ASCII characters become z + two hex digits (the first 0-7), "z" is "zz",
# and characters beyond ASCII (always token characters for that tokenizer) stand for themselves.
_ASCII_CODES = [_ascii_code(o) for o in range(128)]
_FIELD_END = "z8"  # never a character's code, so a field's last token differs from any pair


def _code(ch: str) -> str:
    o = ord(ch)
    return _ASCII_CODES[o] if o < 128 else ch


def sqlite_tokens(field: str) -> list[str]:
    """The FTS5 tokens of one normalised field: each adjacent pair, then the last character + end."""
    codes = [_code(ch) for ch in field]
    tokens = [a + b for a, b in zip(codes, codes[1:], strict=False)]
    if codes:
        tokens.append(codes[-1] + _FIELD_END)
    return tokens


def pg_grams(field: str) -> set[int]:
    """The GIN keys of one normalised field: its characters, pairs and triples, as integers.

    A character is its code point (below 2**21); a pair (a, b) is ``a << 21 | b`` and a triple
    ``a << 42 | b << 21 | c``: as no normalised character is below U+0020, the three never meet.
    Triples keep queries of 3+ characters selective where pairs are not (digits, Latin).
    """
    points = list(map(ord, field))
    pairs = [(a << _SHIFT) | b for a, b in zip(points, points[1:], strict=False)]
    keys = set(points)
    keys.update(pairs)
    keys.update((ab << _SHIFT) | c for ab, c in zip(pairs, points[2:], strict=False))
    return keys


def index_values(dialect: str, case_id: int, fields: Sequence[str]) -> dict[str, Any]:
    """The case_search row for a case with these normalised fields (see document_fields)."""
    doc = "\n".join(fields)
    if dialect == "postgresql":
        grams: Any = sorted(set().union(*(pg_grams(f) for f in fields)))
    else:
        grams = " ".join(t for f in fields for t in sqlite_tokens(f))
    return {"case_id": case_id, "doc": doc, "grams": grams}


def _fts_query(forms: Sequence[str]) -> str:
    phrases = []
    for form in forms:
        if len(form) == 1:
            phrases.append(f'"{_code(form)}" *')
        else:
            phrases.append('"' + " ".join(sqlite_tokens(form)[:-1]) + '"')
    return " OR ".join(phrases)


def _pg_query_keys(form: str, common: dict[int, float]) -> list[int]:
    """The keys the index is asked for: the character, the pair, or the query's rarer triples.

    Triples held by most rows (``c-2``, ``000`` of every reference) cost the index much and
    narrow nothing: they are left out when rarer ones remain; strpos() checks the rest anyway.
    """
    if len(form) < 3:
        return [_gram_key(form)]
    triples = list(dict.fromkeys(form[i : i + 3] for i in range(len(form) - 2)))
    keys = [_gram_key(t) for t in triples if " " not in t] or [_gram_key(t) for t in triples]
    rare = [k for k in keys if common.get(k, 0.0) <= _COMMON_KEY_SHARE]
    return rare[:_PG_QUERY_KEYS] or sorted(keys, key=lambda k: common.get(k, 0.0))[:2]


def _gram_key(gram: str) -> int:
    key = 0
    for ch in gram:
        key = (key << _SHIFT) | ord(ch)
    return key


# --- queries ---------------------------------------------------------------------------
def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name


def _doc_contains(forms: Sequence[str]) -> ColumnElement[bool]:
    return or_(*(func.strpos(CaseSearch.doc, literal(form, Text)) > 0 for form in forms))


def _pg_condition(s: Session, forms: Sequence[str]) -> ColumnElement[bool]:
    """Rows holding the keys of a form (the GIN index), then really containing it."""
    common = _common_keys(s)
    grams = type_coerce(CaseSearch.grams, ARRAY(BigInteger))
    return or_(
        *(
            and_(
                grams.contains(literal(_pg_query_keys(form, common), ARRAY(BigInteger))),
                func.strpos(CaseSearch.doc, literal(form, Text)) > 0,
            )
            for form in forms
        )
    )


_key_stats: dict[str, tuple[float, dict[int, float]]] = {}


def _common_keys(s: Session) -> dict[int, float]:
    """The index's most common keys and the share of rows holding each, as ANALYZE saw them."""
    database = str(s.get_bind().url)
    cached = _key_stats.get(database)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _KEY_STATS_TTL:
        return cached[1]
    row = s.execute(
        text(
            "SELECT most_common_elems::text::bigint[], most_common_elem_freqs FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = 'case_search' AND attname = 'grams'"
        )
    ).first()
    common = dict(zip(row[0], row[1], strict=False)) if row is not None and row[0] else {}
    _key_stats[database] = (now, common)
    return common


def matching_ids(s: Session, query: str | None) -> Select[tuple[int]] | None:
    """SELECT of the ids of every case matching ``query`` (no permissions); None when empty."""
    forms = query_forms(query)
    if not forms:
        return None
    if _dialect(s) == "postgresql":
        return select(CaseSearch.case_id).where(_pg_condition(s, forms))
    return select(_fts.c.rowid).where(_fts.c.grams.op("MATCH")(literal(_fts_query(forms), Text)))


def search_clause(s: Session, query: str | None) -> ColumnElement[bool] | None:
    """``Case.id IN (matching ids)``, to add to any list of cases; None when the query is empty."""
    ids = matching_ids(s, query)
    return None if ids is None else Case.id.in_(ids)


class BadCursor(ValueError):
    """A cursor that search_cases did not give out."""


def encode_cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(f"s{case_id}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadCursor(cursor) from None
    if not re.fullmatch(r"s[1-9][0-9]{0,17}", raw):
        raise BadCursor(cursor)
    return int(raw[1:])


def search_cases(
    s: Session,
    query: str | None,
    *,
    user: Any,
    limit: int = 25,
    cursor: str | None = None,
    state: str | None = None,
    owner: str | int | None = None,
) -> tuple[list[Case], str | None]:
    """The cases ``user`` may see that match ``query``, newest first; and the next page's cursor.

    ``owner`` is "me", "none" or a user id; an unknown ``state`` matches nothing. An empty query
    lists every visible case. Raises BadCursor for a cursor it did not give out.
    """
    limit = max(1, min(int(limit), 1000))
    conditions: list[ColumnElement[bool]] = [visible_cases_clause(user)]
    if state:
        conditions.append(Case.state == state if state in STATES else Case.id.is_(None))
    if owner == "me":
        conditions.append(Case.owner_id == getattr(user, "id", None))
    elif owner == "none":
        conditions.append(Case.owner_id.is_(None))
    elif owner is not None and owner != "":
        conditions.append(Case.owner_id == int(owner))
    after = decode_cursor(cursor) if cursor else None
    forms = query_forms(query)
    if not forms:
        if after is not None:
            conditions.append(Case.id < after)
        rows = _newest(s, select(Case).where(*conditions), Case.id, limit + 1)
    elif _dialect(s) == "postgresql":
        rows = _pg_search(s, forms, conditions, limit + 1, after)
    else:
        # FTS5 hands out rowids newest first, so the join stops at the limit.
        if after is not None:
            conditions.append(_fts.c.rowid < after)
        match = _fts.c.grams.op("MATCH")(literal(_fts_query(forms), Text))
        stmt = select(Case).select_from(_fts).join(Case, Case.id == _fts.c.rowid).where(match, *conditions)
        rows = _newest(s, stmt, _fts.c.rowid, limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _newest(s: Session, stmt: Select[tuple[Case]], key: Any, n: int) -> list[Case]:
    return list(s.scalars(stmt.order_by(key.desc()).limit(n)).unique())


def _pg_search(
    s: Session, forms: Sequence[str], conditions: list[ColumnElement[bool]], n: int, before: int | None
) -> list[Case]:
    """The newest n visible matches below ``before``, reading recent cases first, then the index.

    A query found in many of the cases the user sees fills the page from the newest few
    windows, whatever the index would have returned; one found in few is answered by the GIN
    index, whose cost grows with its matches. The rate of matches seen in the windows read so
    far tells which is cheaper next.
    """
    hi = before if before is not None else (s.scalar(select(func.max(Case.id))) or 0) + 1
    ids: list[int] = []
    size, seen, hits = _PG_FIRST_WINDOW, 0, 0
    while hi > 1:
        lo = max(hi - size, 1)
        window = (
            select(Case.id.label("id"), _doc_contains(forms).label("hit"))
            .join(CaseSearch, CaseSearch.case_id == Case.id)
            .where(Case.id >= lo, Case.id < hi, *conditions)
            .subquery()
        )
        matched, visible = s.execute(
            select(
                func.array_agg(aggregate_order_by(window.c.id, window.c.id.desc())).filter(window.c.hit),
                func.count(),
            )
        ).one()
        matched = matched or []
        ids += matched[: n - len(ids)]
        seen, hits, hi = seen + visible, hits + len(matched), lo
        if len(ids) >= n or hi <= 1:
            break
        size *= _PG_GROWTH
        if (hits + 1) / (seen + 1) * hi * _PG_INDEX_COST <= size:
            # Materialized: all the index's matches, then the newest visible; never a walk that
            # the planner's (independence-assumed, far too low) estimate of the matches invites.
            found = (
                select(CaseSearch.case_id)
                .where(CaseSearch.case_id < hi, _pg_condition(s, forms))
                .cte("found")
                .prefix_with("MATERIALIZED")
            )
            older = select(Case.id).join(found, found.c.case_id == Case.id).where(*conditions)
            ids += s.scalars(older.order_by(Case.id.desc()).limit(n - len(ids))).all()
            break
    if not ids:
        return []
    return _newest(s, select(Case).where(Case.id.in_(ids)), Case.id, n)


# --- keeping the index in step -----------------------------------------------------------
def _upsert(s: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if _dialect(s) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CaseSearch)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CaseSearch.case_id],
        set_={"doc": stmt.excluded.doc, "grams": stmt.excluded.grams},
        # Unchanged rows are left alone, so the FTS index is not churned for nothing.
        where=or_(CaseSearch.doc != stmt.excluded.doc, CaseSearch.grams != stmt.excluded.grams),
    )
    s.execute(stmt, rows)


_CASE_COLUMNS = (
    Case.id,
    Case.reference,
    Case.summary,
    Case.description,
    Case.product,
    Case.serial_number,
)


def _row(dialect: str, case: Any, customer: Any) -> dict[str, Any]:
    fields = document_fields(
        reference=case.reference,
        customer_name=customer.name,
        customer_email=customer.email,
        customer_phone_digits=customer.phone_digits,
        summary=case.summary,
        description=case.description,
        product=case.product,
        serial_number=case.serial_number,
    )
    return index_values(dialect, case.id, fields)


def reindex_case(s: Session, case: Case) -> None:
    """Write the case's search row from its current fields and its customer's."""
    if case.id is None:
        s.flush()
    _upsert(s, [_row(_dialect(s), case, case.customer)])


def index_new_case(s: Session, case: Case) -> None:
    """Flush and index a case being opened, and its customer's other cases if intake changed them."""
    s.flush()
    dialect = _dialect(s)
    reindex_case(s, case)
    # The customer's rows all hold the same customer fields: if one is stale (intake filled in a
    # phone or an email), they all are.
    sibling = s.execute(
        select(*_CASE_COLUMNS, CaseSearch.doc)
        .outerjoin(CaseSearch, CaseSearch.case_id == Case.id)
        .where(Case.customer_id == case.customer_id, Case.id != case.id)
        .limit(1)
    ).first()
    if sibling is not None and _row(dialect, sibling, case.customer)["doc"] != sibling.doc:
        reindex_customer(s, case.customer)


def reindex_customer(s: Session, customer: Customer) -> None:
    """Rewrite the search rows of every case of this customer (name, phone or email changed)."""
    if customer.id is None:
        s.flush()
    dialect = _dialect(s)
    last = 0
    while True:
        batch = s.execute(
            select(*_CASE_COLUMNS)
            .where(Case.customer_id == customer.id, Case.id > last)
            .order_by(Case.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        _upsert(s, [_row(dialect, case, customer) for case in batch])
        last = batch[-1].id


def rebuild_index(s: Session, *, batch_size: int = 2000) -> int:
    """Rewrite every case's search row (after a bulk load or a change of the rule); returns the count.

    On PostgreSQL, for millions of rows, drop ix_case_search_grams first and create it again
    after: one GIN build is far faster than a million GIN inserts.
    """
    dialect = _dialect(s)
    customer_columns = (Customer.name, Customer.email, Customer.phone_digits)
    last, done = 0, 0
    while True:
        batch = s.execute(
            select(*_CASE_COLUMNS, *customer_columns)
            .join(Customer, Customer.id == Case.customer_id)
            .where(Case.id > last)
            .order_by(Case.id)
            .limit(batch_size)
        ).all()
        if not batch:
            return done
        _upsert(s, [_row(dialect, r, r) for r in batch])
        last = batch[-1].id
        done += len(batch)


__all__ = [
    "MAX_QUERY_LENGTH",
    "BadCursor",
    "document_fields",
    "index_new_case",
    "index_values",
    "matches",
    "matching_ids",
    "normalise",
    "query_forms",
    "rebuild_index",
    "reindex_case",
    "reindex_customer",
    "search_cases",
    "search_clause",
]

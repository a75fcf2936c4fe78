"""Search: Chinese, Latin and phone-digit substrings, permissions, hostile input, the index in step."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import BACKEND, Factory
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from complaints import search
from complaints.config import ROOT
from complaints.db import get_db, utcnow
from complaints.models import Case, CaseSearch, Customer, User
from complaints.models.customer import phone_digits
from complaints.permissions import visible_cases_clause
from complaints.services import cases as case_ops

HOSTILE = [
    "'; DROP TABLE cases; --",
    "'",
    '"',
    '""',
    '"开机',
    "%",
    "%%",
    "_",
    "__",
    "*",
    "开*",
    "NEAR",
    "NEAR(a b)",
    "NEAR(电脑 开机, 2)",
    "a AND b",
    "a OR b",
    "NOT smith",
    "smith OR 1=1",
    "AND",
    "OR",
    "(",
    ")",
    "(smith",
    "\\",
    "\\%",
    "\\_",
    "C-%",
    "grams:abc",
    "case_search_fts",
    "rowid",
    "^smith",
    "-smith",
    "+smith",
    "{smith}",
    "[a-z]",
    ":",
    ";",
    "\x00",
    "开\x00机",
    "smith\x00",
    "\u200b开机",
    "\ufeff",
    "\U0001f600",
    "e\u0301",
    "\u202e开机",
    "x" * 100_000,
    "开机" * 5_000,
    "   ",
    "\t\n",
    "z8",
    "zz",
    "z20",
    "100%",
    "sn_2024*x",
]


@dataclass
class Desk:
    """Three complaints with Chinese, Latin and punctuation in every searched field."""

    laptop: Case
    screen: Case
    printer: Case
    quality: User

    @property
    def all(self) -> dict[str, int]:
        return {"laptop": self.laptop.id, "screen": self.screen.id, "printer": self.printer.id}


@pytest.fixture
def desk(make: Factory) -> Desk:
    opener = make.user("frontline")
    laptop = make.case(opener)  # 陈先生, 138 0013 8000, 电脑无法开机, ThinkBook 14, PF3ABC12
    screen = make.case(
        opener,
        customer_name="John Smith",
        customer_phone="+44 20-7946 0958",
        customer_email="John.Smith@Example.com",
        channel="email",
        summary="Screen flickers",
        description='The LCD screen flickers after 10 minutes; 100% reproducible. "Bad" panel?',
        product="MacBook Air",
        serial_number="SN_2024*X",
    )
    printer = make.case(
        opener,
        customer_name="王女士",
        customer_phone="139-1234-5678",
        summary="打印机卡纸",
        description="打印时经常卡纸,已经清理过。",
        product="激光打印机 P1108",
        serial_number="VNB3R12345",
    )
    return Desk(laptop, screen, printer, make.user("quality"))


@pytest.fixture
def s(app: Flask) -> Iterator[Session]:
    with app.app_context():
        session = get_db(app).new_session()
        try:
            yield session
        finally:
            session.rollback()
            session.close()


def found(s: Session, query: str, user: Any, **kw: Any) -> set[int]:
    """The ids search_cases returns, every page of them."""
    ids: list[int] = []
    cursor = None
    while True:
        page, cursor = search.search_cases(
            s, query, user=user, limit=kw.pop("limit", 50), cursor=cursor, **kw
        )
        ids += [c.id for c in page]
        if cursor is None:
            break
    assert len(ids) == len(set(ids))
    s.rollback()  # end the read: on SQLite an open transaction would hold up the next writer
    return set(ids)


def found_by_clause(s: Session, query: str, user: Any) -> set[int]:
    """The ids a list view gets by adding search_clause to its own select."""
    stmt = select(Case.id).where(visible_cases_clause(user))
    clause = search.search_clause(s, query)
    if clause is not None:
        stmt = stmt.where(clause)
    ids = set(s.scalars(stmt))
    s.rollback()
    return ids


def names(desk: Desk, ids: set[int]) -> set[str]:
    return {name for name, case_id in desk.all.items() if case_id in ids}


def stored_fields(s: Session) -> dict[int, list[str]]:
    """Every case's searched fields, normalised in Python from the rows themselves."""
    rows = s.execute(
        select(
            Case.id,
            Case.reference,
            Customer.name,
            Customer.email,
            Customer.phone_digits,
            Case.summary,
            Case.description,
            Case.product,
            Case.serial_number,
        ).join(Customer, Customer.id == Case.customer_id)
    ).all()
    s.rollback()
    return {
        r.id: search.document_fields(
            reference=r.reference,
            customer_name=r.name,
            customer_email=r.email,
            customer_phone_digits=r.phone_digits,
            summary=r.summary,
            description=r.description,
            product=r.product,
            serial_number=r.serial_number,
        )
        for r in rows
    }


def expected(s: Session, query: str) -> set[int]:
    """The pure-Python answer: cases with a normalised field containing the normalised query."""
    return {case_id for case_id, fields in stored_fields(s).items() if search.matches(query, fields)}


def check_against_python(s: Session, query: str, user: User) -> set[int]:
    want = expected(s, query) if search.query_forms(query) else set(stored_fields(s))
    assert found(s, query, user) == want
    assert found_by_clause(s, query, user) == want
    return want


# --- what it finds -------------------------------------------------------------------
def check_table(desk: Desk, s: Session, table: list[tuple[str, set[str]]]) -> None:
    """Every query finds exactly its cases, by search_cases and by search_clause alike."""
    wrong = {}
    for query, want in table:
        page = names(desk, found(s, query, desk.quality))
        clause = names(desk, found_by_clause(s, query, desk.quality))
        if page != want or clause != want:
            wrong[query] = {"search_cases": page, "search_clause": clause, "want": want}
    assert wrong == {}


def test_chinese_substrings_of_any_length(desk: Desk, s: Session) -> None:
    check_table(
        desk,
        s,
        [
            ("开机", {"laptop"}),  # two characters inside 电脑无法开机
            ("机", {"laptop", "printer"}),  # one character: 开机, 打印机
            ("卡", {"printer"}),
            ("无法开", {"laptop"}),
            ("电脑无法开机", {"laptop"}),
            ("笔记本电脑按电源键", {"laptop"}),  # inside the description
            ("打印", {"printer"}),  # summary, description and product
            ("陈先生", {"laptop"}),
            ("陈", {"laptop"}),
            ("王女", {"printer"}),
            ("开机不", set()),
            ("机开", set()),
        ],
    )


def test_latin_is_case_insensitive_substring(desk: Desk, s: Session) -> None:
    check_table(
        desk,
        s,
        [
            ("thinkbook", {"laptop"}),
            ("ThinkBook 14", {"laptop"}),
            ("THINKBOOK", {"laptop"}),
            ("book", {"laptop", "screen"}),
            ("smith", {"screen"}),
            ("SMITH", {"screen"}),
            ("Smi", {"screen"}),
            ("john smith", {"screen"}),
            ("John  Smith", {"screen"}),  # whitespace runs count as one space
            ("n s", {"screen"}),
            ("flicker", {"screen"}),
            ("macbook air", {"screen"}),
            ("pf3abc", {"laptop"}),  # serial number
            ("p1108", {"printer"}),  # product
            ("ｔｈｉｎｋｂｏｏｋ", {"laptop"}),  # full-width letters fold to ASCII (NFKC)
            ("lcd", {"screen"}),
            ("q", set()),
            ("smiths", set()),
        ],
    )


def test_phone_numbers_by_partial_digits(desk: Desk, s: Session) -> None:
    check_table(
        desk,
        s,
        [
            ("0013 8", {"laptop"}),  # the digits of 138 0013 8000, spaced differently
            ("00138", {"laptop"}),
            ("138-0013-8000", {"laptop"}),
            ("13800138000", {"laptop"}),
            ("(138) 0013", {"laptop"}),
            ("１３８００", {"laptop"}),  # full-width digits
            ("1234-56", {"printer"}),
            ("139 1234 5678", {"printer"}),
            ("7946 0958", {"screen"}),
            ("+44 20", {"screen"}),
            ("4420", {"screen"}),
            ("13", {"laptop", "printer"}),
            ("0013 9", set()),
        ],
    )


def test_email_parts(desk: Desk, s: Session) -> None:
    check_table(
        desk,
        s,
        [
            ("john.smith@example.com", {"screen"}),
            ("JOHN.SMITH@EXAMPLE.COM", {"screen"}),
            ("smith@", {"screen"}),
            ("@example", {"screen"}),
            ("example.com", {"screen"}),
            ("n.s", {"screen"}),
            ("h.s", set()),
        ],
    )


def test_reference_whole_partial_and_lowercase(desk: Desk, s: Session) -> None:
    ref = desk.screen.reference  # C-YYYY-000002
    check_table(
        desk,
        s,
        [
            (ref, {"screen"}),
            (ref.lower(), {"screen"}),
            (ref[-4:], {"screen"}),
            ("c-", {"laptop", "screen", "printer"}),
        ],
    )


def test_punctuation_and_operators_are_literal(desk: Desk, s: Session) -> None:
    check_table(
        desk,
        s,
        [
            ("100%", {"screen"}),
            ("%", {"screen"}),
            ("_", {"screen"}),
            ("*", {"screen"}),
            ("sn_2024*x", {"screen"}),
            ('"bad"', {"screen"}),
            ('"', {"screen"}),
            ("panel?", {"screen"}),
            ("; 100", {"screen"}),
            ("%开机", set()),
            ("开%", set()),
            ("开_机", set()),
            ("开*", set()),
            ("sn%", set()),
            ("s_", set()),
            ("NEAR", set()),
            ("thinkbook OR smith", set()),
            ("thinkbook AND 14", set()),
            ("'; DROP TABLE cases; --", set()),
        ],
    )


def test_a_match_never_spans_two_fields(desk: Desk, s: Session) -> None:
    # summary 电脑无法开机 is followed by description 新买的…; product ThinkBook 14 by serial PF3ABC12.
    check_table(desk, s, [(q, set()) for q in ("开机新买", "机新", "14pf3", "14 pf3", "4p", "陈先生电脑")])


def test_an_empty_query_lists_every_visible_case(desk: Desk, s: Session) -> None:
    assert search.search_clause(s, "  \t ") is None
    assert found(s, "", desk.quality) == set(desk.all.values())
    assert found(s, "\x00\u200b", desk.quality) == set(desk.all.values())


# --- hostile input ------------------------------------------------------------------
def test_hostile_input_is_text_and_never_an_error(desk: Desk, s: Session) -> None:
    for query in HOSTILE:
        check_against_python(s, query, desk.quality)
    assert s.scalar(select(func.count()).select_from(Case)) == 3
    assert s.scalar(select(func.count()).select_from(CaseSearch)) == 3


# --- permissions --------------------------------------------------------------------
def test_results_respect_permissions(make: Factory, app: Flask, s: Session) -> None:
    f1, f2 = make.user("frontline"), make.user("frontline")
    r1, r2 = make.user("responder"), make.user("responder")
    quality = make.user("quality")
    k1 = make.case(f1)  # unclaimed
    k2 = make.case(f2)  # unclaimed
    k3 = make.case(f1)
    make.claim(k3, r1)  # r1 owns it
    k4 = make.case(f2)
    make.claim(k4, r2)  # r1 assists r2
    k5 = make.case(f2)
    make.claim(k5, r2)  # nothing to do with r1 or f1
    with get_db(app).transaction() as tx:
        case_ops.invite_assistant(
            tx, tx.get(Case, k4.id), tx.get(User, r2.id), tx.get(User, r1.id), make.clock.now
        )
    every = {c.id for c in (k1, k2, k3, k4, k5)}
    cases = {
        f1.id: {k1.id, k3.id},  # front line: only what they opened
        f2.id: {k2.id, k4.id, k5.id},
        r1.id: {k1.id, k2.id, k3.id, k4.id},  # own, assisting, and the unclaimed queue
        r2.id: {k1.id, k2.id, k4.id, k5.id},
        quality.id: every,
    }
    for user_id, visible in cases.items():
        user = s.get(User, user_id)
        for query in ("开机", "机", "thinkbook", "0013 8", "", "C-"):
            assert found(s, query, user) == visible, (user.email, query)
            assert found_by_clause(s, query, user) == visible, (user.email, query)
    assert found(s, "开机", None) == set()
    assert found(s, "开机", s.get(User, quality.id), owner="me") == set()
    assert found(s, "开机", s.get(User, r1.id), owner="me") == {k3.id}
    assert found(s, "开机", s.get(User, r1.id), owner="none") == {k1.id, k2.id}
    assert found(s, "开机", s.get(User, quality.id), owner=r2.id) == {k4.id, k5.id}
    assert found(s, "开机", s.get(User, quality.id), state="new") == {k1.id, k2.id}
    assert found(s, "开机", s.get(User, quality.id), state="no-such-state") == set()


def test_pages_are_newest_first_and_complete(make: Factory, s: Session) -> None:
    opener = make.user("frontline")
    made = [make.case(opener, summary=f"屏幕闪烁 {i}") for i in range(7)]
    make.case(opener, summary="别的问题")
    quality = make.user("quality")
    seen: list[int] = []
    cursor = None
    for _page in range(10):
        page, cursor = search.search_cases(s, "闪烁", user=quality, limit=3, cursor=cursor)
        seen += [c.id for c in page]
        if cursor is None:
            break
    assert seen == sorted((c.id for c in made), reverse=True)
    with pytest.raises(search.BadCursor):
        search.search_cases(s, "闪烁", user=quality, limit=3, cursor="not-a-cursor")
    with pytest.raises(search.BadCursor):
        search.search_cases(
            s, "闪烁", user=quality, limit=3, cursor="YzE="
        )  # "s1" would be ours, "c1" is not


# --- the index follows the data -----------------------------------------------------
def test_reindex_after_a_customer_changes(make: Factory, app: Flask, s: Session) -> None:
    opener = make.user("frontline")
    first = make.case(opener, customer_name="Li Lei", customer_phone="186 1111 2222")
    second = make.case(opener, customer_name="Li Lei", customer_phone="18611112222", summary="屏幕碎了")
    other = make.case(opener, customer_name="Han Meimei", customer_phone="135 0000 0000")
    quality = make.user("quality")
    assert found(s, "li lei", quality) == {first.id, second.id}

    with get_db(app).transaction() as tx:
        customer = tx.get(Customer, first.customer_id)
        customer.name = "Lee Ray"
        customer.phone = "177-3333-4444"
        customer.phone_digits = phone_digits(customer.phone)
        customer.email = "lee.ray@example.org"
        search.reindex_customer(tx, customer)
    for query in ("li lei", "1111 2222"):
        assert found(s, query, quality) == set(), query
    for query in ("lee ray", "3333-4444", "lee.ray@", "example.org"):
        assert found(s, query, quality) == {first.id, second.id}, query
    assert found(s, "han", quality) == {other.id}


def test_intake_that_fills_in_an_email_reindexes_the_customers_earlier_cases(
    make: Factory, s: Session
) -> None:
    opener = make.user("frontline")
    first = make.case(opener, customer_name="Zhang San", customer_phone="150 1234 0000")
    # Same phone: the same customer; this intake tells us their email for the first time.
    second = make.case(
        opener, customer_name="Zhang San", customer_phone="15012340000", customer_email="zs@example.cn"
    )
    assert second.customer_id == first.customer_id
    assert found(s, "zs@example", make.user("quality")) == {first.id, second.id}


def test_reindex_after_case_text_changes(desk: Desk, app: Flask, s: Session) -> None:
    with get_db(app).transaction() as tx:
        case = tx.get(Case, desk.laptop.id)
        case.summary = "屏幕不亮"
        case.product = "Yoga Pro"
        search.reindex_case(tx, case)
    assert found(s, "开机", desk.quality) == set()
    assert found(s, "屏幕不亮", desk.quality) == {desk.laptop.id}
    assert found(s, "yoga", desk.quality) == {desk.laptop.id}
    assert found(s, "新买的", desk.quality) == {desk.laptop.id}  # the description is still there


def test_every_opened_case_has_its_search_row(desk: Desk, s: Session) -> None:
    rows = dict(s.execute(text("SELECT case_id, doc FROM case_search")).all())
    assert set(rows) == set(desk.all.values())
    assert rows[desk.laptop.id].split("\n")[:2] == [desk.laptop.reference.lower(), "陈先生"]
    assert search.rebuild_index(s) == 3
    assert dict(s.execute(text("SELECT case_id, doc FROM case_search")).all()) == rows


# --- properties ---------------------------------------------------------------------
ALPHABET = st.sampled_from(list("开机电脑无法屏幕卡纸 aAbBßẞİi̇ｔ1２3-_%*\"'()\\:^ ")) | st.characters(
    exclude_categories=("Cs",), exclude_characters="\x00"
)
FIELD_TEXT = st.text(ALPHABET, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_query_matches_exactly_the_python_rule(desk: Desk, s: Session, data: st.DataObject) -> None:
    """Arbitrary text never errors, and finds the cases whose normalised fields contain it: no more."""
    fields = stored_fields(s)
    pieces = [f for fs in fields.values() for f in fs]
    from_data = st.sampled_from(pieces).flatmap(
        lambda f: st.tuples(st.integers(0, len(f)), st.integers(1, 12)).map(
            lambda ij: f[ij[0] : ij[0] + ij[1]]
        )
    )
    query = data.draw(st.one_of(st.text(), FIELD_TEXT, from_data, from_data.map(str.upper)), label="query")
    check_against_python(s, query, desk.quality)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summary=FIELD_TEXT.filter(str.strip), description=FIELD_TEXT, data=st.data())
def test_any_stored_text_is_found_by_its_substrings(
    desk: Desk, app: Flask, s: Session, summary: str, description: str, data: st.DataObject
) -> None:
    """Whatever text a case holds, every substring of its normalised fields finds it."""
    with get_db(app).transaction() as tx:
        case = tx.get(Case, desk.printer.id)
        case.summary, case.description = summary, description
        search.reindex_case(tx, case)
    s.expire_all()
    field = data.draw(st.sampled_from(stored_fields(s)[desk.printer.id]), label="field")
    start = data.draw(st.integers(0, len(field) - 1), label="start")
    query = field[start : start + data.draw(st.integers(1, 8), label="length")]
    if search.normalise(query) == query.strip(" ") and query.strip(" "):
        assert desk.printer.id in found(s, query, desk.quality)
    check_against_python(s, query, desk.quality)
    check_against_python(s, data.draw(FIELD_TEXT, label="other"), desk.quality)


def _migration() -> Any:
    path = ROOT / "migrations" / "versions" / "2026_11_23_0003_search.py"
    spec = importlib.util.spec_from_file_location("search_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=200, deadline=None)
@given(raw=st.lists(st.none() | FIELD_TEXT, min_size=8, max_size=8))
def test_the_migration_backfills_by_the_same_rule(raw: list[str | None]) -> None:
    migration = _migration()
    names_ = (
        "reference",
        "customer_name",
        "customer_email",
        "customer_phone_digits",
        "summary",
        "description",
        "product",
        "serial_number",
    )
    fields = search.document_fields(**dict(zip(names_, raw, strict=True)))
    frozen = [f for f in (migration._normalise(v) for v in raw) if f]
    assert frozen == fields
    for dialect in ("sqlite", "postgresql"):
        assert migration._index_values(dialect, 7, frozen) == search.index_values(dialect, 7, fields)


# --- the index is used --------------------------------------------------------------
CHINESE = [
    "电脑",
    "无法",
    "关机",
    "屏幕",
    "闪烁",
    "电池",
    "充电",
    "发热",
    "噪音",
    "死机",
    "蓝屏",
    "键盘",
    "触控板",
]
CHINESE += ["花屏", "黑屏", "漏液", "异响", "卡顿", "重启", "进水", "维修", "退货", "换货", "客服", "态度"]
LATIN = ["laptop", "screen", "battery", "charger", "noise", "broken", "repair", "refund", "slow", "hot"]
LATIN += ["keyboard", "touchpad", "display", "black", "blue", "restart", "water", "service", "delivery"]


def _bulk_cases(s: Session, opener: User | None, n: int) -> None:
    """n new cases of varied text written straight to the tables, then indexed by rebuild_index."""
    rng = random.Random(20261123)
    if opener is None:
        opener = User(
            email="bulk@example.com", name="Bulk", password_hash="x", active=True, session_version=1
        )
        s.add(opener)
    customer = Customer(name="批量客户", phone="100", phone_digits="100", email=None)
    s.add(customer)
    s.flush()
    now = utcnow()
    rows = []
    for i in range(n):
        words = rng.sample(CHINESE, 4) + rng.sample(LATIN, 3)
        rng.shuffle(words)
        rows.append(
            {
                "reference": f"B-{i:08d}",
                "state": "new",
                "version": 1,
                "opened_by_id": opener.id,
                "customer_id": customer.id,
                "channel": "phone",
                "summary": "".join(words[:3]),
                "description": " ".join(words) + f" 第{i}号",
                "product": rng.choice(["ThinkPad X1", "MateBook 14", "Yoga 7", "IdeaPad 5"]),
                "serial_number": f"SN{rng.randrange(10**8):08d}",
                "category": "product",
                "severity": "normal",
                "opened_at": now,
                "awaiting_customer": False,
                "reopen_count": 0,
                "event_count": 0,
            }
        )
    s.execute(Case.__table__.insert(), rows)
    search.rebuild_index(s)
    s.commit()


def _explain(s: Session, query: str, user: User) -> str:
    stmt = select(Case.id).where(visible_cases_clause(user), search.search_clause(s, query))
    stmt = stmt.order_by(Case.id.desc()).limit(26)
    compiled = stmt.compile(s.get_bind())
    params: Any = compiled.params
    if compiled.positiontup:  # SQLite's qmark style
        params = tuple(params[name] for name in compiled.positiontup)
    prefix = "EXPLAIN " if BACKEND == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = s.connection().exec_driver_sql(prefix + str(compiled), params).all()
    return "\n".join(" ".join(str(v) for v in r) for r in rows)


def test_the_index_answers_two_character_chinese_and_latin_queries(desk: Desk, s: Session) -> None:
    opener = s.get(User, desk.laptop.opened_by_id)
    _bulk_cases(s, opener, 3000 if BACKEND == "postgresql" else 500)
    quality = s.get(User, desk.quality.id)
    if BACKEND == "postgresql":
        s.execute(text("ANALYZE case_search"))
        s.execute(text("ANALYZE cases"))
        search._key_stats.clear()  # read the statistics just gathered, not ones cached earlier
    for query, want in (
        ("开机", {desk.laptop.id}),
        ("thinkbook", {desk.laptop.id}),
        ("卡纸", {desk.printer.id}),
    ):
        plan = _explain(s, query, quality)
        if BACKEND == "postgresql":
            assert "ix_case_search_grams" in plan, plan
            assert "Seq Scan on case_search" not in plan, plan
        else:
            assert "case_search_fts VIRTUAL TABLE INDEX" in plan, plan
        # These words are in the desk's cases only; 屏幕 is in hundreds of the bulk rows.
        assert found_by_clause(s, query, quality) == want
        assert found(s, query, quality) == want
    assert len(found(s, "屏幕", quality)) > 50


@pytest.mark.parametrize(
    ("first", "growth", "index_cost"),
    [
        (1, 2, 0),  # the GIN index right after the first window
        (1, 2, 10**9),  # windows all the way down
        (7, 3, 4),  # a mix
        (100_000, 4, 4),  # one window holds everything
    ],
)
def test_every_way_of_reading_gives_the_same_pages(
    desk: Desk, s: Session, monkeypatch: pytest.MonkeyPatch, first: int, growth: int, index_cost: int
) -> None:
    """PostgreSQL reads recent windows, then maybe the index: any mix returns the same pages."""
    monkeypatch.setattr(search, "_PG_FIRST_WINDOW", first)
    monkeypatch.setattr(search, "_PG_GROWTH", growth)
    monkeypatch.setattr(search, "_PG_INDEX_COST", index_cost)
    _bulk_cases(s, None, 300)
    users = [s.get(User, desk.quality.id), s.get(User, desk.laptop.opened_by_id)]
    for user in users:
        visible = found_by_clause(s, "", user)
        for query in ("屏幕", "关机", "电", "thinkpad", "x1", "ThinkBook", "b-0000", "0013 8", "第1", "无此"):
            want = expected(s, query) & visible
            ids: list[int] = []
            cursor = None
            for _page in range(100):
                page, cursor = search.search_cases(s, query, user=user, limit=7, cursor=cursor)
                ids += [c.id for c in page]
                if cursor is None:
                    break
            s.rollback()
            assert ids == sorted(want, reverse=True), (user.email, query)


def test_the_migration_backfills_cases_that_exist(tmp_path: Any) -> None:
    """Upgrading a database that already has cases indexes them."""
    from conftest import _create_pg_database, _drop_pg_database

    from complaints.db import make_engine
    from complaints.migrate import upgrade

    url = (
        _create_pg_database("complaints_search") if BACKEND == "postgresql" else f"sqlite:///{tmp_path}/m.db"
    )
    engine = make_engine(url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, name, password_hash, active, session_version, created_at) "
                    "VALUES (1, 'a@example.com', 'A', 'x', true, 1, :now)"
                ),
                {"now": utcnow()},
            )
            conn.execute(
                text(
                    "INSERT INTO customers (id, name, phone, phone_digits, email, created_at) "
                    "VALUES (1, 'John Smith', '138 0013 8000', '13800138000', 'js@example.com', :now)"
                ),
                {"now": utcnow()},
            )
            conn.execute(
                text(
                    "INSERT INTO cases (id, reference, state, version, opened_by_id, customer_id, channel, "
                    "summary, description, product, category, severity, opened_at, awaiting_customer, "
                    "reopen_count, event_count) VALUES (7, 'C-2026-000007', 'new', 1, 1, 1, 'phone', "
                    "'电脑无法开机', '按电源键没有反应', 'ThinkBook 14', 'product', 'normal', :now, false, 0, 0)"
                ),
                {"now": utcnow()},
            )
        upgrade(engine)
        with Session(engine) as s:
            for query in ("开机", "机", "thinkbook", "0013 8", "smith", "js@", "c-2026-000007"):
                ids = search.matching_ids(s, query)
                assert ids is not None
                assert set(s.scalars(ids)) == {7}, query
    finally:
        engine.dispose()
        if BACKEND == "postgresql":
            _drop_pg_database(url)


def test_keys_most_rows_hold_are_left_out_of_the_index_query() -> None:
    """Which GIN keys a query uses changes its speed, never its answer (strpos decides)."""
    key = search._gram_key
    triples = ["c-2", "-20", "202", "026", "26-", "6-0", "-00", "000", "001", "012", "123", "234"]
    every_reference = {key(t): 1.0 for t in triples[:8]}
    assert search._pg_query_keys("c-2026-0001234", every_reference) == [key(t) for t in triples[8:]]
    assert search._pg_query_keys("c-2026", every_reference) == [key("c-2"), key("-20")]  # nothing rarer
    assert search._pg_query_keys("开机", every_reference) == [key("开机")]
    assert search._pg_query_keys("a b", {}) == [key("a b")]
    assert search._pg_query_keys("ab cd", {}) == [key("ab "), key("b c"), key(" cd")]  # only spaced ones

"""Quality figures over a period, counted by the database: the page, the CSV files and the API
all show what ``build_report`` returns.

The period is [from, to): local dates in the deployment's time zone, ``to`` not included;
by default the last 30 days up to and including today. The filters (category, product —
exact text —, channel, owner — the case's current owner) apply to the cases a figure counts.

Which cases or records each figure counts:

- **opened / closed / withdrawn**: cases opened in the period; cases closed (withdrawn) in
  the period that are still closed (withdrawn) — a case reopened since counts when it closes
  again. **Time to close** runs from opening to that closure.
- **time in each step**: one *visit* per stay in a state, from the move that entered it to
  the move that left it, counted in the period in which it ended. A case that loops (a
  corrected restatement back to listen, a declined remedy proposed again, a dissatisfied
  customer back to analyse, an audit reopening) makes one visit per stay, each counted
  separately. Only visits ended by completing the step (or, for "new", by the claim) count: a
  withdrawal ends the case, not the step. The time awaiting the customer is part of the
  step's time.
- **breaches per step**: ``deadline_breached`` events in the period, by the state breached.
- **root-cause Pareto**: cases opened in the period, by the root-cause category their
  analysis recorded (the latest, after a reopen); cases not analysed yet are counted apart.
- **prevention actions per department**: prevent steps completed in the period.
- **satisfaction**: the customers' answers to the verify step recorded in the period (a
  dissatisfied answer reopens the case, so counting closed cases would never show one);
  the rate is satisfied / answered, where answered leaves out "no response".
- **reopen rate**: of the cases closed in the period, those reopened at least once.
- **repeat complainants**: customers with more than one case opened in the period.
- **recurrence after prevention**: for each product and root-cause category with a preventive
  action (a prevent step routed to a department, not "no systemic cause") recorded in the
  period or in the year before it, the cases with that product and root cause opened in the
  period after the first such action, and how many of them after the latest one. The filters
  other than product apply to the new cases, not to the cases whose prevention is looked at.
  (Looking back a fixed year keeps the cost in step with the period, not with the history.)
- **per responder**: by current owner, the cases opened in the period they own, the cases
  closed in the period, the median time to close, the satisfaction rate of the answers, the
  breaches and the audit findings (finding items of audits given in the period).

How it stays fast on a large history: every figure is one grouped SQL query returning a
handful of rows; no event rows are loaded into Python, and the events' JSON text is parsed
only for the rare rows that need it (breaches). Step visits come from a narrow projection of
the moves already on indexed columns — claim and opening times on ``cases`` (index
``ix_cases_claimed``), one ``step_records`` row per completed step, written with its
``step_completed`` event (covering index ``ix_step_records_step_recorded``), and
``case_reopened`` events. Only the moves made in the period are read; a window function
(``LAG`` over each case's moves, in order) gives each visit's start, and for the first move
of a case in the period — a case already under way when the period began — the move before
it is looked up by the case's own indexes, for those rows alone. Durations are whole
seconds. Percentiles are the continuous kind (linear interpolation between the two nearest
values, as ``percentile_cont``): PostgreSQL computes them with ``percentile_cont(...) WITHIN
GROUP``; SQLite, which has no such aggregate, ranks the values with ``row_number()`` and
``count()`` window functions and returns only the (at most four) rows at the ranks each
percentile needs, which Python interpolates. On PostgreSQL the report's transaction sorts in
memory (``work_mem``) and skips JIT compilation, which costs more than it saves here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Select, Subquery

from complaints import vocab
from complaints.evidence import EvidenceError
from complaints.models import Audit, Case, Customer, Event, StepRecord, User, UserRole
from complaints.workflow import STEPS

DEFAULT_DAYS = 30
PERCENTILES = (0.5, 0.9)
# The states whose visits are timed: waiting to be claimed, then the eight steps.
TIMED_STATES = ("new", *STEPS)
# Of the satisfaction answers, those that are an answer (the rate's denominator).
ANSWERS = ("satisfied", "neutral", "dissatisfied")
SCORES = (1, 2, 3, 4, 5)
# Departments that mean a preventive action was taken ("none" is a reasoned no).
NO_DEPARTMENT = "none"
# Recurrence looks at the preventive actions of the period and of this long before it.
PREVENTION_LOOKBACK = timedelta(days=365)
# How many repeat complainants the page lists (the CSV file has them all).
TOP_REPEATERS = 20
# PostgreSQL memory per sort while a report is built (its sorts spill to disk at the default 4MB).
REPORT_WORK_MEM = "64MB"


# (owner id, satisfaction answer, score, number of answers)
AnswerRows = list[tuple[int | None, str | None, int | None, int]]


# --- the query: period and filters -------------------------------------------------
@dataclass(frozen=True)
class ReportQuery:
    first_day: date
    end_day: date  # not included
    tz: ZoneInfo
    category: str | None = None
    product: str | None = None
    channel: str | None = None
    owner_id: int | None = None

    @property
    def start(self) -> datetime:
        """The period's first moment, naive UTC as stored."""
        return _utc_midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return _utc_midnight(self.end_day, self.tz)

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)

    def args(self) -> dict[str, str]:
        """The query string that gives this report again (page, CSV and API alike)."""
        out = {"from": self.first_day.isoformat(), "to": self.end_day.isoformat()}
        for key, value in (
            ("category", self.category),
            ("product", self.product),
            ("channel", self.channel),
            ("owner", self.owner_id),
        ):
            if value is not None:
                out[key] = str(value)
        return out


def _utc_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def default_period(today: date) -> tuple[date, date]:
    """The last 30 days, today included."""
    end = today + timedelta(days=1)
    return end - timedelta(days=DEFAULT_DAYS), end


def parse_query(args: Mapping[str, Any], *, today: date, tz: ZoneInfo) -> ReportQuery:
    """The period and filters from a query string; EvidenceError names each bad one."""
    errors: dict[str, str] = {}
    default_from, default_to = default_period(today)

    def day(name: str, default: date) -> date:
        raw = (args.get(name) or "").strip()
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = _("Must be a date (YYYY-MM-DD).")
            return default

    first = day("from", default_from)
    end = day("to", default_to)
    if "from" not in errors and "to" not in errors and end <= first:
        errors["to"] = _("Must be after the start of the period.")

    def choice(name: str, choices: Mapping[str, Any]) -> str | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if raw not in choices:
            errors[name] = _("Choose one of the listed values.")
            return None
        return raw

    category = choice("category", vocab.CATEGORIES)
    channel = choice("channel", vocab.CHANNELS)
    product = " ".join((args.get("product") or "").split()) or None
    if product is not None and len(product) > 200:
        errors["product"] = _("At most %(n)d characters.", n=200)
    owner_id = None
    raw_owner = (args.get("owner") or "").strip()
    if raw_owner:
        if raw_owner.isdigit() and 0 < int(raw_owner) < 2**31:
            owner_id = int(raw_owner)
        else:
            errors["owner"] = _("Choose one of the listed values.")
    if errors:
        raise EvidenceError(errors)
    return ReportQuery(first, end, tz, category, product, channel, owner_id)


def owner_choices(s: Session) -> list[tuple[int, str]]:
    """Who may own cases: the first responders, by name."""
    rows = s.execute(
        select(User.id, User.name)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "responder")
        .order_by(User.name, User.id)
    )
    return [(uid, name) for uid, name in rows]


# --- SQL helpers ----------------------------------------------------------------------
def _is_pg(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _seconds(s: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    """Whole seconds between two stored times."""
    if _is_pg(s):
        return cast(func.round(func.extract("epoch", later - earlier)), Float)
    return cast(func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0), Float)


def _json_text(s: Session, column: Any, key: str) -> ColumnElement[str]:
    """One key of JSON text stored in a Text column (the events' data)."""
    if _is_pg(s):
        return cast(column, JSON)[key].as_string()
    return type_coerce(column, JSON)[key].as_string()


def _in_period(column: Any, q: ReportQuery) -> ColumnElement[bool]:
    return and_(column >= q.start, column < q.end)


def _case_filters(q: ReportQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if q.category is not None:
        out.append(Case.category == q.category)
    if q.product is not None:
        out.append(Case.product == q.product)
    if q.channel is not None:
        out.append(Case.channel == q.channel)
    if q.owner_id is not None:
        out.append(Case.owner_id == q.owner_id)
    return out


def _filtered(stmt: Select[Any], case_id: Any, q: ReportQuery) -> Select[Any]:
    """Join the case only when a filter needs its columns."""
    filters = _case_filters(q)
    if not filters:
        return stmt
    return stmt.join(Case, Case.id == case_id).where(*filters)


def _percentiles(s: Session, sub: Subquery) -> dict[Any, tuple[int, list[float]]]:
    """{group: (count, [p50, p90])} over ``sub``'s (grp, v) rows, computed in the database."""
    if _is_pg(s):
        rows = s.execute(
            select(
                sub.c.grp,
                func.count(),
                *(func.percentile_cont(p).within_group(sub.c.v) for p in PERCENTILES),
            ).group_by(sub.c.grp)
        )
        return {row[0]: (int(row[1]), [float(x) for x in row[2:]]) for row in rows}
    ranked = select(
        sub.c.grp,
        sub.c.v,
        func.row_number().over(partition_by=sub.c.grp, order_by=sub.c.v).label("rn"),
        func.count().over(partition_by=sub.c.grp).label("n"),
    ).subquery()
    wanted = []
    for p in PERCENTILES:
        low = cast(1 + p * (ranked.c.n - 1), Integer)  # truncates: the floor of a positive value
        wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
    values: dict[Any, dict[int, float]] = {}
    counts: dict[Any, int] = {}
    for grp, v, rn, n in s.execute(
        select(ranked.c.grp, ranked.c.v, ranked.c.rn, ranked.c.n).where(or_(*wanted))
    ):
        values.setdefault(grp, {})[int(rn)] = float(v)
        counts[grp] = int(n)
    return {
        grp: (counts[grp], [_interpolate(vals, counts[grp], p) for p in PERCENTILES])
        for grp, vals in values.items()
    }


def _interpolate(by_rank: Mapping[int, float], n: int, p: float) -> float:
    """percentile_cont from the values at the two ranks around position 1 + p(n - 1)."""
    pos = 1 + p * (n - 1)
    low = math.floor(pos)
    v_low = by_rank[low]
    v_high = by_rank.get(low + 1, v_low)
    return v_low + (pos - low) * (v_high - v_low)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- the figures ------------------------------------------------------------------------
def _counts(s: Session, q: ReportQuery) -> dict[str, Any]:
    opened = _in_period(Case.opened_at, q)
    closed = and_(Case.state == "closed", _in_period(Case.closed_at, q))
    withdrawn = and_(Case.state == "withdrawn", _in_period(Case.closed_at, q))
    row = s.execute(
        select(
            func.coalesce(func.sum(case((opened, 1), else_=0)), 0),
            func.coalesce(func.sum(case((closed, 1), else_=0)), 0),
            func.coalesce(func.sum(case((withdrawn, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(closed, Case.reopen_count > 0), 1), else_=0)), 0),
        ).where(
            or_(opened, and_(Case.state.in_(("closed", "withdrawn")), _in_period(Case.closed_at, q))),
            *_case_filters(q),
        )
    ).one()
    n_opened, n_closed, n_withdrawn, n_reopened = (int(x) for x in row)
    close = select(literal(1).label("grp"), _seconds(s, Case.closed_at, Case.opened_at).label("v")).where(
        Case.state == "closed", _in_period(Case.closed_at, q), *_case_filters(q)
    )
    stats = _percentiles(s, close.subquery()).get(1)
    return {
        "counts": {"opened": n_opened, "closed": n_closed, "withdrawn": n_withdrawn},
        "time_to_close": {
            "cases": stats[0] if stats else 0,
            "median_seconds": stats[1][0] if stats else None,
            "p90_seconds": stats[1][1] if stats else None,
        },
        "reopen": {"closed": n_closed, "reopened": n_reopened, "rate": _ratio(n_reopened, n_closed)},
    }


def _visits(s: Session, q: ReportQuery) -> Subquery:
    """The visits that ended in the period: (left_state, left_at, entered_at).

    The moves made in the period are read (claims, completed steps, reopenings); each one's
    start is the move before it in the same case (``LAG``). For the first move of a case in
    the period that move is older: a claim's is the opening, a completed step's is the latest
    of the claim, the case's earlier step records and its reopenings — looked up for those
    rows alone, which are the cases already under way when the period began.
    """
    filters = _case_filters(q)
    claims = select(
        Case.id.label("case_id"),
        Case.claimed_at.label("at"),
        literal(1).label("rank"),
        literal(0).label("ord"),
        cast(literal("new"), String).label("left_state"),
        Case.opened_at.label("known_entry"),
    ).where(_in_period(Case.claimed_at, q), *filters)
    steps = select(
        StepRecord.case_id,
        StepRecord.recorded_at,
        literal(2),
        StepRecord.id,
        StepRecord.step,
        cast(null(), DateTime),
    ).where(StepRecord.step.in_(STEPS), _in_period(StepRecord.recorded_at, q))
    reopens = select(
        Event.case_id, Event.at, literal(3), Event.seq, cast(null(), String), cast(null(), DateTime)
    ).where(Event.action == "case_reopened", _in_period(Event.at, q))
    moves = union_all(
        claims, _filtered(steps, StepRecord.case_id, q), _filtered(reopens, Event.case_id, q)
    ).subquery()
    previous = func.lag(moves.c.at).over(
        partition_by=moves.c.case_id, order_by=(moves.c.at, moves.c.rank, moves.c.ord)
    )
    m = select(moves, previous.label("previous_at")).subquery()
    claimed_at = select(Case.claimed_at).where(Case.id == m.c.case_id).scalar_subquery()
    earlier_step = (
        select(func.max(StepRecord.recorded_at))
        .where(StepRecord.case_id == m.c.case_id, StepRecord.id < m.c.ord)
        .scalar_subquery()
    )
    earlier_reopen = (
        select(func.max(Event.at))
        .where(Event.case_id == m.c.case_id, Event.action == "case_reopened", Event.at < m.c.at)
        .scalar_subquery()
    )
    latest = func.greatest if _is_pg(s) else func.max  # SQLite's max() of several values
    older = latest(
        claimed_at, func.coalesce(earlier_step, claimed_at), func.coalesce(earlier_reopen, claimed_at)
    )
    entered = func.coalesce(m.c.previous_at, m.c.known_entry, older)
    return (
        select(m.c.left_state, m.c.at.label("left_at"), entered.label("entered_at"))
        .where(m.c.left_state.is_not(None))
        .subquery()
    )


def _step_times(s: Session, q: ReportQuery) -> list[dict[str, Any]]:
    visits = _visits(s, q)
    timed = (
        select(
            visits.c.left_state.label("grp"), _seconds(s, visits.c.left_at, visits.c.entered_at).label("v")
        )
        .where(visits.c.left_state.in_(TIMED_STATES))
        .subquery()
    )
    stats = _percentiles(s, timed)
    out = []
    for state in TIMED_STATES:
        n, (p50, p90) = stats.get(state, (0, [None, None]))
        out.append({"state": state, "visits": n, "median_seconds": p50, "p90_seconds": p90})
    return out


def _breaches(s: Session, q: ReportQuery) -> list[dict[str, Any]]:
    state = _json_text(s, Event.data, "state")
    rows = dict(
        s.execute(
            _filtered(
                select(state, func.count()).where(
                    Event.action == "deadline_breached", _in_period(Event.at, q)
                ),
                Event.case_id,
                q,
            ).group_by(state)
        ).all()
    )
    known = list(TIMED_STATES) + sorted(k for k in rows if k not in TIMED_STATES and k)
    return [{"state": st, "count": int(rows.get(st, 0))} for st in known]


def _root_causes(s: Session, q: ReportQuery) -> dict[str, Any]:
    opened = and_(_in_period(Case.opened_at, q), *_case_filters(q))
    rows = s.execute(
        select(Case.root_cause_category, func.count()).where(opened).group_by(Case.root_cause_category)
    ).all()
    counts = {cause: int(n) for cause, n in rows if cause is not None}
    not_analysed = sum(int(n) for cause, n in rows if cause is None)
    order = list(vocab.ROOT_CAUSE_CATEGORIES)
    ranked = sorted(
        counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else len(order), kv[0])
    )
    total = sum(counts.values())
    items, running = [], 0
    for cause, n in ranked:
        running += n
        items.append(
            {
                "root_cause": cause,
                "count": n,
                "percent": 100.0 * n / total,
                "cumulative_percent": 100.0 * running / total,
            }
        )
    return {"analysed": total, "not_analysed": not_analysed, "items": items}


def _step_records_in_period(q: ReportQuery, step: str) -> list[ColumnElement[bool]]:
    return [StepRecord.step == step, _in_period(StepRecord.recorded_at, q)]


def _prevention(s: Session, q: ReportQuery) -> dict[str, Any]:
    department = StepRecord.evidence["department"].as_string()
    rows = dict(
        s.execute(
            _filtered(
                select(department, func.count()).where(*_step_records_in_period(q, "prevent")),
                StepRecord.case_id,
                q,
            ).group_by(department)
        ).all()
    )
    known = list(vocab.DEPARTMENTS) + sorted(k for k in rows if k not in vocab.DEPARTMENTS and k)
    items = [{"department": d, "count": int(rows.get(d, 0))} for d in known]
    actions = sum(item["count"] for item in items if item["department"] != NO_DEPARTMENT)
    return {"actions": actions, "no_systemic_cause": int(rows.get(NO_DEPARTMENT, 0)), "items": items}


def _verify_answers(s: Session, q: ReportQuery) -> AnswerRows:
    """(owner, answer, score, count) of the satisfaction answers recorded in the period."""
    answer = StepRecord.evidence["satisfaction"].as_string()
    score = StepRecord.evidence["score"].as_integer()
    rows = s.execute(
        select(Case.owner_id, answer, score, func.count())
        .select_from(StepRecord)
        .join(Case, Case.id == StepRecord.case_id)
        .where(*_step_records_in_period(q, "verify"), *_case_filters(q))
        .group_by(Case.owner_id, answer, score)
    )
    return [(owner, a, None if sc is None else int(sc), int(n)) for owner, a, sc, n in rows]


def _satisfaction(answers_rows: AnswerRows) -> dict[str, Any]:
    answers = dict.fromkeys(vocab.SATISFACTION, 0)
    scores = dict.fromkeys(SCORES, 0)
    for _owner, a, sc, n in answers_rows:
        if a in answers:
            answers[a] += n
        if sc in scores:
            scores[sc] += n
    answered = sum(answers[a] for a in ANSWERS)
    return {
        "answers": answers,
        "scores": {str(k): v for k, v in scores.items()},
        "answered": answered,
        "rate": _ratio(answers["satisfied"], answered),
    }


def repeat_complainants(s: Session, q: ReportQuery, limit: int | None = TOP_REPEATERS) -> dict[str, Any]:
    """Customers with more than one case opened in the period; the ``limit`` with most cases listed."""
    per_customer = (
        select(Case.customer_id, func.count().label("n"))
        .where(_in_period(Case.opened_at, q), *_case_filters(q))
        .group_by(Case.customer_id)
        .having(func.count() > 1)
        .subquery()
    )
    customers, cases = s.execute(select(func.count(), func.coalesce(func.sum(per_customer.c.n), 0))).one()
    listed = (
        select(Customer.id, Customer.name, per_customer.c.n)
        .join(per_customer, per_customer.c.customer_id == Customer.id)
        .order_by(per_customer.c.n.desc(), Customer.name, Customer.id)
    )
    if limit is not None:
        listed = listed.limit(limit)
    return {
        "customers": int(customers),
        "cases": int(cases),
        "items": [{"customer_id": cid, "name": name, "cases": int(n)} for cid, name, n in s.execute(listed)],
    }


def _recurrence(s: Session, q: ReportQuery) -> dict[str, Any]:
    department = StepRecord.evidence["department"].as_string()
    prevented = (
        select(
            Case.product.label("product"),
            Case.root_cause_category.label("cause"),
            func.min(StepRecord.recorded_at).label("first_at"),
            func.max(StepRecord.recorded_at).label("latest_at"),
            func.count().label("actions"),
        )
        .select_from(StepRecord)
        .join(Case, Case.id == StepRecord.case_id)
        .where(
            StepRecord.step == "prevent",
            StepRecord.recorded_at >= q.start - PREVENTION_LOOKBACK,
            StepRecord.recorded_at < q.end,
            department != NO_DEPARTMENT,
            Case.product.is_not(None),
            Case.root_cause_category.is_not(None),
            *([Case.product == q.product] if q.product is not None else []),
        )
        .group_by(Case.product, Case.root_cause_category)
        .subquery()
    )
    after_latest = case((Case.opened_at > prevented.c.latest_at, 1), else_=0)
    rows = s.execute(
        select(
            prevented.c.product,
            prevented.c.cause,
            prevented.c.first_at,
            prevented.c.latest_at,
            prevented.c.actions,
            func.count(),
            func.sum(after_latest),
        )
        .join(
            Case,
            and_(
                Case.product == prevented.c.product,
                Case.root_cause_category == prevented.c.cause,
                Case.opened_at > prevented.c.first_at,
            ),
        )
        .where(_in_period(Case.opened_at, q), *_case_filters(q))
        .group_by(
            prevented.c.product,
            prevented.c.cause,
            prevented.c.first_at,
            prevented.c.latest_at,
            prevented.c.actions,
        )
        .order_by(func.count().desc(), prevented.c.product, prevented.c.cause)
    ).all()
    items = [
        {
            "product": product,
            "root_cause": cause,
            "preventions": int(actions),
            "first_prevention_at": _timestamp(first_at),
            "latest_prevention_at": _timestamp(latest_at),
            "recurring_cases": int(n),
            "since_latest": int(since_latest or 0),
        }
        for product, cause, first_at, latest_at, actions, n, since_latest in rows
    ]
    return {"recurring_cases": sum(i["recurring_cases"] for i in items), "items": items}


def _responders(s: Session, q: ReportQuery, answers_rows: AnswerRows) -> list[dict[str, Any]]:
    filters = _case_filters(q)
    owned = dict(
        s.execute(
            select(Case.owner_id, func.count())
            .where(_in_period(Case.opened_at, q), Case.owner_id.is_not(None), *filters)
            .group_by(Case.owner_id)
        ).all()
    )
    close = select(Case.owner_id.label("grp"), _seconds(s, Case.closed_at, Case.opened_at).label("v")).where(
        Case.state == "closed", _in_period(Case.closed_at, q), Case.owner_id.is_not(None), *filters
    )
    closing = _percentiles(s, close.subquery())
    satisfaction: dict[int, tuple[int, int]] = {}
    for owner, a, _score, n in answers_rows:
        if owner is not None:
            sat, answered = satisfaction.get(owner, (0, 0))
            satisfaction[owner] = (sat + n * (a == "satisfied"), answered + n * (a in ANSWERS))
    breaches = dict(
        s.execute(
            select(Case.owner_id, func.count())
            .select_from(Event)
            .join(Case, Case.id == Event.case_id)
            .where(
                Event.action == "deadline_breached",
                _in_period(Event.at, q),
                Case.owner_id.is_not(None),
                *filters,
            )
            .group_by(Case.owner_id)
        ).all()
    )
    findings = dict(
        s.execute(
            select(Case.owner_id, func.coalesce(func.sum(func.json_array_length(Audit.findings)), 0))
            .select_from(Audit)
            .join(Case, Case.id == Audit.case_id)
            .where(_in_period(Audit.created_at, q), Case.owner_id.is_not(None), *filters)
            .group_by(Case.owner_id)
        ).all()
    )
    ids = set(owned) | set(closing) | set(satisfaction) | set(breaches) | set(findings)
    names = dict(s.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    rows = []
    for uid in ids:
        n_closed, (median, _p90) = closing.get(uid, (0, [None, None]))
        sat, answered = satisfaction.get(uid, (0, 0))
        rows.append(
            {
                "user_id": uid,
                "name": names.get(uid, "?"),
                "cases": int(owned.get(uid, 0)),
                "closed": n_closed,
                "median_close_seconds": median,
                "satisfied": sat,
                "answered": answered,
                "satisfaction_rate": _ratio(sat, answered),
                "breaches": int(breaches.get(uid, 0)),
                "audit_findings": int(findings.get(uid, 0)),
            }
        )
    rows.sort(key=lambda r: (r["name"], r["user_id"]))
    return rows


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


# --- the report -----------------------------------------------------------------------
def _tune(s: Session) -> None:
    """For this transaction only: sort in memory, and skip JIT compilation (it costs more than
    it saves on these one-off aggregate queries)."""
    if _is_pg(s):
        s.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
        s.execute(text("SET LOCAL jit = off"))


def build_report(s: Session, q: ReportQuery) -> dict[str, Any]:
    """Every figure for the period and filters, as plain JSON-ready values (codes, not labels)."""
    _tune(s)
    report: dict[str, Any] = {
        "period": {
            "from": q.first_day.isoformat(),
            "to": q.end_day.isoformat(),
            "timezone": q.tz.key,
            "start": _timestamp(q.start),
            "end": _timestamp(q.end),
        },
        "filters": {"category": q.category, "product": q.product, "channel": q.channel, "owner": q.owner_id},
    }
    report.update(_counts(s, q))
    report["step_times"] = _step_times(s, q)
    report["breaches"] = _breaches(s, q)
    report["root_causes"] = _root_causes(s, q)
    report["prevention"] = _prevention(s, q)
    answers = _verify_answers(s, q)
    report["satisfaction"] = _satisfaction(answers)
    report["repeat_complainants"] = repeat_complainants(s, q)
    report["recurrence"] = _recurrence(s, q)
    report["responders"] = _responders(s, q, answers)
    return report

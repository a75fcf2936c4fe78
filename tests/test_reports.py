"""Quality reports: every figure checked against a pure-Python computation over the same rows.

The data set is made through the real services (open, claim, steps with every loop, withdraw,
audits with findings and reopening); time-limit breaches are appended as the deadline worker
appends them. The expected figures are computed here from the events read back (the report
itself reads the narrower columns and step records), so the two are independent.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from conftest import TZ, api_headers, good_evidence
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from complaints import vocab
from complaints.checklist import ITEM_CODES
from complaints.db import get_db
from complaints.evidence import EvidenceError
from complaints.models import Audit, Case, Customer, Event, User
from complaints.services import audits as audit_ops
from complaints.services import cases as case_ops
from complaints.services import reports
from complaints.services.history import append_event
from complaints.workflow import STEPS, Actor

START = datetime(2026, 3, 1, 1, 0, 0, 250000)  # naive UTC: 09:00 in Shanghai
PRODUCTS = ["ThinkBook 14", "小新 Pro 16", "Yoga Air"]
CUSTOMERS = [(f"客户{i}号", f"139 0000 {i:04d}") for i in range(9)]
TIMED = ("new", *STEPS)
MOVES = ("case_claimed", "step_completed", "case_withdrawn", "case_reopened")


# --- making a data set through the services --------------------------------------------
@dataclass
class Staff:
    quality: User
    frontline: User
    responders: list[User]
    admin: User


@pytest.fixture
def staff(make) -> Staff:
    return Staff(
        quality=make.user("quality", name="质量 王"),
        frontline=make.user("frontline", name="Front Desk"),
        responders=[
            make.user("responder", name="张伟"),
            make.user("responder", name="Li Na"),
            make.user("responder", name="Ann Smith"),
        ],
        admin=make.user("admin", name="Admin"),
    )


class Maker:
    """Drives cases along random but reproducible paths, with the clock moving between moves."""

    def __init__(self, app, make, clock, staff: Staff, seed: int, plain: bool = False) -> None:
        self.app, self.make, self.clock, self.staff = app, make, clock, staff
        self.rng = random.Random(seed)
        self.plain = plain  # no loops, no breaches, no audits

    def chance(self, p: float) -> bool:
        return not self.plain and self.rng.random() < p

    def wait(self, low: int = 5, high: int = 900) -> None:
        self.clock.advance(minutes=self.rng.randint(low, high))

    def tx(self):
        return get_db(self.app).transaction()

    def breach(self, case: Case) -> None:
        """As the deadline worker records it: a system event naming the state and its due time."""
        with self.app.app_context(), self.tx() as s:
            c = s.get(Case, case.id)
            due = c.due_at or self.clock.now
            append_event(
                s,
                c,
                "deadline_breached",
                Actor("system"),
                {"state": c.state, "due_at": due.isoformat()},
                self.clock.now,
            )

    def step(self, case: Case, owner: User, step: str, **evidence: Any) -> None:
        if self.chance(0.15):
            self.breach(case)
        self.wait()
        ev = good_evidence(step, self.clock.now)
        ev.update(evidence)
        self.make.step(case, owner, step, {k: v for k, v in ev.items() if v is not None})

    def withdraw(self, case: Case, user: User) -> None:
        self.wait()
        with self.app.app_context(), self.tx() as s:
            case_ops.withdraw_case(
                s, s.get(Case, case.id), s.get(User, user.id), "客户撤回投诉", self.clock.now
            )

    def audit(self, case: Case, findings: int, reopen_to: str | None = None) -> None:
        self.wait(5, 60)
        data: dict[str, Any] = {"verdict": "findings" if findings else "compliant"}
        if findings:
            data["findings"] = [{"item": ITEM_CODES[i], "text": f"发现 {i}"} for i in range(findings)]
        if reopen_to:
            data["reopen_to"] = reopen_to
        with self.app.app_context(), self.tx() as s:
            audit_ops.record_audit(
                s,
                s.get(Case, case.id),
                s.get(User, self.staff.quality.id),
                audit_ops.validate_verdict(data),
                self.clock.now,
            )

    def run_from(self, case: Case, owner: User, first: str, stop: str | None) -> bool:
        """Complete steps from ``first``; False when stopped before closing."""
        rng = self.rng
        i = STEPS.index(first)
        while i < len(STEPS):
            step = STEPS[i]
            if step == stop:
                return False
            if step == "confirm" and self.chance(0.2):
                self.step(
                    case, owner, "confirm", customer_response="corrected", correction="不是开机问题,是屏幕。"
                )
                i = STEPS.index("listen")
                continue
            if step == "analyse":
                self.step(
                    case, owner, "analyse", root_cause_category=rng.choice(list(vocab.ROOT_CAUSE_CATEGORIES))
                )
            elif step == "agree" and self.chance(0.2):
                self.step(case, owner, "agree", customer_response="declined", reason="客户要求退款")
                continue
            elif step == "prevent":
                department = rng.choice(list(vocab.DEPARTMENTS))
                if department == "none":
                    self.step(
                        case, owner, "prevent", department="none", preventive_action=None, none_reason="个例"
                    )
                else:
                    self.step(case, owner, "prevent", department=department)
            elif step == "verify":
                roll = 0.5 if self.plain else rng.random()
                if roll < 0.2:
                    self.step(case, owner, "verify", satisfaction="dissatisfied", score=rng.choice([1, 2]))
                    i = STEPS.index("analyse")
                    continue
                if roll < 0.3:
                    self.clock.advance(days=7, minutes=10)
                    self.step(
                        case, owner, "verify", satisfaction="no_response", score=None, comment=None, via=None
                    )
                else:
                    answer = rng.choice(["satisfied", "satisfied", "neutral"])
                    self.step(case, owner, "verify", satisfaction=answer, score=rng.randint(3, 5))
            else:
                self.step(case, owner, step)
            i += 1
        return True

    def one_case(self, opened_at: datetime, plan: str | None = None) -> Case:
        rng = self.rng
        self.clock.now = opened_at
        name, phone = rng.choice(CUSTOMERS)
        case = self.make.case(
            self.staff.frontline,
            customer_name=name,
            customer_phone=phone,
            product=rng.choice(PRODUCTS),
            category=rng.choice(["product", "service", "delivery"]),
            channel=rng.choice(["phone", "email", "web"]),
        )
        plan = plan or rng.choice(
            ["new", "withdrawn_new", "partial", "withdrawn", "closed", "closed", "closed"]
        )
        if plan == "new":
            if self.chance(0.3):
                self.breach(case)
            return case
        if plan == "withdrawn_new":
            self.withdraw(case, self.staff.frontline)
            return case
        owner = rng.choice(self.staff.responders)
        if self.chance(0.2):
            self.wait(240, 400)
            self.breach(case)
        self.wait()
        self.make.claim(case, owner)
        stop = rng.choice(STEPS[1:]) if plan in ("partial", "withdrawn") else None
        closed = self.run_from(case, owner, "apologise", stop)
        if plan == "withdrawn":
            self.withdraw(case, owner)
        if closed and self.chance(0.5):
            reopen = rng.choice([None, "act", "analyse"])
            self.audit(case, rng.randint(0, 3) or (1 if reopen else 0), reopen)
            if reopen:
                self.run_from(case, owner, reopen, None)
        return case


def make_world(app, make, clock, staff: Staff, n: int, seed: int = 7) -> None:
    m = Maker(app, make, clock, staff, seed)
    for _ in range(n):
        m.one_case(START + timedelta(minutes=m.rng.randint(0, 24 * 24 * 60)))


# --- reading the rows back and computing the figures in Python --------------------------
@dataclass
class World:
    cases: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]
    audits: list[dict[str, Any]]
    users: dict[int, str]
    customers: dict[int, str] = field(default_factory=dict)


def read_world(app) -> World:
    with app.app_context():
        s = get_db(app).new_session()
        cases = {
            c.id: {
                "id": c.id,
                "opened_at": c.opened_at,
                "closed_at": c.closed_at,
                "state": c.state,
                "owner_id": c.owner_id,
                "category": c.category,
                "product": c.product,
                "channel": c.channel,
                "customer_id": c.customer_id,
            }
            for c in s.query(Case)
        }
        events = [
            {"case_id": e.case_id, "seq": e.seq, "at": e.at, "action": e.action, "data": json.loads(e.data)}
            for e in s.query(Event).order_by(Event.case_id, Event.seq)
        ]
        audits = [
            {"case_id": a.case_id, "created_at": a.created_at, "findings": list(a.findings)}
            for a in s.query(Audit)
        ]
        users = {u.id: u.name for u in s.query(User)}
        customers = {c.id: c.name for c in s.query(Customer)}
        s.close()
    return World(cases, events, audits, users, customers)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks (as percentile_cont)."""
    xs = sorted(values)
    k = p * (len(xs) - 1)
    f = math.floor(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (k - f) * (xs[c] - xs[f])


def stats(values: list[float]) -> tuple[int, float | None, float | None]:
    if not values:
        return 0, None, None
    return len(values), statistics.median(values), percentile(values, 0.9)


def utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC).replace(tzinfo=None)


def expected_report(w: World, first: date, end_day: date, **flt: Any) -> dict[str, Any]:
    start, end = utc(first), utc(end_day)

    def within(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    def matches(c: dict[str, Any]) -> bool:
        return all(
            flt.get(key) is None or c[col] == flt[key]
            for key, col in (
                ("category", "category"),
                ("product", "product"),
                ("channel", "channel"),
                ("owner", "owner_id"),
            )
        )

    cases = {cid: c for cid, c in w.cases.items() if matches(c)}
    by_case: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in w.events:
        by_case[e["case_id"]].append(e)

    # Visits, reopen cycles and the latest root cause, replayed from each case's events.
    visits: list[tuple[int, str, float, datetime]] = []
    reopened: Counter[int] = Counter()
    cause: dict[int, str] = {}
    for cid, evs in by_case.items():
        state, entered = None, None
        for e in evs:
            d = e["data"]
            if e["action"] == "case_opened":
                state, entered = "new", e["at"]
            elif e["action"] in MOVES:
                assert e["action"] != "step_completed" or d["from"] == state
                if e["action"] in ("case_claimed", "step_completed") and state in TIMED:
                    visits.append((cid, state, float(round((e["at"] - entered).total_seconds())), e["at"]))
                if e["action"] == "case_reopened" or (d.get("step") == "verify" and d["to"] == "analyse"):
                    reopened[cid] += 1
                if d.get("step") == "analyse":
                    cause[cid] = d["evidence"]["root_cause_category"]
                state, entered = d["to"], e["at"]
    completed = [
        (e["case_id"], e["at"], e["data"]["step"], e["data"]["evidence"])
        for e in w.events
        if e["action"] == "step_completed"
    ]

    opened = [c for c in cases.values() if within(c["opened_at"])]
    closed = [c for c in cases.values() if c["state"] == "closed" and within(c["closed_at"])]
    withdrawn = [c for c in cases.values() if c["state"] == "withdrawn" and within(c["closed_at"])]

    def close_seconds(c: dict[str, Any]) -> float:
        return float(round((c["closed_at"] - c["opened_at"]).total_seconds()))

    ttc = stats([close_seconds(c) for c in closed])
    n_reopened = sum(1 for c in closed if reopened[c["id"]] > 0)

    step_times = []
    for st in TIMED:
        n, p50, p90 = stats([v for cid, s, v, at in visits if s == st and cid in cases and within(at)])
        step_times.append({"state": st, "visits": n, "median_seconds": p50, "p90_seconds": p90})

    breach_events = [
        e
        for e in w.events
        if e["action"] == "deadline_breached" and e["case_id"] in cases and within(e["at"])
    ]
    breach_count = Counter(e["data"]["state"] for e in breach_events)
    breaches = [{"state": st, "count": breach_count.get(st, 0)} for st in TIMED]
    breaches += [{"state": st, "count": n} for st, n in sorted(breach_count.items()) if st not in TIMED]

    cause_counts = Counter(cause[c["id"]] for c in opened if c["id"] in cause)
    order = list(vocab.ROOT_CAUSE_CATEGORIES)
    total = sum(cause_counts.values())
    items, running = [], 0
    for rc, n in sorted(cause_counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]))):
        running += n
        items.append(
            {
                "root_cause": rc,
                "count": n,
                "percent": 100 * n / total,
                "cumulative_percent": 100 * running / total,
            }
        )
    root_causes = {"analysed": total, "not_analysed": len(opened) - total, "items": items}

    prevent_in = [
        (cid, ev) for cid, at, step, ev in completed if step == "prevent" and cid in cases and within(at)
    ]
    dept = Counter(ev["department"] for _, ev in prevent_in)
    prevention = {
        "actions": sum(n for d, n in dept.items() if d != "none"),
        "no_systemic_cause": dept.get("none", 0),
        "items": [{"department": d, "count": dept.get(d, 0)} for d in vocab.DEPARTMENTS],
    }

    verify_in = [
        (cid, ev) for cid, at, step, ev in completed if step == "verify" and cid in cases and within(at)
    ]
    answers = Counter(ev["satisfaction"] for _, ev in verify_in)
    scores = Counter(ev["score"] for _, ev in verify_in if "score" in ev)
    answered = sum(answers[a] for a in ("satisfied", "neutral", "dissatisfied"))
    satisfaction = {
        "answers": {a: answers.get(a, 0) for a in vocab.SATISFACTION},
        "scores": {str(k): scores.get(k, 0) for k in range(1, 6)},
        "answered": answered,
        "rate": answers["satisfied"] / answered if answered else None,
    }

    per_customer = Counter(c["customer_id"] for c in opened)
    repeaters = {cid: n for cid, n in per_customer.items() if n > 1}
    repeat = {
        "customers": len(repeaters),
        "cases": sum(repeaters.values()),
        "items": sorted(
            ({"customer_id": cid, "name": w.customers[cid], "cases": n} for cid, n in repeaters.items()),
            key=lambda x: (-x["cases"], x["name"], x["customer_id"]),
        ),
    }

    # Recurrence: preventive actions (not "none") in the period or the year before, by the product
    # and root cause of their case; then the cases opened in the period with the same pair after them.
    actions: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for cid, at, step, ev in completed:
        c = w.cases[cid]
        if step != "prevent" or ev["department"] == "none" or cid not in cause:
            continue
        if not start - reports.PREVENTION_LOOKBACK <= at < end:
            continue
        if c["product"] is None or (flt.get("product") is not None and c["product"] != flt["product"]):
            continue
        actions[(c["product"], cause[cid])].append(at)
    recurrence_items = []
    for (product, rc), times in actions.items():
        later = [
            c
            for c in opened
            if c["product"] == product and cause.get(c["id"]) == rc and c["opened_at"] > min(times)
        ]
        if later:
            recurrence_items.append(
                {
                    "product": product,
                    "root_cause": rc,
                    "preventions": len(times),
                    "first_prevention_at": min(times).isoformat(timespec="microseconds") + "Z",
                    "latest_prevention_at": max(times).isoformat(timespec="microseconds") + "Z",
                    "recurring_cases": len(later),
                    "since_latest": sum(1 for c in later if c["opened_at"] > max(times)),
                }
            )
    recurrence_items.sort(key=lambda x: (-x["recurring_cases"], x["product"], x["root_cause"]))
    recurrence = {
        "recurring_cases": sum(x["recurring_cases"] for x in recurrence_items),
        "items": recurrence_items,
    }

    owners = defaultdict(
        lambda: {"cases": 0, "close": [], "satisfied": 0, "answered": 0, "breaches": 0, "findings": 0}
    )
    for c in opened:
        if c["owner_id"] is not None:
            owners[c["owner_id"]]["cases"] += 1
    for c in closed:
        if c["owner_id"] is not None:
            owners[c["owner_id"]]["close"].append(close_seconds(c))
    for cid, ev in verify_in:
        o = cases[cid]["owner_id"]
        if o is not None:
            owners[o]["answered"] += ev["satisfaction"] in ("satisfied", "neutral", "dissatisfied")
            owners[o]["satisfied"] += ev["satisfaction"] == "satisfied"
    for e in breach_events:
        o = cases[e["case_id"]]["owner_id"]
        if o is not None:
            owners[o]["breaches"] += 1
    for a in w.audits:
        if a["case_id"] in cases and within(a["created_at"]) and cases[a["case_id"]]["owner_id"] is not None:
            owners[cases[a["case_id"]]["owner_id"]]["findings"] += len(a["findings"])
    responders = []
    for uid, o in owners.items():
        n, p50, _ = stats(o["close"])
        responders.append(
            {
                "user_id": uid,
                "name": w.users[uid],
                "cases": o["cases"],
                "closed": n,
                "median_close_seconds": p50,
                "satisfied": o["satisfied"],
                "answered": o["answered"],
                "satisfaction_rate": o["satisfied"] / o["answered"] if o["answered"] else None,
                "breaches": o["breaches"],
                "audit_findings": o["findings"],
            }
        )
    responders.sort(key=lambda r: (r["name"], r["user_id"]))

    return {
        "period": {
            "from": first.isoformat(),
            "to": end_day.isoformat(),
            "timezone": "Asia/Shanghai",
            "start": start.isoformat(timespec="microseconds") + "Z",
            "end": end.isoformat(timespec="microseconds") + "Z",
        },
        "filters": {k: flt.get(k) for k in ("category", "product", "channel", "owner")},
        "counts": {"opened": len(opened), "closed": len(closed), "withdrawn": len(withdrawn)},
        "time_to_close": {"cases": ttc[0], "median_seconds": ttc[1], "p90_seconds": ttc[2]},
        "reopen": {
            "closed": len(closed),
            "reopened": n_reopened,
            "rate": n_reopened / len(closed) if closed else None,
        },
        "step_times": step_times,
        "breaches": breaches,
        "root_causes": root_causes,
        "prevention": prevention,
        "satisfaction": satisfaction,
        "repeat_complainants": repeat,
        "recurrence": recurrence,
        "responders": responders,
    }


def assert_same(actual: Any, expected: Any, path: str = "report") -> None:
    """Equal, floats to a relative 1e-9 (the database and Python round differently)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (path, actual, expected)
        for k in expected:
            assert_same(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (path, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), (path, actual, expected)
    else:
        assert actual == expected and type(actual) is type(expected), (path, actual, expected)


def unordered_repeaters(report: dict[str, Any]) -> dict[str, Any]:
    """Ties among repeat complainants may come in any order: compare them as a set."""
    out = json.loads(json.dumps(report))
    items = out["repeat_complainants"]["items"]
    counts = [x["cases"] for x in items]
    assert counts == sorted(counts, reverse=True)
    out["repeat_complainants"]["items"] = sorted(items, key=lambda x: x["customer_id"])
    return out


def build(app, first: date, end_day: date, **flt: Any) -> dict[str, Any]:
    args = {
        "from": first.isoformat(),
        "to": end_day.isoformat(),
        **{k: str(v) for k, v in flt.items() if v is not None},
    }
    with app.test_request_context():
        s = get_db(app).new_session()
        q = reports.parse_query(args, today=first, tz=TZ)
        out = reports.build_report(s, q)
        if (
            out["repeat_complainants"]["customers"] > reports.TOP_REPEATERS
        ):  # pragma: no cover - small sets here
            out["repeat_complainants"] = reports.repeat_complainants(s, q, limit=None)
        s.close()
    return out


def check(app, world: World, first: date, end_day: date, **flt: Any) -> dict[str, Any]:
    actual = build(app, first, end_day, **flt)
    expected = expected_report(world, first, end_day, **flt)
    assert_same(unordered_repeaters(actual), unordered_repeaters(expected))
    return actual


# --- the figures ------------------------------------------------------------------------
def test_every_figure_matches_an_independent_computation_with_filters(app, make, clock, staff):
    make_world(app, make, clock, staff, n=45)
    world = read_world(app)
    first, end = date(2026, 3, 5), date(2026, 3, 20)
    report = check(app, world, first, end)
    # The data set exercises what the figures are about.
    assert report["counts"]["opened"] > 10 and report["counts"]["closed"] > 3
    assert all(x["visits"] > 0 for x in report["step_times"])
    assert sum(b["count"] for b in report["breaches"]) > 0
    assert report["reopen"]["reopened"] > 0
    assert report["repeat_complainants"]["customers"] > 0
    assert report["recurrence"]["recurring_cases"] > 0
    assert any(r["audit_findings"] for r in report["responders"])
    assert report["satisfaction"]["answers"]["dissatisfied"] > 0
    visits = {x["state"]: x["visits"] for x in report["step_times"]}
    assert visits["listen"] > visits["apologise"] or visits["analyse"] > visits["listen"]  # loops counted

    # The whole span, and each filter alone and together.
    check(app, world, date(2026, 2, 1), date(2026, 5, 1))
    check(app, world, first, end, category="product")
    check(app, world, first, end, product="小新 Pro 16")
    check(app, world, first, end, channel="email")
    owner = staff.responders[0].id
    owned = check(app, world, first, end, owner=owner)
    assert [r["user_id"] for r in owned["responders"]] in ([owner], [])
    check(app, world, date(2026, 2, 1), date(2026, 5, 1), category="service", channel="phone", owner=owner)


def test_an_empty_period_gives_zeros_and_no_rates(app, make, clock, staff):
    make_world(app, make, clock, staff, n=6)
    report = check(app, read_world(app), date(2025, 1, 1), date(2025, 2, 1))
    assert report["counts"] == {"opened": 0, "closed": 0, "withdrawn": 0}
    assert report["reopen"]["rate"] is None and report["satisfaction"]["rate"] is None
    assert report["time_to_close"]["median_seconds"] is None
    assert all(x["visits"] == 0 and x["median_seconds"] is None for x in report["step_times"])
    assert all(b["count"] == 0 for b in report["breaches"])
    assert report["root_causes"]["items"] == [] and report["responders"] == []


def test_one_case_in_the_period(app, make, clock, staff):
    m = Maker(app, make, clock, staff, seed=3, plain=True)
    case = m.one_case(datetime(2026, 6, 10, 2, 0), plan="closed")
    world = read_world(app)
    closed_day = world.cases[case.id]["closed_at"].replace(tzinfo=UTC).astimezone(TZ).date()
    report = check(app, world, date(2026, 6, 10), closed_day + timedelta(days=1))
    assert report["counts"] == {"opened": 1, "closed": 1, "withdrawn": 0}
    for row in report["step_times"]:
        assert row["visits"] == 1 and row["median_seconds"] == row["p90_seconds"] > 0
    assert report["time_to_close"]["median_seconds"] == report["time_to_close"]["p90_seconds"]
    assert report["reopen"]["rate"] == 0.0
    assert len(report["responders"]) == 1 and report["responders"][0]["closed"] == 1


def test_visits_of_a_loop_count_separately(app, make, clock, staff):
    """listen → confirm (corrected) → listen again → confirm: two visits each, each timed alone."""
    owner = staff.responders[1]
    clock.now = datetime(2026, 7, 1, 1, 0)
    case = make.case(staff.frontline)
    corrected = {"customer_response": "corrected", "correction": "是屏幕问题"}
    clock.advance(minutes=30)
    make.claim(case, owner)
    for minutes, step, changes in (
        (10, "apologise", {}),
        (60, "listen", {}),
        (180, "confirm", corrected),
        (120, "listen", {}),
        (240, "confirm", {}),
    ):
        clock.advance(minutes=minutes)
        make.step(case, owner, step, {**good_evidence(step, clock.now), **changes})
    report = check(app, read_world(app), date(2026, 7, 1), date(2026, 7, 2))
    rows = {x["state"]: x for x in report["step_times"]}
    assert (rows["new"]["visits"], rows["new"]["median_seconds"]) == (1, 1800)
    assert (rows["listen"]["visits"], rows["listen"]["median_seconds"]) == (2, (60 + 120) / 2 * 60)
    assert rows["confirm"]["visits"] == 2
    assert rows["confirm"]["p90_seconds"] == pytest.approx((180 + 0.9 * (240 - 180)) * 60)
    assert rows["analyse"]["visits"] == 0 and rows["analyse"]["median_seconds"] is None


def test_recurrence_looks_back_one_year_before_the_period(app, make, clock, staff):
    owner = staff.responders[0]

    def analysed_case(opened_at: datetime, prevent: bool) -> None:
        clock.now = opened_at
        case = make.case(staff.frontline, product="Yoga Air")
        make.claim(case, owner)
        for step in STEPS[: STEPS.index("prevent") + 1 if prevent else STEPS.index("agree")]:
            clock.advance(hours=1)
            evidence = good_evidence(step, clock.now)
            if step == "analyse":
                evidence["root_cause_category"] = "spare_parts"
            make.step(case, owner, step, evidence)

    analysed_case(datetime(2025, 1, 10, 2, 0), prevent=True)  # prevention on 10 January 2025
    analysed_case(datetime(2026, 3, 1, 2, 0), prevent=False)  # the same product and cause again
    world = read_world(app)
    late = check(app, world, date(2026, 3, 1), date(2026, 3, 2))  # looks back to 1 March 2025
    assert late["recurrence"] == {"recurring_cases": 0, "items": []}
    early = check(app, world, date(2026, 1, 1), date(2026, 3, 2))  # looks back to 1 January 2025
    assert [(x["product"], x["root_cause"], x["recurring_cases"]) for x in early["recurrence"]["items"]] == [
        ("Yoga Air", "spare_parts", 1)
    ]


def test_query_validation(app):
    today = date(2026, 3, 15)
    with app.test_request_context():
        q = reports.parse_query({}, today=today, tz=TZ)
        assert (q.first_day, q.end_day) == (date(2026, 2, 14), date(2026, 3, 16))
        assert q.start == datetime(2026, 2, 13, 16, 0)  # midnight in Shanghai, in UTC
        bad = {
            "from": "2026-13-01",
            "category": "nope",
            "channel": "fax",
            "owner": "me",
            "product": "x" * 201,
        }
        with pytest.raises(EvidenceError) as e:
            reports.parse_query(bad, today=today, tz=TZ)
        assert set(e.value.fields) == {"from", "category", "channel", "owner", "product"}
        with pytest.raises(EvidenceError) as e:
            reports.parse_query({"from": "2026-03-10", "to": "2026-03-10"}, today=today, tz=TZ)
        assert set(e.value.fields) == {"to"}


# --- page, CSV and API -----------------------------------------------------------------
class Tables(HTMLParser):
    """The rows of the page's tables, as the text of their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


PERIOD = "from=2026-03-05&to=2026-03-20"


def test_page_csv_and_api_show_the_same_figures(app, make, clock, staff, auth, client):
    make_world(app, make, clock, staff, n=20, seed=11)
    token = make.token(staff.quality)
    api = client.get(f"/api/v1/reports/summary?{PERIOD}", headers=api_headers(token))
    assert api.status_code == 200
    data = api.get_json()
    assert_same(data, build(app, date(2026, 3, 5), date(2026, 3, 20)))

    # The JSON follows the documented schema.
    doc = client.get("/api/v1/openapi.json").get_json()
    uri = "urn:complaints:openapi"
    registry = Registry().with_resource(uri, Resource.from_contents(doc, default_specification=DRAFT202012))
    Draft202012Validator({"$ref": f"{uri}#/components/schemas/ReportSummary"}, registry=registry).validate(
        data
    )

    auth.login(staff.quality)
    page = client.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    html = page.text
    parser = Tables()
    parser.feed(html)
    page_rows = parser.rows
    from complaints.web.reports import TABLES

    for name in TABLES:
        r = client.get(f"/reports/{name}.csv?{PERIOD}")
        assert r.headers["Content-Disposition"] == (
            f'attachment; filename="complaints-{name.replace("_", "-")}-2026-03-05_2026-03-19.csv"'
        )
        assert r.mimetype == "text/csv"
        rows = csv_rows(r)
        assert rows[0] and all(rows[0])
        for row in rows[1:]:  # every CSV row is a row of the page's table (blank cells show as —)
            assert [c or "—" for c in row] in page_rows, (name, row)

    # The CSV numbers are the API's numbers.
    summary = dict(csv_rows(client.get(f"/reports/summary.csv?{PERIOD}"))[1:])
    assert summary["Cases opened"] == str(data["counts"]["opened"])
    assert summary["Cases closed"] == str(data["counts"]["closed"])
    rate = data["satisfaction"]["rate"]
    assert summary["Satisfaction rate (%)"] == ("" if rate is None else f"{rate * 100:.1f}")
    steps = csv_rows(client.get(f"/reports/step_times.csv?{PERIOD}"))
    assert steps[0] == ["Step", "Visits", "Median (hours)", "90th percentile (hours)"]
    for row, x in zip(steps[1:], data["step_times"], strict=True):
        assert row[1] == str(x["visits"])
        assert row[2] == ("" if x["median_seconds"] is None else f"{x['median_seconds'] / 3600:.1f}")
    pareto = csv_rows(client.get(f"/reports/root_causes.csv?{PERIOD}"))[1:]
    assert [int(r[1]) for r in pareto] == [x["count"] for x in data["root_causes"]["items"]]
    assert not pareto or pareto[-1][3] == "100.0"
    people = csv_rows(client.get(f"/reports/responders.csv?{PERIOD}"))[1:]
    assert [(r[0], int(r[1]), int(r[5]), int(r[6])) for r in people] == [
        (x["name"], x["cases"], x["breaches"], x["audit_findings"]) for x in data["responders"]
    ]

    # Charts are inline SVG with a title and a description, drawn without script or style attributes.
    main = html[html.index("<main") : html.index("</main>")]
    assert main.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') >= 4
    assert 'role="img"' in main and "<title id=" in main and "<desc id=" in main
    assert "<script" not in main and 'style="' not in main
    assert "cdn" not in html.lower()


def test_csv_round_trips_chinese_text(app, make, clock, staff, auth, client):
    for day in (2, 3, 4):  # the same customer three times: a repeat complainant
        clock.now = datetime(2026, 4, day, 2, 0)
        make.case(
            staff.frontline, customer_name="欧阳娜娜", customer_phone="137 1234 5678", product="小新 Pro 16"
        )
    make.case(staff.frontline, customer_name="=HYPERLINK(1)", customer_phone="137 0000 0001")
    make.case(staff.frontline, customer_name="=HYPERLINK(1)", customer_phone="137 0000 0001")
    auth.login(staff.quality)
    r = client.get("/reports/repeat_complainants.csv?from=2026-04-01&to=2026-05-01")
    assert r.headers["Content-Disposition"].startswith("attachment;")
    rows = csv_rows(r)
    assert rows == [["Customer", "Cases opened"], ["欧阳娜娜", "3"], ["'=HYPERLINK(1)", "2"]]


def test_a_bad_query_is_refused_by_page_csv_and_api(app, make, staff, auth, client):
    token = make.token(staff.quality)
    r = client.get("/api/v1/reports/summary?from=2026-02-30&category=x", headers=api_headers(token))
    assert r.status_code == 422
    assert set(r.get_json()["error"]["fields"]) == {"from", "category"}
    auth.login(staff.quality)
    page = client.get("/reports?from=2026-03-10&to=2026-03-01")
    assert page.status_code == 422 and "Must be after the start of the period." in page.text
    assert client.get("/reports/summary.csv?to=nope").status_code == 400
    assert client.get("/reports/nothing.csv").status_code == 404


def test_default_period_is_the_last_30_days(app, make, clock, staff, auth, client):
    clock.now = datetime(2026, 5, 31, 17, 0)  # 1 June, 01:00 in Shanghai
    token = make.token(staff.quality)
    data = client.get("/api/v1/reports/summary", headers=api_headers(token)).get_json()
    assert data["period"]["from"] == "2026-05-03" and data["period"]["to"] == "2026-06-02"
    auth.login(staff.quality)
    page = client.get("/reports")
    assert page.status_code == 200 and 'value="2026-05-03"' in page.text


# --- who may see them -------------------------------------------------------------------
@pytest.mark.parametrize(
    "roles", [("frontline",), ("responder",), ("admin",), ("frontline", "responder", "admin")]
)
def test_everyone_but_quality_is_refused(app, make, auth, client, roles):
    user = make.user(*roles)
    token = make.token(user)
    r = client.get("/api/v1/reports/summary", headers=api_headers(token))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    auth.login(user)
    assert client.get("/reports").status_code == 403
    for name in ("summary", "responders", "repeat_complainants"):
        assert client.get(f"/reports/{name}.csv").status_code == 403


def test_quality_reaches_reports_and_anonymous_must_log_in(app, make, auth, client):
    assert client.get("/reports").status_code == 302
    assert client.get("/reports/summary.csv").status_code == 302
    assert client.get("/api/v1/reports/summary").status_code == 401
    quality = make.user("quality")
    auth.login(quality)
    page = client.get("/reports")
    assert page.status_code == 200 and "Nothing in this period." in page.text
    token = make.token(quality)
    assert client.get("/api/v1/reports/summary", headers=api_headers(token)).status_code == 200

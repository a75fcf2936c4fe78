"""Time limits: business-time deadlines, pauses while awaiting the customer, breaches recorded
once when they happen, the lists that show them, the settings page and the worker."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import csrf_from, good_evidence
from sqlalchemy import select
from test_web_support import check_page

from complaints.calendar import TimeLimit, WorkingCalendar
from complaints.db import get_db
from complaints.evidence import EvidenceError
from complaints.models import Case, Event, Setting, User
from complaints.services import customer_link, deadlines
from complaints.time_limits import (
    DEFAULT_LIMITS,
    LIMITED_STATES,
    TimePolicy,
    parse_calendar,
    parse_limits,
)
from complaints.worker import PassReport, run_loop

TZ = ZoneInfo("Asia/Shanghai")
ZONE = "Asia/Shanghai"


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A local (Shanghai) wall time as the naive UTC the app stores."""
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


# 2026-03-02 is a Monday; 2026-03-06 a Friday.
MON_0900 = at(2026, 3, 2, 9)


def load(app, case_id: int) -> Case:
    s = get_db(app).new_session()
    try:
        case = s.get(Case, case_id)
        assert case is not None
        s.expunge(case)
        return case
    finally:
        s.close()


def events(app, case_id: int, *actions: str) -> list[tuple[str, datetime, dict[str, Any]]]:
    s = get_db(app).new_session()
    try:
        rows = s.execute(select(Event).where(Event.case_id == case_id).order_by(Event.seq)).scalars()
        return [(e.action, e.at, json.loads(e.data)) for e in rows if not actions or e.action in actions]
    finally:
        s.close()


def check(app) -> str:
    result = app.test_cli_runner().invoke(args=["complaints", "check-deadlines"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def configure(app, clock, user: User, *, limits: dict[str, str] | None = None, **calendar: Any) -> None:
    """Quality settings through the settings service, as the page saves them."""
    with app.app_context(), get_db(app).transaction() as s:
        actor = s.get(User, user.id)
        if limits:
            texts = {st: DEFAULT_LIMITS[st].format() for st in LIMITED_STATES} | limits
            deadlines.save_time_limits(s, actor, parse_limits(texts), clock.now)
        if calendar:
            data = {"workdays": ["1", "2", "3", "4", "5"], "start": "09:00", "end": "18:00"} | calendar
            deadlines.save_calendar(s, actor, parse_calendar(data, ZONE), clock.now)


def send_to_customer(make, case: Case, owner: User, step: str) -> str:
    ev = {
        k: v
        for k, v in good_evidence(step, make.clock.now).items()
        if k not in ("customer_response", "satisfaction", "score", "comment")
    }
    ev["via"] = "customer_link"
    return make.step(case, owner, step, ev)


# --- the policy (pure) ---------------------------------------------------------------------
def test_the_defaults_count_working_hours_working_days_or_calendar_days():
    policy = TimePolicy(DEFAULT_LIMITS, WorkingCalendar.from_config({"timezone": ZONE}))
    # Claim: 4 working hours. Friday 17:00 + 4h = 1h on Friday, 3h on Monday.
    assert policy.due("new", MON_0900) == at(2026, 3, 2, 13)
    assert policy.due("new", at(2026, 3, 6, 17)) == at(2026, 3, 9, 12)
    # Listen, confirm: one working day, the same clock time on the next working day.
    assert policy.due("listen", at(2026, 3, 6, 10)) == at(2026, 3, 9, 10)
    assert policy.due("analyse", at(2026, 3, 5, 10)) == at(2026, 3, 10, 10)
    # Prevent and verify: calendar days, weekends included.
    assert policy.due("prevent", at(2026, 3, 6, 23, 30)) == at(2026, 3, 20, 23, 30)
    assert policy.due("verify", at(2026, 3, 7, 12)) == at(2026, 3, 14, 12)
    # Act: the end of the agreed date where the deployment is.
    assert policy.due("act", MON_0900, agreed="2026-03-04") == at(2026, 3, 5, 0)
    assert policy.due("act", MON_0900) is None
    assert {st: lim.business for st, lim in DEFAULT_LIMITS.items()} == {
        "new": True,
        "apologise": True,
        "listen": True,
        "confirm": True,
        "analyse": True,
        "agree": True,
        "prevent": False,
        "verify": False,
    }


def test_limits_and_calendar_are_validated_field_by_field():
    good = {st: DEFAULT_LIMITS[st].format() for st in LIMITED_STATES}
    assert parse_limits(good) == DEFAULT_LIMITS
    assert parse_limits(good | {"new": "6h calendar"})["new"] == TimeLimit.hours(6, business=False)
    with pytest.raises(EvidenceError) as e:
        parse_limits(good | {"new": "four hours", "listen": "0h", "verify": "", "act": "2d"})
    assert set(e.value.fields) == {"new", "listen", "verify", "act"}

    base = {"workdays": ["1", "2", "3", "4", "5"], "start": "09:00", "end": "18:00"}
    cal = parse_calendar(base | {"holidays": "2026-10-01..2026-10-03\n2026-05-01"}, ZONE)
    assert len(cal.holidays) == 4 and cal.tz.key == ZONE
    with pytest.raises(EvidenceError) as e:
        parse_calendar(base | {"workdays": [], "start": "25:00", "holidays": "2026-13-01"}, ZONE)
    assert set(e.value.fields) == {"workdays", "start", "holidays"}
    with pytest.raises(EvidenceError) as e:
        parse_calendar(base | {"start": "18:00", "end": "09:00"}, ZONE)
    assert set(e.value.fields) == {"end"}
    with pytest.raises(EvidenceError) as e:
        parse_calendar(base | {"holidays": "2026-03-07", "extra_workdays": "2026-03-07"}, ZONE)
    assert set(e.value.fields) == {"extra_workdays"}


# --- deadlines on cases ----------------------------------------------------------------------
def test_business_time_deadline_across_a_weekend_and_a_configured_holiday(app, make, clock):
    quality = make.user("quality")
    clock.now = at(2026, 3, 6, 16)  # Friday 16:00
    configure(app, clock, quality, holidays="2026-03-09")  # Monday off
    case = make.case()
    # 4 working hours: Friday 16-18 (2h), not Saturday, Sunday or the holiday, Tuesday 09-11.
    assert load(app, case.id).due_at == at(2026, 3, 10, 11)

    owner = make.user("responder")
    clock.now = at(2026, 3, 6, 17, 30)
    make.claim(case, owner)
    # Apologise, 2 working hours: 30 minutes on Friday, 90 on Tuesday.
    assert load(app, case.id).due_at == at(2026, 3, 10, 10, 30)


def test_calendar_time_limits_ignore_the_working_calendar(app, make, clock):
    quality = make.user("quality")
    clock.now = at(2026, 3, 6, 16)
    configure(app, clock, quality, limits={"new": "6h calendar"})
    case = make.case()
    assert load(app, case.id).due_at == at(2026, 3, 6, 22)

    clock.now = at(2026, 3, 6, 19)
    acting, owner = make.case_in("act")
    make.step(acting, owner, "act")
    # Prevent: 14 calendar days from the moment it was entered, evening and weekend included.
    assert load(app, acting.id).due_at == clock.now + timedelta(days=14)


def test_a_breach_is_recorded_once_at_the_moment_it_is_checked(app, make, clock):
    clock.now = MON_0900
    case = make.case()
    due = at(2026, 3, 2, 13)  # claim within 4 working hours
    assert load(app, case.id).due_at == due

    clock.now = due - timedelta(minutes=1)
    assert check(app) == "0 deadline breaches recorded."
    clock.now = due  # due means the limit is used up; a breach is being past it
    assert check(app) == "0 deadline breaches recorded."
    clock.now = due + timedelta(minutes=1)
    assert check(app) == "1 deadline breach recorded."
    clock.advance(minutes=5)
    assert check(app) == "0 deadline breaches recorded."

    breaches = events(app, case.id, "deadline_breached")
    assert breaches == [
        ("deadline_breached", due + timedelta(minutes=1), {"state": "new", "due_at": due.isoformat()})
    ]
    row = load(app, case.id)
    assert row.breach_recorded_at == due + timedelta(minutes=1) and row.must_audit is True
    assert row.due_at == due  # still shown, overdue


def test_a_new_state_entry_can_breach_again(app, make, clock):
    clock.now = MON_0900
    case, owner = make.case_in("apologise")
    clock.now = at(2026, 3, 2, 11, 1)  # apologise: 2 working hours
    assert check(app) == "1 deadline breach recorded."
    make.step(case, owner, "apologise")
    row = load(app, case.id)
    assert row.state == "listen" and row.breach_recorded_at is None
    assert row.due_at == at(2026, 3, 3, 11, 1)  # one working day
    clock.now = at(2026, 3, 3, 11, 2)
    assert check(app) == "1 deadline breach recorded."
    assert check(app) == "0 deadline breaches recorded."
    states = [d["state"] for _a, _t, d in events(app, case.id, "deadline_breached")]
    assert states == ["apologise", "listen"]


def test_a_late_move_records_the_breach_nobody_had_checked_yet(app, make, clock):
    clock.now = MON_0900
    case, owner = make.case_in("apologise")
    clock.now = at(2026, 3, 2, 15)  # two hours late; no check ran meanwhile
    make.step(case, owner, "apologise")
    actions = [a for a, _t, _d in events(app, case.id)]
    assert actions[-2:] == ["deadline_breached", "step_completed"]
    ((_a, when, data),) = events(app, case.id, "deadline_breached")
    assert when == clock.now and data == {"state": "apologise", "due_at": at(2026, 3, 2, 11).isoformat()}
    assert load(app, case.id).must_audit is True
    assert check(app) == "0 deadline breaches recorded."


def test_concurrent_checks_record_a_breach_once(app, make, clock):
    clock.now = MON_0900
    cases = [make.case() for _ in range(3)]
    now = at(2026, 3, 2, 14)
    db = get_db(app)
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def run() -> None:
        barrier.wait()
        counts.append(deadlines.check_deadlines(db, now))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(counts) == 3
    for case in cases:
        assert len(events(app, case.id, "deadline_breached")) == 1
    # A runner that read the candidate before another recorded it matches no row.
    with db.transaction() as s:
        assert not deadlines.record_breach(s, cases[0].id, "new", at(2026, 3, 2, 13), now)


# --- pauses ------------------------------------------------------------------------------------
def test_the_clock_pauses_while_the_customer_has_the_question(app, make, clock):
    clock.now = at(2026, 3, 6, 10)  # Friday
    case, owner = make.case_in("confirm")
    assert load(app, case.id).due_at == at(2026, 3, 9, 10)  # one working day

    clock.now = at(2026, 3, 6, 11)
    assert send_to_customer(make, case, owner, "confirm") == "awaiting"
    row = load(app, case.id)
    assert (row.awaiting_customer, row.due_at, row.clock_paused_at) == (True, None, clock.now)
    assert [a for a, _t, _d in events(app, case.id)][-2:] == ["clock_paused", "sent_to_customer"]

    clock.now = at(2026, 3, 10, 12)  # over the weekend, past the old deadline
    assert check(app) == "0 deadline breaches recorded."
    assert events(app, case.id, "deadline_breached") == []

    make.step(case, owner, "confirm")  # the customer's answer, given by phone
    row = load(app, case.id)
    assert row.state == "analyse" and row.clock_paused_at is None
    assert row.due_at == at(2026, 3, 13, 12)  # the analyse clock starts now: 3 working days
    ((_a, when, data),) = events(app, case.id, "clock_resumed")
    assert when == clock.now
    assert data["state"] == "confirm" and data["paused_seconds"] == (4 * 24 + 1) * 3600
    assert check(app) == "0 deadline breaches recorded."


def test_the_customers_own_answer_on_the_link_resumes_the_clock(app, make, clock):
    clock.now = at(2026, 3, 2, 10)
    case, owner = make.case_in("agree")
    send_to_customer(make, case, owner, "agree")
    clock.now = at(2026, 3, 4, 15)
    with app.test_request_context():
        s = get_db(app).new_session()
        try:
            c = s.get(Case, case.id)
            made = customer_link.create_link(s, c, s.get(User, owner.id), clock.now, lambda t: f"/c/{t}")
            customer_link.customer_answer(s, c, made.link, {"response": "accepted"}, clock.now)
            s.commit()
        finally:
            s.close()
    row = load(app, case.id)
    assert row.state == "act" and row.clock_paused_at is None
    due_date = good_evidence("agree", at(2026, 3, 2, 10))["due_date"]
    assert row.due_at == at(*map(int, due_date.split("-")), 0) + timedelta(days=1)
    ((_a, _when, data),) = events(app, case.id, "clock_resumed")
    assert data["paused_seconds"] == int((clock.now - at(2026, 3, 2, 10)).total_seconds())


def test_pausing_an_overdue_clock_records_the_breach_and_keeps_the_deadline(app, make, clock):
    clock.now = MON_0900
    case, owner = make.case_in("confirm")
    due = at(2026, 3, 2, 18)  # one working day from the opening: used up at closing time
    clock.now = at(2026, 3, 3, 10)  # late, unchecked
    send_to_customer(make, case, owner, "confirm")
    actions = [a for a, _t, _d in events(app, case.id)]
    assert actions[-3:] == ["deadline_breached", "clock_paused", "sent_to_customer"]
    row = load(app, case.id)
    assert row.due_at == due and row.clock_paused_at == clock.now
    clock.advance(days=3)
    assert check(app) == "0 deadline breaches recorded."


# --- lists and pages ------------------------------------------------------------------------------
def _position(html: str, *needles: str) -> list[int]:
    return [html.index(n) for n in needles]


def test_owners_see_their_overdue_cases_first_with_a_badge(app, make, clock, client, auth):
    owner = make.user("responder")
    clock.now = MON_0900
    later, _ = make.case_in("listen", owner=owner)  # listen, one working day: due 18:00
    paused, _ = make.case_in("confirm", owner=owner)
    send_to_customer(make, paused, owner, "confirm")
    clock.now = at(2026, 3, 2, 15)
    late, _ = make.case_in("apologise", owner=owner)  # apologise: due Monday 17:00
    refs = {c.id: load(app, c.id).reference for c in (later, paused, late)}

    auth.login(owner)
    home = client.get("/").text
    assert 'id="mine-overdue"' not in home
    clock.now = at(2026, 3, 2, 17, 30)
    assert check(app) == "1 deadline breach recorded."
    home = client.get("/").text
    mine = home[home.index('id="mine-title"') :]
    first, second, third = _position(mine, refs[late.id], refs[later.id], refs[paused.id])
    assert first < second < third  # overdue, then the nearest deadline, paused last
    assert 'id="mine-overdue"' in home and "1 of your cases is past its deadline." in home
    row = mine[first:second]
    assert "badge--overdue" in row
    assert "Paused — awaiting customer" in mine[third:]

    page = client.get(f"/cases/{late.id}").text
    assert "badge--overdue" in page and "Time limit breached" in page

    listed = client.get("/cases?sort=due").text
    assert _position(listed, refs[late.id])[0] < _position(listed, refs[later.id])[0]
    only = client.get("/cases?sort=due&overdue=1").text
    check_page(only)
    assert refs[late.id] in only and refs[later.id] not in only and refs[paused.id] not in only


def test_the_due_order_pages_by_keyset(app, make, clock, client, auth):
    app.config["PAGE_SIZE"] = 2
    quality = make.user("quality")
    clock.now = MON_0900
    made = []
    for _ in range(3):
        made.append(make.case())
        clock.advance(minutes=10)
    withdrawn, _ = make.case_in("new")
    with app.app_context(), get_db(app).transaction() as s:
        from complaints.services.cases import withdraw_case

        withdraw_case(
            s, s.get(Case, withdrawn.id), s.get(User, withdrawn.opened_by_id), "duplicate", clock.now
        )
    auth.login(quality)
    seen: list[int] = []
    url = "/cases?sort=due"
    for _ in range(5):
        page = client.get(url)
        assert page.status_code == 200
        found = [
            (page.text.index(f'/cases/{c.id}"'), c.id)
            for c in [*made, withdrawn]
            if f'/cases/{c.id}"' in page.text
        ]
        seen += [case_id for _pos, case_id in sorted(found)]
        if 'rel="next"' not in page.text:
            break
        url = page.text.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert seen == [made[0].id, made[1].id, made[2].id, withdrawn.id]  # no deadline last


# --- the settings page -------------------------------------------------------------------------
def _form(page: str, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {f"limit_{st}": DEFAULT_LIMITS[st].format() for st in LIMITED_STATES}
    data |= {
        "csrf_token": csrf_from(page),
        "workdays": ["1", "2", "3", "4", "5"],
        "start": "09:00",
        "end": "18:00",
        "holidays": "",
        "extra_workdays": "",
    }
    return data | over


def test_quality_managers_edit_the_limits_and_calendar(app, make, clock, client, auth):
    quality = make.user("quality")
    auth.login(quality)
    page = client.get("/quality/time-limits")
    assert page.status_code == 200
    check_page(page.text)  # every field labelled, ids unique
    assert 'value="4h"' in page.text and 'value="14d calendar"' in page.text

    bad = client.post(
        "/quality/time-limits",
        data=_form(
            page.text,
            limit_new="four hours",
            limit_listen="0h",
            workdays=[],
            start="25:00",
            holidays="2026-13-01",
        ),
    )
    assert bad.status_code == 422
    check_page(bad.text)
    for message in (
        "Not a time limit: four hours.",
        "A time limit must be longer than zero.",
        "Choose at least one working day.",
        "Give a time such as 09:00.",
        "Not a date or date range",
    ):
        assert message in bad.text
    assert 'value="four hours"' in bad.text  # kept as typed
    s = get_db(app).new_session()
    assert s.scalars(select(Setting)).all() == []
    s.close()

    done = client.post(
        "/quality/time-limits",
        data=_form(
            page.text, limit_new="3h", limit_prevent="10d", holidays="2026-03-09\n2026-10-01..2026-10-07"
        ),
    )
    assert done.status_code == 302
    shown = client.get("/quality/time-limits").text
    assert "Time limits and working calendar saved." in shown
    assert 'value="3h"' in shown and "2026-10-01..2026-10-07" in shown

    clock.now = at(2026, 3, 6, 16)  # Friday 16:00; Monday is now a holiday
    case = make.case()
    assert load(app, case.id).due_at == at(2026, 3, 10, 10)  # 2h Friday + 1h Tuesday


@pytest.mark.parametrize("roles", [("responder",), ("frontline",), ("admin",)])
def test_only_quality_managers_reach_the_time_limits(app, make, client, auth, roles):
    user = make.user(*roles)
    auth.login(user)
    assert client.get("/quality/time-limits").status_code == 403
    page = client.get("/")
    assert "/quality/time-limits" not in page.text
    post = client.post("/quality/time-limits", data=_form(page.text, limit_new="1h"))
    assert post.status_code == 403
    s = get_db(app).new_session()
    assert s.scalars(select(Setting)).all() == []
    s.close()


def test_the_policy_is_read_once_per_request(app, make, clock):
    quality = make.user("quality")
    with app.test_request_context():
        s = get_db(app).new_session()
        try:
            first = deadlines.policy(s)
            assert deadlines.policy(s) is first
            deadlines.save_time_limits(
                s, s.get(User, quality.id), DEFAULT_LIMITS | {"new": TimeLimit.hours(1)}, clock.now
            )
            assert deadlines.policy(s).limits["new"] == TimeLimit.hours(1)
            s.rollback()
        finally:
            s.close()


# --- the worker ----------------------------------------------------------------------------------
def test_the_worker_loop_runs_a_pass_and_stops(app, make, clock):
    clock.now = MON_0900
    case = make.case()
    clock.now = at(2026, 3, 3, 9)
    stop = threading.Event()
    reports: list[PassReport] = []

    def on_pass(report: PassReport) -> None:
        reports.append(report)
        stop.set()

    run_loop(app, stop, interval=3600, on_pass=on_pass)
    assert len(reports) == 1
    assert reports[0].breaches == 1 and reports[0].errors == []
    assert reports[0].delivery is not None and not reports[0].delivery.configured
    assert len(events(app, case.id, "deadline_breached")) == 1

"""The whole journey in the browser-facing routes: intake, claim, eight steps with every loop, closed."""

from __future__ import annotations

import re

from conftest import case_snapshot, csrf_from, good_evidence
from sqlalchemy import select
from test_web_support import STEP_LABELS, as_form, current_step, follow, get, reading, version_on

from complaints.models import Case, Event, StepRecord
from complaints.services.history import verify_case

INTAKE = {
    "customer_name": "Chen Jing",
    "customer_phone": "139 1234 5678",
    "customer_email": "chen.jing@example.cn",
    "channel": "phone",
    "summary": "Washing machine leaks",
    "description": "Water leaks from the door seal during every wash.\nStarted last week.",
    "product": "WM-800",
    "serial_number": "SN0042",
    "purchase_date": "",
    "category": "product",
    "severity": "high",
}

# Every loop of SPEC §2 at least once: corrected → listen, declined stays in agree,
# dissatisfied → analyse (a reopen), then through to closed.
PATH = [
    ("apologise", "listen", {}),
    ("listen", "confirm", {}),
    (
        "confirm",
        "listen",
        {"customer_response": "corrected", "correction": "The leak is at the pump, not the door."},
    ),
    ("listen", "confirm", {"account": "Leaks at the pump during the spin cycle."}),
    ("confirm", "analyse", {}),
    ("analyse", "agree", {}),
    ("agree", "agree", {"customer_response": "declined", "reason": "Wants a new machine, not a repair."}),
    ("agree", "act", {}),
    ("act", "prevent", {}),
    ("prevent", "verify", {}),
    ("verify", "analyse", {"satisfaction": "dissatisfied", "score": 2, "comment": "Still leaking."}),
    ("analyse", "agree", {"root_cause": "Pump gasket from a bad batch."}),
    ("agree", "act", {}),
    ("act", "prevent", {}),
    ("prevent", "verify", {"department": "none", "preventive_action": "", "none_reason": "One-off batch."}),
    ("verify", "closed", {}),
]


def test_the_whole_journey_in_the_browser(app, client, make, auth, clock):
    agent = make.user("frontline", name="Ann Agent")
    rob = make.user("responder", name="Rob Responder")

    # The front-line agent opens the case.
    assert auth.login(agent).status_code == 302
    home = get(client, "/")
    assert 'href="/cases/new"' in home
    assert "Cases I opened" in home and "You have not opened any case yet." in home
    form = get(client, "/cases/new")
    for name in INTAKE:
        assert f'name="{name}"' in form
    r = client.post("/cases/new", data={**INTAKE, "csrf_token": csrf_from(form)})
    assert r.status_code == 302, r.text
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    page = get(client, f"/cases/{case_id}")
    with reading(app) as s:
        case = s.get(Case, case_id)
    assert case is not None and case.state == "new" and case.opened_by_id == agent.id
    assert f"Case {case.reference} opened" in page
    assert "Waiting for a responder to claim it." in page
    assert "Washing machine leaks" in page and "Chen Jing" in page and "WM-800" in page
    assert 'aria-current="step"' not in page  # nothing is current before the claim
    assert 'name="version"' not in page  # no step form for the opener
    assert case.reference in get(client, "/")
    assert auth.logout().status_code == 302

    # The responder claims it from the home queue.
    auth.login(rob)
    home = get(client, "/")
    assert "Unclaimed queue" in home and case.reference in home
    assert f'action="/cases/{case_id}/claim"' in home
    r = client.post(f"/cases/{case_id}/claim", data={"csrf_token": csrf_from(home)})
    assert r.status_code == 302
    page = follow(client, r)
    assert f"You own case {case.reference} now." in page
    assert current_step(page) == "Apologise"
    assert case_snapshot(app, case_id)[2] == rob.id

    # The home page now lists it under my open cases, with its step and deadline.
    home = get(client, "/")
    mine = home.split('id="mine-title"', 1)[1]
    assert case.reference in mine and "Apologise" in mine and "<time datetime=" in mine

    # The current step's form is generated from the evidence spec.
    assert re.search(r'<select [^>]*id="step-method" name="method"', page)
    assert re.search(r'<textarea [^>]*id="step-apology" [^>]*name="apology"', page)
    assert 'type="datetime-local"' in page and 'name="apologised_at"' in page
    assert "In person" in page  # translated choice labels, not codes

    seen_forms: set[str] = set()
    for step, dest, override in PATH:
        page = get(client, f"/cases/{case_id}")
        assert current_step(page) == STEP_LABELS[step]
        version = version_on(page)
        assert version == case_snapshot(app, case_id)[1]
        if step not in seen_forms:
            seen_forms.add(step)
            if step == "agree":
                assert 'type="date"' in page and 'name="due_date"' in page
            if step == "verify":
                assert 'type="number"' in page and 'name="score"' in page
            if step == "act":
                for i in range(3):
                    assert f'name="actions-{i}-description"' in page
                    assert f'name="actions-{i}-done_at"' in page
        evidence = {**good_evidence(step, clock.now), **override}
        if step == "act":
            evidence["actions"] = evidence["actions"] + [
                {"description": "Tested three washes: no leak.", "done_at": evidence["actions"][0]["done_at"]}
            ]
        data = {**as_form(evidence), "version": str(version), "csrf_token": csrf_from(page)}
        r = client.post(f"/cases/{case_id}/steps/{step}", data=data)
        assert case_snapshot(app, case_id)[0] == dest, (step, dest, r.text[:2000])
        after = follow(client, r)
        assert "recorded. The case is now at" in after
        if step == "confirm" and dest == "listen":
            assert current_step(after) == "Listen"
            assert "staff-recorded via Phone" in after
            assert "The leak is at the pump, not the door." in after
        if step == "agree" and dest == "agree":
            assert current_step(after) == "Agree"
            assert "Wants a new machine, not a repair." in after and "Declined" in after
        if step == "verify" and dest == "analyse":
            assert current_step(after) == "Analyse"
            assert "Reopened once" in after and "Dissatisfied" in after
        clock.advance(minutes=20)

    # Closed: every step completed, no form any more, the record complete.
    page = get(client, f"/cases/{case_id}")
    assert 'aria-current="step"' not in page
    assert page.count('<span class="steps__status">Completed</span>') == 8
    assert "Closed on " in page
    assert 'name="version"' not in page
    assert "Tested three washes: no leak." in page
    history = page.split('id="history-title"', 1)[1]
    for text in (
        "Case opened",
        "Claimed",
        "Step completed",
        "Rob Responder",
        "Ann Agent",
        "Owner: Rob Responder",
    ):
        assert text in history

    with reading(app) as s:
        case = s.get(Case, case_id)
        assert case.state == "closed" and case.reopen_count == 1 and case.owner_id == rob.id
        assert verify_case(s, case) is None
        records = list(
            s.scalars(select(StepRecord).where(StepRecord.case_id == case_id).order_by(StepRecord.id))
        )
        events = list(s.scalars(select(Event.action).where(Event.case_id == case_id).order_by(Event.seq)))
    assert [(r.step, r.outcome) for r in records] == [(s, d) for s, d, _ in PATH]
    acts = [r for r in records if r.step == "act"]
    assert all(len(r.evidence["actions"]) == 2 for r in acts)  # the blank third row was ignored
    assert all(r.staff_recorded for r in records if r.step in ("confirm", "agree", "verify"))
    assert events[:2] == ["case_opened", "case_claimed"] and events.count("step_completed") == len(PATH)

    # The agent who opened it still sees the closed case and its history.
    auth.logout()
    auth.login(agent)
    page = get(client, f"/cases/{case_id}")
    assert "Closed on " in page and "Rob Responder" in page

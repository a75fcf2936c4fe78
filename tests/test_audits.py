"""The audit queue, verdicts and reopening, on the web pages and the JSON API.

Queue membership for every always-in reason and for the sample (reproducible across calls
and processes), filters and keyset pages; a verdict with a reopen and the case's return to
the queue when it closes again; and only quality managers reach any of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from conftest import TZ, api_headers, csrf_from
from sqlalchemy import select
from test_web_support import get

from complaints.db import get_db
from complaints.evidence import Context, validate_intake
from complaints.models import Audit, Case, Event, User
from complaints.services import audits as audit_ops
from complaints.services.admin import change_owner, deactivate_user
from complaints.services.cases import open_case, withdraw_case
from complaints.services.history import append_event, verify_case
from complaints.workflow import STEPS, Actor

SALT = "test-salt"
QUEUE = "/api/v1/audits/queue"


@pytest.fixture(autouse=True)
def _sample(app):
    """Deterministic: a fixed salt, and no sample unless a test asks for one."""
    app.config.update(AUDIT_SAMPLE_SALT=SALT, AUDIT_SAMPLE_PERCENT=0)


@pytest.fixture
def quality(make):
    return make.user("quality", name="Quinn Quality")


@pytest.fixture
def qtoken(make, quality):
    return make.token(quality)


def queue_ids(client, token: str, query: str = "") -> list[int]:
    """Every case id in the API queue, following the pages to the end."""
    ids: list[int] = []
    url = f"{QUEUE}?limit=3{('&' + query) if query else ''}"
    for _ in range(200):
        r = client.get(url, headers=api_headers(token))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        ids += [item["case"]["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            return ids
        url = f"{QUEUE}?limit=3&cursor={body['next_cursor']}{('&' + query) if query else ''}"
    raise AssertionError("the queue did not end")


def queue_reasons(client, token: str) -> dict[int, list[str]]:
    body = client.get(f"{QUEUE}?limit=200", headers=api_headers(token)).get_json()
    return {item["case"]["id"]: item["reasons"] for item in body["items"]}


def finish(make, case, owner, start: str, verify: dict[str, Any] | None = None) -> None:
    """Drive an open case from `start` to the end with good evidence."""
    for step in STEPS[STEPS.index(start) :]:
        make.step(case, owner, step, verify if step == "verify" and verify else None)


def withdrawn_cases(app, clock, opener, n: int) -> list[int]:
    """Cases with no reason to audit them (withdrawn before claim), made in one transaction."""
    ctx = Context(now=clock.now, tz=TZ)
    data = {
        "customer_name": "王女士",
        "customer_phone": "139 0000 0000",
        "channel": "phone",
        "summary": "重复登记",
        "description": "同一投诉登记了两次。",
        "category": "service",
        "severity": "low",
    }
    ids = []
    with app.app_context(), get_db(app).transaction() as s:
        user = s.get(User, opener.id)
        for _ in range(n):
            case = open_case(s, user, validate_intake(data, ctx), clock.now)
            withdraw_case(s, case, user, "重复登记", clock.now)
            ids.append(case.id)
    return ids


def snapshot(app, case_id: int) -> Case:
    with app.app_context():
        s = get_db(app).new_session()
        case = s.get(Case, case_id)
        s.expunge(case)
        s.close()
        return case


def post_audit(client, token: str, case_id: int, body: Any):
    return client.post(f"/api/v1/cases/{case_id}/audit", json=body, headers=api_headers(token))


# --- always in the queue ---------------------------------------------------------------
def test_staff_recorded_answers_put_a_case_in_the_queue(client, make, qtoken):
    case, _owner = make.case_in("closed")  # every answer recorded by the owner on the customer's word
    assert queue_reasons(client, qtoken) == {case.id: ["staff_recorded"]}


def test_open_cases_are_never_in_the_queue(client, make, qtoken):
    make.case_in("verify")
    make.case_in("new")
    assert queue_ids(client, qtoken) == []


def test_a_dissatisfied_answer_puts_a_case_in_the_queue(client, make, qtoken):
    case, owner = make.case_in("verify")
    make.step(case, owner, "verify", {"satisfaction": "dissatisfied", "score": 1, "via": "phone"})
    finish(make, case, owner, "analyse")
    assert "dissatisfied" in queue_reasons(client, qtoken)[case.id]


@pytest.mark.parametrize(
    ("action", "data", "reason"),
    [
        ("phrase_refused", {"phrase": "这不归我管"}, "phrase_refused"),
        ("deadline_breached", {"state": "new", "due_at": "2026-03-02T05:00:00"}, "deadline_breached"),
    ],
)
def test_refused_phrases_and_breaches_put_a_case_in_the_queue(
    app, client, make, clock, qtoken, action, data, reason
):
    """The guards that record these also set must_audit; the queue shows the reason from the history."""
    opener = make.user("frontline")
    case = make.case(opener)
    with app.app_context(), get_db(app).transaction() as s:
        row = s.get(Case, case.id)
        append_event(s, row, action, Actor("system"), data, clock.now)
        row.must_audit = True
        withdraw_case(s, row, s.get(User, opener.id), "客户撤回", clock.now)
    assert queue_reasons(client, qtoken) == {case.id: [reason]}


def test_an_owner_change_puts_a_case_in_the_queue(app, client, make, clock, qtoken):
    case, owner = make.case_in("act")
    admin, successor = make.user("admin"), make.user("responder")
    with app.app_context(), get_db(app).transaction() as s:
        deactivate_user(s, s.get(User, admin.id), s.get(User, owner.id), clock.now)
        change_owner(
            s, s.get(Case, case.id), s.get(User, admin.id), s.get(User, successor.id), "离职交接", clock.now
        )
    finish(make, case, successor, "act")
    assert "owner_changed" in queue_reasons(client, qtoken)[case.id]


def test_cases_without_a_reason_stay_out_when_the_sample_is_empty(app, client, make, clock, qtoken):
    withdrawn_cases(app, clock, make.user("frontline"), 5)
    assert queue_ids(client, qtoken) == []


# --- the sample --------------------------------------------------------------------------
def test_the_sample_is_reproducible_and_about_the_configured_share(app, client, make, clock, qtoken):
    ids = withdrawn_cases(app, clock, make.user("frontline"), 300)
    app.config["AUDIT_SAMPLE_PERCENT"] = 10
    drawn = queue_ids(client, qtoken)
    # Roughly 10% of 300 (a binomial's spread is about ±5 around 30).
    assert 15 <= len(drawn) <= 50
    # The database and Python agree on every case, in and out.
    expected = [i for i in ids if audit_ops.sample_bucket(i, SALT) < 10]
    assert drawn == expected
    # The same ids again, call after call …
    assert queue_ids(client, qtoken) == drawn
    # … and in another process.
    code = (
        "import json, sys; from complaints.services.audits import sample_bucket; "
        "ids = json.loads(sys.argv[1]); print(json.dumps([i for i in ids if sample_bucket(i, sys.argv[2]) < 10]))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, json.dumps(ids), SALT], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == drawn
    # Each row says why it is there.
    assert set(map(tuple, queue_reasons(client, qtoken).values())) == {("sample",)}
    # A larger share draws a superset; another salt draws other cases.
    app.config["AUDIT_SAMPLE_PERCENT"] = 30
    wider = queue_ids(client, qtoken)
    assert set(drawn) < set(wider) and 60 <= len(wider) <= 120
    app.config.update(AUDIT_SAMPLE_PERCENT=10, AUDIT_SAMPLE_SALT="another salt")
    assert queue_ids(client, qtoken) != drawn
    app.config["AUDIT_SAMPLE_PERCENT"] = 100
    assert queue_ids(client, qtoken) == ids


def test_sql_and_python_buckets_agree_on_many_ids(app):
    ids = [1, 2, 3, 99, 100, 101, 12345, 999_999, 2**31 - 1]
    with app.app_context():
        s = get_db(app).new_session()
        for salt in ("", SALT, "盐"):
            in_sql = [s.scalar(select(audit_ops.sample_bucket_sql(i, salt))) for i in ids]
            assert in_sql == [audit_ops.sample_bucket(i, salt) for i in ids]
            assert all(0 <= b < 100 for b in in_sql)
        s.close()


def test_the_salt_defaults_to_the_secret_key(app):
    app.config["AUDIT_SAMPLE_SALT"] = ""
    assert audit_ops.SampleSettings.from_config(app.config).salt == app.config["SECRET_KEY"]


# --- filters and pages ---------------------------------------------------------------------
def test_filters_by_period_owner_category_and_product(client, make, clock, qtoken):
    alice, bob = make.user("responder", name="Alice"), make.user("responder", name="Bob")
    a, _ = make.case_in("closed", owner=alice, product="ThinkBook 14", category="product")
    clock.advance(days=3)
    b, _ = make.case_in("closed", owner=bob, product="Yoga 7", category="delivery")
    day_b = (snapshot(client.application, b.id).closed_at.replace(tzinfo=None) + timedelta(hours=8)).date()
    assert queue_ids(client, qtoken) == [a.id, b.id]
    assert queue_ids(client, qtoken, f"owner={alice.id}") == [a.id]
    assert queue_ids(client, qtoken, "category=delivery") == [b.id]
    assert queue_ids(client, qtoken, "product=thinkbook") == [a.id]
    assert queue_ids(client, qtoken, f"from={day_b.isoformat()}") == [b.id]
    assert queue_ids(client, qtoken, f"to={(day_b - timedelta(days=1)).isoformat()}") == [a.id]
    r = client.get(f"{QUEUE}?from=yesterday&category=toys", headers=api_headers(qtoken))
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"from", "category"}


def test_keyset_pages_walk_the_queue_once_oldest_closure_first(app, client, make, clock, qtoken):
    ids = withdrawn_cases(app, clock, make.user("frontline"), 4)
    clock.advance(minutes=1)
    ids += withdrawn_cases(app, clock, make.user("frontline"), 3)
    app.config["AUDIT_SAMPLE_PERCENT"] = 100
    assert queue_ids(client, qtoken) == ids
    r = client.get(f"{QUEUE}?cursor=not-a-cursor", headers=api_headers(qtoken))
    assert r.status_code == 422


# --- verdicts ----------------------------------------------------------------------------------
def test_a_compliant_verdict_leaves_the_queue_and_is_in_the_history(app, client, make, qtoken, quality):
    case, _ = make.case_in("closed")
    r = post_audit(client, qtoken, case.id, {"verdict": "compliant"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["verdict"] == "compliant" and body["auditor"]["id"] == quality.id
    assert {i["item"] for i in body["checklist"]} == set(audit_ops.ITEM_CODES)
    assert queue_ids(client, qtoken) == []
    with app.app_context():
        s = get_db(app).new_session()
        row = s.get(Case, case.id)
        assert row.audited_closed_at == row.closed_at and row.state == "closed"
        audit = s.scalars(select(Audit).where(Audit.case_id == case.id)).one()
        assert audit.case_closed_at == row.closed_at and len(audit.checklist) == 11
        last = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq.desc())).first()
        assert last.action == "case_audited" and json.loads(last.data)["audit_id"] == audit.id
        assert verify_case(s, row) is None
        s.close()
    # The same closure cannot be audited twice.
    again = post_audit(client, qtoken, case.id, {"verdict": "compliant"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_audited"


def test_only_closed_or_withdrawn_cases_are_audited(client, make, qtoken):
    case, _ = make.case_in("prevent")
    r = post_audit(client, qtoken, case.id, {"verdict": "compliant"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_state"
    assert post_audit(client, qtoken, 99999, {"verdict": "compliant"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"verdict"}),
        ({"verdict": "great"}, {"verdict"}),
        ({"verdict": "findings"}, {"findings"}),
        ({"verdict": "findings", "findings": {"apology_first": "  "}}, {"findings"}),
        ({"verdict": "findings", "findings": [{"item": "nope", "text": "x"}]}, {"findings[0]"}),
        ({"verdict": "findings", "findings": [{"item": "apology_first"}]}, {"findings[0]"}),
        ({"verdict": "findings", "findings": {"nope": "x"}}, {"findings.nope"}),
        ({"verdict": "findings", "findings": "bad"}, {"findings"}),
        ({"verdict": "compliant", "findings": {"apology_first": "x"}}, {"findings"}),
        ({"verdict": "compliant", "reopen_to": "analyse"}, {"reopen_to"}),
        ({"verdict": "findings", "findings": {"apology_first": "x"}, "reopen_to": "listen"}, {"reopen_to"}),
        ({"verdict": "compliant", "owner_id": 3}, {"owner_id"}),
    ],
)
def test_invalid_verdicts_are_refused_per_field(app, client, make, qtoken, body, fields):
    case, _ = make.case_in("closed")
    before = snapshot(app, case.id)
    r = post_audit(client, qtoken, case.id, body)
    assert r.status_code == 422, r.get_json()
    assert set(r.get_json()["error"]["fields"]) == fields
    after = snapshot(app, case.id)
    assert (after.version, after.event_count, after.audited_closed_at) == (
        before.version,
        before.event_count,
        before.audited_closed_at,
    )


def test_a_withdrawn_case_is_audited_but_not_reopened(client, make, app, clock, qtoken):
    [case_id] = withdrawn_cases(app, clock, make.user("frontline"), 1)
    body = {"verdict": "findings", "findings": {"record_complete": "缺少联系方式"}, "reopen_to": "analyse"}
    r = post_audit(client, qtoken, case_id, body)
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"reopen_to"}
    del body["reopen_to"]
    assert post_audit(client, qtoken, case_id, body).status_code == 201


def test_reopen_sends_the_case_back_to_its_owner_and_it_returns_to_the_queue(
    app, client, make, clock, auth, qtoken
):
    case, owner = make.case_in("closed")
    body = {
        "verdict": "findings",
        "findings": [
            {"item": "satisfaction_by_customer", "text": "满意度由员工代填,应由客户本人确认。"},
            {"item": "answers_by_customer", "text": "方案确认也是代填。"},
        ],
        "reopen_to": "verify",
    }
    r = post_audit(client, qtoken, case.id, body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["case"]["state"] == "verify" and r.get_json()["reopen_to"] == "verify"
    reopened = snapshot(app, case.id)
    assert reopened.state == "verify" and reopened.owner_id == owner.id
    assert reopened.closed_at is None and reopened.reopen_count == 1 and reopened.must_audit
    assert queue_ids(client, qtoken) == []
    with app.app_context():
        s = get_db(app).new_session()
        actions = [
            e.action for e in s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq))
        ]
        assert actions[-2:] == ["case_audited", "case_reopened"]
        assert verify_case(s, s.get(Case, case.id)) is None  # replay agrees with the reopen
        s.close()

    # The owner sees the findings on the case page.
    auth.login(owner)
    assert "满意度由员工代填" in get(client, f"/cases/{case.id}")
    auth.logout()

    # Closed again, it is back in the queue, and can be audited again.
    clock.advance(days=1)
    make.step(case, owner, "verify")
    assert queue_reasons(client, qtoken)[case.id] == ["reopened", "staff_recorded"]
    r = post_audit(client, qtoken, case.id, {"verdict": "compliant"})
    assert r.status_code == 201
    assert queue_ids(client, qtoken) == []
    assert (
        len(client.get(f"/api/v1/cases/{case.id}/audit", headers=api_headers(qtoken)).get_json()["audits"])
        == 2
    )


def test_the_case_audit_endpoint_gives_the_checklist(client, make, qtoken):
    case, _ = make.case_in("closed")
    body = client.get(f"/api/v1/cases/{case.id}/audit", headers=api_headers(qtoken)).get_json()
    assert body["auditable"] and body["in_queue"] and body["audits"] == []
    statuses = {i["item"]: i["status"] for i in body["checklist"]}
    assert statuses["answers_by_customer"] == "fail" and statuses["history_intact"] == "pass"
    assert all(i["text"] for i in body["checklist"])


# --- the web pages ---------------------------------------------------------------------------
def test_the_queue_and_the_verdict_in_the_browser(app, client, make, auth, quality, clock):
    case, owner = make.case_in("closed")
    auth.login(quality)
    page = get(client, "/audits")  # checks labels, unique ids, no inline script or style
    assert case.reference in page and "Staff-recorded customer answer" in page
    audit_page = get(client, f"/audits/{case.id}")
    assert 'id="event-1"' in audit_page and 'href="#event-' in audit_page
    token = csrf_from(audit_page)

    # Findings without any text: refused, nothing recorded.
    r = client.post(f"/audits/{case.id}", data={"csrf_token": token, "verdict": "findings"})
    assert r.status_code == 422 and "Write at least one finding" in r.text
    # A field the form does not have is refused by name.
    r = client.post(f"/audits/{case.id}", data={"csrf_token": token, "verdict": "compliant", "owner_id": "1"})
    assert r.status_code == 400

    r = client.post(
        f"/audits/{case.id}",
        data={
            "csrf_token": token,
            "verdict": "findings",
            "finding_answers_by_customer": "所有答复均为代录。",
            "reopen_to": "agree",
        },
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/audits")
    assert snapshot(app, case.id).state == "agree"
    queue_page = client.get("/audits").text
    assert "back at “Agree” for its owner" in queue_page  # the flash
    assert f'href="/audits/{case.id}"' not in queue_page
    # Posting the same verdict again: the case is no longer closed.
    r = client.post(f"/audits/{case.id}", data={"csrf_token": token, "verdict": "compliant"})
    assert r.status_code == 302
    assert "not possible while the case is at" in client.get(r.headers["Location"]).text


# --- who may ---------------------------------------------------------------------------------
@pytest.mark.parametrize("roles", [("frontline",), ("responder",), ("admin",), ("frontline", "responder")])
def test_only_quality_managers_reach_the_audits(app, client, make, auth, roles):
    case, owner = make.case_in("closed")
    user = make.user(*roles)
    token = make.token(user)
    headers = api_headers(token)
    assert client.get(QUEUE, headers=headers).status_code == 403
    assert client.get(f"/api/v1/cases/{case.id}/audit", headers=headers).status_code == 403
    r = post_audit(client, token, case.id, {"verdict": "compliant"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    auth.login(user)
    assert client.get("/audits").status_code == 403
    assert client.get(f"/audits/{case.id}").status_code == 403
    token = csrf_from(client.get("/").text)
    assert (
        client.post(f"/audits/{case.id}", data={"csrf_token": token, "verdict": "compliant"}).status_code
        == 403
    )
    assert snapshot(app, case.id).audited_closed_at is None
    assert "/audits" not in client.get("/").text  # no link in the navigation either


def test_a_quality_manager_does_not_audit_a_case_they_own(client, make, qtoken):
    owner = make.user("responder", "quality")
    case, _ = make.case_in("closed", owner=owner)
    r = post_audit(client, make.token(owner), case.id, {"verdict": "compliant"})
    assert r.status_code == 403
    assert post_audit(client, qtoken, case.id, {"verdict": "compliant"}).status_code == 201


# --- verify-history names the first bad event ---------------------------------------------
def forge(app, clock, case_id: int, action: str, data: dict[str, Any], *, chained: bool) -> int:
    """What someone with database access might insert (an INSERT, which no trigger refuses)."""
    from complaints.services.history import canonical_json, event_hash, sha256

    with app.app_context(), get_db(app).transaction() as s:
        case = s.get(Case, case_id)
        last = s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).first()
        seq, text = last.seq + 1, canonical_json(data)
        prev = last.hash if chained else "f" * 64
        digest = sha256(text)
        s.add(
            Event(
                case_id=case_id,
                seq=seq,
                at=clock.now,
                actor_kind="system",
                actor_id=None,
                action=action,
                data=text,
                data_digest=digest,
                prev_hash=prev,
                hash=event_hash(prev, case_id, seq, clock.now, "system", None, action, digest),
            )
        )
        case.event_count = seq
        return seq


def test_verify_history_names_each_failing_case_and_its_first_bad_event(app, make, clock):
    intact, _ = make.case_in("closed")
    unlinked, _ = make.case_in("agree")
    skipped, _ = make.case_in("analyse")
    bad_link = forge(app, clock, unlinked.id, "note_added", {"body": "x"}, chained=False)
    closing = {"step": "verify", "from": "verify", "to": "closed", "evidence": {"satisfaction": "satisfied"}}
    bad_move = forge(app, clock, skipped.id, "step_completed", closing, chained=True)
    result = app.test_cli_runner().invoke(args=["complaints", "verify-history"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{unlinked.reference}: event {bad_link}: link to previous event broken" in lines
    assert any(line.startswith(f"{skipped.reference}: event {bad_move}: replay refused") for line in lines)
    assert not any(intact.reference in line for line in lines)
    assert lines[-1] == "3 cases checked, 2 with a broken history."

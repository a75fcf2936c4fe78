"""The remedy policy: the three guarantees decide what the customer is entitled to; a remedy
beyond it is offered only after a quality manager approved it, in the browser and the API alike;
both the approval and the offer are on record for the audit."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import TZ, api_headers, case_snapshot, csrf_from, good_evidence
from sqlalchemy import select
from test_web_support import as_form, follow, get, reading, version_on

from complaints import checklist
from complaints.db import get_db
from complaints.evidence import Context
from complaints.models import Case, Event, RemedyApproval, StepRecord
from complaints.remedy_policy import PolicySettings, entitlements, is_within_policy
from complaints.services import remedies
from complaints.services.history import verify_case

SETTINGS = PolicySettings()
TODAY = date(2026, 11, 23)
BASE = {"explanation", "apology", "repair", "compensation"}


# --- the entitlement table (pure) ---------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "repairs", "extra", "guaranteed"),
    [
        (0, 0, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (7, 0, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (8, 0, {"exchange"}, {"exchange", "repair"}),
        (8, 2, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (15, 0, {"exchange"}, {"exchange", "repair"}),
        (15, 1, {"exchange"}, {"exchange", "repair"}),
        (16, 0, set(), {"repair"}),
        (16, 1, set(), {"repair"}),
        (16, 2, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (16, 3, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (365, 0, set(), {"repair"}),
        (365, 2, {"refund", "exchange"}, {"refund", "exchange", "repair"}),
        (366, 0, set(), set()),
        (366, 2, set(), set()),
    ],
)
def test_the_three_guarantees_by_day_and_repairs(app, days, repairs, extra, guaranteed):
    ent = entitlements(TODAY - timedelta(days=days), TODAY, repairs, SETTINGS)
    assert ent.remedies == BASE | extra
    assert ent.guaranteed == guaranteed
    assert (ent.days, ent.repairs, ent.known) == (days, repairs, True)
    assert "other" not in ent.remedies
    with app.test_request_context():
        for code, _label, within, reason in ent.rows():  # every remedy says why, in words
            assert str(reason) and within == (code in ent.remedies)


@pytest.mark.parametrize("repairs", [0, 2, 5])
def test_without_a_purchase_date_only_repair_explanation_apology_and_small_compensation(app, repairs):
    ent = entitlements(None, TODAY, repairs, SETTINGS)
    assert ent.remedies == BASE and ent.guaranteed == frozenset() and not ent.known
    with app.test_request_context():
        assert "No purchase date" in str(ent.reasons["refund"])


def test_the_reasons_say_the_days(app):
    with app.test_request_context():
        ent = entitlements(TODAY - timedelta(days=10), TODAY, 0, SETTINGS)
        assert str(ent.reasons["refund"]) == "Return only within 7 days of sale; this is day 10."
        assert "day 10" in str(ent.reasons["exchange"]) and "15 days" in str(ent.reasons["exchange"])
        late = entitlements(TODAY - timedelta(days=400), TODAY, 0, SETTINGS)
        assert "Past the warranty" in str(late.reasons["repair"])


def test_the_numbers_are_configurable():
    longer = PolicySettings(return_days=14, exchange_days=30, warranty_days=730, repairs_before_exchange=3)
    ent = entitlements(TODAY - timedelta(days=14), TODAY, 0, longer)
    assert {"refund", "exchange"} <= ent.remedies
    ent = entitlements(TODAY - timedelta(days=500), TODAY, 2, longer)
    assert "exchange" not in ent.remedies and "repair" in ent.guaranteed
    ent = entitlements(TODAY - timedelta(days=500), TODAY, 3, longer)
    assert {"refund", "exchange"} <= ent.remedies


@pytest.mark.parametrize(
    ("amount", "limit", "within"),
    [
        ("200.00", "200.00", True),
        ("199.99", "200.00", True),
        ("200.01", "200.00", False),
        ("5000.00", "200.00", False),
        (None, "200.00", False),
        ("450.00", "500.00", True),
    ],
)
def test_compensation_within_policy_only_up_to_the_limit(amount, limit, within):
    settings = PolicySettings(compensation_limit=Decimal(limit))
    ent = entitlements(None, TODAY, 0, settings)
    assert is_within_policy("compensation", amount, ent, settings) is within


def test_settings_from_stored_values_keep_defaults_for_bad_ones():
    got = PolicySettings.from_mapping(
        {"warranty_days": "730", "compensation_limit": "350.5", "x": 1, "return_days": "?"}
    )
    assert (got.warranty_days, got.compensation_limit, got.return_days) == (730, Decimal("350.50"), 7)
    assert PolicySettings.from_mapping(got.to_mapping()) == got


# --- helpers --------------------------------------------------------------------------------
def bought(clock, days: int) -> str:
    return (Context(now=clock.now, tz=TZ).today - timedelta(days=days)).isoformat()


def events(app, case_id: int) -> list[Event]:
    with reading(app) as s:
        return list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


def actions(app, case_id: int) -> list[str]:
    return [e.action for e in events(app, case_id)]


def agree(clock, **changes: Any) -> dict[str, Any]:
    ev = {**good_evidence("agree", clock.now), **changes}
    return {k: v for k, v in ev.items() if v is not None}


def judge_remedy(app, case_id: int) -> checklist.Result:
    facts = checklist.Facts([checklist.HistoryEvent.of(e) for e in events(app, case_id)])
    return checklist.check_remedy_within_policy(facts)


class Api:
    def __init__(self, client, make, user) -> None:
        self.client, self.headers = client, api_headers(make.token(user))

    def post(self, url: str, body: Any, status: int) -> dict[str, Any]:
        r = self.client.post(f"/api/v1{url}", json=body, headers=self.headers)
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def get(self, url: str, status: int = 200) -> dict[str, Any]:
        r = self.client.get(f"/api/v1{url}", headers=self.headers)
        assert r.status_code == status, r.get_json()
        return r.get_json()


def refund_case(make, clock, days: int = 30, serial: str = "RF-1"):
    """A case at agree whose customer is not entitled to a refund (bought a month ago)."""
    return make.case_in("agree", purchase_date=bought(clock, days), serial_number=serial)


# --- the API ----------------------------------------------------------------------------------
def test_api_beyond_policy_is_refused_then_goes_through_with_approval(app, client, make, clock):
    case, owner = refund_case(make, clock)
    boss = make.user("quality", name="Quinn Quality")
    api, qa = Api(client, make, owner), Api(client, make, boss)

    policy = api.get(f"/cases/{case.id}/remedy-policy")
    rows = {r["remedy"]: r for r in policy["remedies"]}
    assert policy["days_since_sale"] == 30 and policy["repairs_so_far"] == 0
    assert rows["repair"]["within_policy"] and not rows["refund"]["within_policy"]
    assert "this is day 30" in rows["refund"]["reason"]

    before = case_snapshot(app, case.id)
    body = api.post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="refund", remedy_detail="全额退款"), 422
    )
    assert body["error"]["code"] == "approval_required"
    assert "beyond the remedy policy" in body["error"]["message"] and "remedy" in body["error"]["fields"]
    assert case_snapshot(app, case.id) == before
    # Sending it to the customer is offering it too.
    send = agree(
        clock, remedy="refund", remedy_detail="全额退款", customer_response=None, via="customer_link"
    )
    assert api.post(f"/cases/{case.id}/steps/agree", send, 422)["error"]["code"] == "approval_required"
    assert case_snapshot(app, case.id) == before

    req = api.post(
        f"/cases/{case.id}/remedy-approvals",
        {"remedy": "refund", "remedy_detail": "全额退款", "reason": "第三次同样故障,客户是老客户"},
        201,
    )
    assert req["status"] == "pending" and req["requested_by"]["id"] == owner.id
    # Pending is not approved: still refused, and the message says it waits.
    body = api.post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="refund", remedy_detail="全额退款"), 422
    )
    assert "waiting for quality" in body["error"]["message"]
    assert [a["id"] for a in qa.get("/remedy-approvals")["items"]] == [req["id"]]

    decided = qa.post(f"/remedy-approvals/{req['id']}/decision", {"decision": "approve", "note": "同意"}, 200)
    assert decided["status"] == "approved" and decided["decided_by"]["id"] == boss.id
    assert qa.get("/remedy-approvals")["items"] == []
    qa.post(f"/remedy-approvals/{req['id']}/decision", {"decision": "refuse", "note": "x"}, 409)

    done = api.post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="refund", remedy_detail="全额退款"), 200
    )
    assert done["state"] == "act"
    evidence = done["steps"][-1]["evidence"]
    assert evidence["beyond_policy"] is True and evidence["approval_id"] == req["id"]
    on_record = [a for a in actions(app, case.id) if a.startswith("remedy_") or a == "step_completed"]
    assert on_record[-3:] == ["remedy_approval_requested", "remedy_approved", "step_completed"]
    approved = [e for e in events(app, case.id) if e.action == "remedy_approved"]
    assert json.loads(approved[0].data)["approval_id"] == req["id"]
    assert judge_remedy(app, case.id).note == "remedy_approved"
    assert judge_remedy(app, case.id).status == checklist.PASS
    with app.app_context():
        s = get_db(app).new_session()
        assert verify_case(s, s.get(Case, case.id)) is None  # the chain and the replay hold
        s.close()


def test_api_within_policy_is_marked_so(app, client, make, clock):
    case, owner = make.case_in("agree", purchase_date=bought(clock, 3), serial_number="WP-1")
    api = Api(client, make, owner)
    done = api.post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="refund", remedy_detail="退货退款"), 200
    )
    evidence = done["steps"][-1]["evidence"]
    assert evidence["within_policy"] is True and "approval_id" not in evidence
    assert judge_remedy(app, case.id).note == "remedy_within_policy"


def test_api_a_refused_approval_still_blocks(app, client, make, clock):
    case, owner = refund_case(make, clock, serial="RF-2")
    boss = make.user("quality")
    api, qa = Api(client, make, owner), Api(client, make, boss)
    req = api.post(
        f"/cases/{case.id}/remedy-approvals",
        {"remedy": "exchange", "remedy_detail": "换新机", "reason": "客户坚持"},
        201,
    )
    body = qa.post(f"/remedy-approvals/{req['id']}/decision", {"decision": "refuse"}, 422)
    assert "note" in body["error"]["fields"]  # a refusal says why
    refused = qa.post(
        f"/remedy-approvals/{req['id']}/decision", {"decision": "refuse", "note": "维修即可"}, 200
    )
    assert refused["status"] == "refused" and refused["decision_note"] == "维修即可"
    before = case_snapshot(app, case.id)
    body = api.post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="exchange", remedy_detail="换新机"), 422
    )
    assert body["error"]["code"] == "approval_required" and "refused" in body["error"]["message"]
    assert case_snapshot(app, case.id) == before
    data = json.loads(next(e for e in events(app, case.id) if e.action == "remedy_refused").data)
    assert (data["approval_id"], data["remedy"], data["remedy_detail"]) == (req["id"], "exchange", "换新机")
    # Repair needs no approval and goes through.
    assert api.post(f"/cases/{case.id}/steps/agree", agree(clock), 200)["state"] == "act"


def test_compensation_limit_and_approved_amount(app, client, make, clock):
    case, owner = make.case_in("agree", purchase_date=None, serial_number="CP-1")
    boss = make.user("quality")
    api, qa = Api(client, make, owner), Api(client, make, boss)
    url = f"/cases/{case.id}/steps/agree"
    no_amount = api.post(url, agree(clock, remedy="compensation", remedy_detail="补偿"), 422)
    assert no_amount["error"]["code"] == "invalid" and "amount" in no_amount["error"]["fields"]
    small = agree(
        clock,
        remedy="compensation",
        remedy_detail="补偿话费",
        amount="200",
        customer_response="declined",
        reason="太少",
    )
    body = api.post(url, small, 200)
    assert body["steps"][-1]["evidence"]["amount"] == "200.00"
    assert body["steps"][-1]["evidence"]["within_policy"] is True
    big = agree(clock, remedy="compensation", remedy_detail="补偿", amount=350)
    err = api.post(url, big, 422)["error"]
    assert err["code"] == "approval_required" and "above the policy's limit of 200.00" in err["message"]
    req = api.post(
        f"/cases/{case.id}/remedy-approvals",
        {"remedy": "compensation", "remedy_detail": "补偿", "amount": "300", "reason": "多次上门未修好"},
        201,
    )
    assert req["amount"] == "300.00"
    qa.post(f"/remedy-approvals/{req['id']}/decision", {"decision": "approve"}, 200)
    err = api.post(url, big, 422)["error"]  # 350 is more than the 300 approved
    assert "does not cover this amount" in err["message"]
    ok = api.post(url, agree(clock, remedy="compensation", remedy_detail="补偿", amount="299.50"), 200)
    assert ok["steps"][-1]["evidence"]["approval_id"] == req["id"]


def test_the_limit_is_set_by_configuration_and_by_quality(app, client, make, clock, auth):
    app.config["REMEDY_COMPENSATION_LIMIT"] = "100"
    case, owner = make.case_in("agree", purchase_date=None, serial_number="CP-2")
    api = Api(client, make, owner)
    url = f"/cases/{case.id}/steps/agree"
    assert api.post(url, agree(clock, remedy="compensation", remedy_detail="补偿", amount="150"), 422)
    boss = make.user("quality")
    auth.login(boss)
    page = get(client, "/remedy-approvals")
    assert 'value="100.00"' in page
    form = {
        "return_days": "7",
        "exchange_days": "15",
        "warranty_days": "365",
        "repairs_before_exchange": "2",
        "compensation_limit": "500",
        "csrf_token": csrf_from(page),
    }
    assert client.post("/remedy-approvals/policy", data={**form, "exchange_days": "3"}).status_code == 422
    r = client.post("/remedy-approvals/policy", data=form)
    assert "Remedy policy saved" in follow(client, r)
    done = api.post(url, agree(clock, remedy="compensation", remedy_detail="补偿", amount="150"), 200)
    assert done["steps"][-1]["evidence"]["within_policy"] is True


def test_a_request_for_a_remedy_within_policy_or_twice_is_refused(app, client, make, clock):
    case, owner = refund_case(make, clock, serial="RF-3")
    api = Api(client, make, owner)
    url = f"/cases/{case.id}/remedy-approvals"
    body = api.post(url, {"remedy": "repair", "remedy_detail": "修", "reason": "r"}, 422)
    assert "within policy" in body["error"]["fields"]["remedy"]
    api.post(url, {"remedy": "refund", "remedy_detail": "退", "reason": "r"}, 201)
    assert (
        api.post(url, {"remedy": "refund", "remedy_detail": "退", "reason": "r"}, 409)["error"]["code"]
        == "approval_pending"
    )
    assert api.post(url, {"remedy": "refund", "remedy_detail": "退", "reason": "r", "owner_id": 1}, 422)
    events_before = case_snapshot(app, case.id)[3]
    assert api.post(url, {"remedy": "compensation", "remedy_detail": "补", "reason": "r"}, 422)
    assert case_snapshot(app, case.id)[3] == events_before


@pytest.mark.parametrize("who", ["responder", "frontline", "admin", "owner_with_quality", "owner"])
def test_only_quality_decides(app, client, make, clock, auth, who):
    owner = make.user("responder", "quality") if who == "owner_with_quality" else make.user("responder")
    case, owner = make.case_in("agree", owner=owner, purchase_date=bought(clock, 30), serial_number="Q-1")
    req = Api(client, make, owner).post(
        f"/cases/{case.id}/remedy-approvals", {"remedy": "refund", "remedy_detail": "退", "reason": "r"}, 201
    )
    user = owner if who.startswith("owner") else make.user(who)
    before = case_snapshot(app, case.id)
    body = Api(client, make, user).post(
        f"/remedy-approvals/{req['id']}/decision", {"decision": "approve"}, 403
    )
    assert body["error"]["code"] == "forbidden"
    assert case_snapshot(app, case.id) == before
    auth.login(user)
    assert client.get("/remedy-approvals").status_code == (200 if who == "owner_with_quality" else 403)
    r = client.post(
        f"/remedy-approvals/{req['id']}/decision",
        data={"decision": "approve", "csrf_token": csrf_from(client.get("/").text)},
    )
    assert r.status_code == 403
    with reading(app) as s:
        assert s.get(RemedyApproval, req["id"]).decided_at is None


def test_only_the_owner_asks_and_only_while_working_out_the_remedy(app, client, make, clock):
    case, owner = make.case_in("listen", purchase_date=bought(clock, 30), serial_number="Q-2")
    body = {"remedy": "refund", "remedy_detail": "退", "reason": "r"}
    assert (
        Api(client, make, owner).post(f"/cases/{case.id}/remedy-approvals", body, 409)["error"]["code"]
        == "wrong_state"
    )
    other = make.user("responder")
    assert Api(client, make, other).post(f"/cases/{case.id}/remedy-approvals", body, 403)


# --- the customer link ---------------------------------------------------------------------
def test_an_approved_offer_sent_to_the_customer_carries_the_approval(app, client, make, clock):
    case, owner = make.case_in(
        "agree", purchase_date=bought(clock, 30), serial_number="CL-1", customer_email="c@example.com"
    )
    boss = make.user("quality")
    api, qa = Api(client, make, owner), Api(client, make, boss)
    req = api.post(
        f"/cases/{case.id}/remedy-approvals",
        {"remedy": "exchange", "remedy_detail": "换新机", "reason": "r"},
        201,
    )
    qa.post(f"/remedy-approvals/{req['id']}/decision", {"decision": "approve"}, 200)
    send = agree(
        clock, remedy="exchange", remedy_detail="换新机", customer_response=None, via="customer_link"
    )
    api.post(f"/cases/{case.id}/steps/agree", send, 202)
    with reading(app) as s:
        assert s.get(Case, case.id).pending_evidence["approval_id"] == req["id"]
    token = api.post(f"/cases/{case.id}/customer-link", None, 201)["url"].rsplit("/", 1)[-1]
    shown = client.get(f"/api/v1/customer/{token}").get_json()
    assert shown["remedy"]["remedy"] == "exchange" and "approval_id" not in json.dumps(shown)
    r = client.post(f"/api/v1/customer/{token}/answer", json={"response": "accepted"})
    assert r.status_code == 200, r.get_json()
    with reading(app) as s:
        record = s.scalars(
            select(StepRecord).where(StepRecord.case_id == case.id).order_by(StepRecord.id.desc())
        ).first()
        assert (record.outcome, record.evidence["approval_id"], record.evidence["beyond_policy"]) == (
            "act",
            req["id"],
            True,
        )
    assert judge_remedy(app, case.id).status == checklist.PASS


# --- the browser ------------------------------------------------------------------------------
def step_form(client, case_id: int, evidence: dict[str, Any]):
    page = get(client, f"/cases/{case_id}")
    data = {**as_form(evidence), "version": str(version_on(page)), "csrf_token": csrf_from(page)}
    return client.post(f"/cases/{case_id}/steps/agree", data=data)


def test_web_beyond_policy_refused_on_the_form_then_approved_and_offered(app, client, make, clock, auth):
    case, owner = refund_case(make, clock, serial="WEB-1")
    boss = make.user("quality", name="Quinn Quality")
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    assert 'id="remedy"' in page and "Return only within 7 days of sale; this is day 30." in page
    assert "Ask quality to approve a remedy beyond policy" in page

    before = case_snapshot(app, case.id)
    r = step_form(client, case.id, agree(clock, remedy="refund", remedy_detail="全额退款"))
    assert r.status_code == 422
    assert "beyond the remedy policy" in r.text and "全额退款" in r.text  # the form comes back as typed
    assert case_snapshot(app, case.id) == before

    data = {
        "remedy": "refund",
        "remedy_detail": "全额退款",
        "amount": "",
        "reason": "",
        "csrf_token": csrf_from(page),
    }
    r = client.post(f"/cases/{case.id}/remedy-approvals", data=data)
    assert r.status_code == 422 and "This field is required." in r.text
    r = client.post(f"/cases/{case.id}/remedy-approvals", data={**data, "reason": "同一故障第三次"})
    assert "Approval requested" in follow(client, r)
    assert case_snapshot(app, case.id)[:3] == before[:3]
    auth.logout()

    auth.login(boss)
    queue = get(client, "/remedy-approvals")
    assert case.reference in queue and "同一故障第三次" in queue and "this is day 30" in queue
    approval_id = int(queue.split('id="approval-', 1)[1].split('"', 1)[0])
    token = csrf_from(queue)
    r = client.post(
        f"/remedy-approvals/{approval_id}/decision",
        data={"decision": "refuse", "note": "", "csrf_token": token},
    )
    assert r.status_code == 422 and "Say why the request is refused." in r.text
    r = client.post(
        f"/remedy-approvals/{approval_id}/decision",
        data={"decision": "approve", "note": "", "csrf_token": token},
    )
    assert "Approved for case" in follow(client, r)
    auth.logout()

    auth.login(owner)
    assert "Approved" in get(client, f"/cases/{case.id}")
    r = step_form(client, case.id, agree(clock, remedy="refund", remedy_detail="全额退款"))
    assert "recorded. The case is now at" in follow(client, r)
    assert case_snapshot(app, case.id)[0] == "act"
    assert [a for a in actions(app, case.id) if a.startswith("remedy_")] == [
        "remedy_approval_requested",
        "remedy_approved",
    ]
    assert judge_remedy(app, case.id).status == checklist.PASS


def test_web_under_promising_shows_a_warning_but_goes_through(app, client, make, clock, auth):
    case, owner = make.case_in("agree", purchase_date=bought(clock, 2), serial_number="UP-1")
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    assert "Within 7 days of sale (day 2): a performance fault entitles return." in page
    r = step_form(client, case.id, agree(clock, remedy="repair", remedy_detail="上门维修"))
    after = follow(client, r)
    assert "flash--warning" in after and "entitled to Refund, Exchange, more than the Repair offered" in after
    assert case_snapshot(app, case.id)[0] == "act"


def test_web_no_warning_when_the_offer_matches_the_entitlement(app, client, make, clock, auth):
    case, owner = make.case_in("agree", purchase_date=bought(clock, 2), serial_number="UP-2")
    auth.login(owner)
    after = follow(
        client, step_form(client, case.id, agree(clock, remedy="refund", remedy_detail="退货退款"))
    )
    assert "flash--warning" not in after and case_snapshot(app, case.id)[0] == "act"


# --- repairs so far ---------------------------------------------------------------------------
def test_two_repairs_of_the_same_serial_entitle_exchange_or_return(app, client, make, clock):
    owner = make.user("responder")
    for _ in range(2):  # two earlier complaints, each repaired
        make.case_in("act", owner=owner, purchase_date=bought(clock, 100), serial_number="SN-TWICE")
    other, _o = make.case_in("act", owner=owner, purchase_date=bought(clock, 100), serial_number="SN-OTHER")
    case, _o = make.case_in("agree", owner=owner, purchase_date=bought(clock, 100), serial_number="SN-TWICE")
    with app.app_context():
        s = get_db(app).new_session()
        c = s.get(Case, case.id)
        assert remedies.repairs_so_far(s, c) == 2
        assert remedies.repairs_so_far(s, s.get(Case, other.id)) == 0
        ent = remedies.entitlement_of(s, c)
        s.close()
    assert {"refund", "exchange"} <= ent.remedies and ent.reasons["exchange"].code == "repairs_failed"
    done = Api(client, make, owner).post(
        f"/cases/{case.id}/steps/agree", agree(clock, remedy="exchange", remedy_detail="换新机"), 200
    )
    assert done["steps"][-1]["evidence"]["within_policy"] is True


def test_a_repair_that_did_not_hold_in_the_same_case_counts(app, make, clock):
    case, owner = make.case_in("verify", purchase_date=bought(clock, 100), serial_number="SN-BACK")

    def count() -> int:
        with app.app_context():
            s = get_db(app).new_session()
            n = remedies.repairs_so_far(s, s.get(Case, case.id))
            s.close()
            return n

    assert count() == 0  # the repair is under way
    make.step(
        case,
        owner,
        "verify",
        {**good_evidence("verify", clock.now), "satisfaction": "dissatisfied", "score": 1},
    )
    assert count() == 1  # the customer was not satisfied: back to analysis
    make.step(case, owner, "analyse")
    assert count() == 1

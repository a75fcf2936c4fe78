"""Every forbidden move through the API is refused in the error form and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_headers, case_snapshot, good_evidence
from sqlalchemy import func, select

from complaints.db import get_db
from complaints.models import Case


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error body, after checking its status and shape."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def post(client, path: str, token: str, body: Any = None):
    return client.post(path, headers=api_headers(token), json=body)


def case_count(app) -> int:
    with app.app_context():
        s = get_db(app).new_session()
        n = s.scalar(select(func.count()).select_from(Case))
        s.close()
        return n


# --- steps -------------------------------------------------------------------------
def test_non_owner_cannot_complete_a_step(client, make, app, clock):
    case, _owner = make.case_in("apologise")
    other = make.user("responder")
    before = case_snapshot(app, case.id)
    r = post(
        client,
        f"/api/v1/cases/{case.id}/steps/apologise",
        make.token(other),
        good_evidence("apologise", clock.now),
    )
    error_of(r, 403, "forbidden")
    assert case_snapshot(app, case.id) == before


def test_assistant_cannot_complete_a_step(client, make, app, clock):
    case, owner = make.case_in("listen")
    helper = make.user("responder")
    assert (
        post(
            client, f"/api/v1/cases/{case.id}/assistants", make.token(owner), {"user_id": helper.id}
        ).status_code
        == 201
    )
    before = case_snapshot(app, case.id)
    r = post(
        client,
        f"/api/v1/cases/{case.id}/steps/listen",
        make.token(helper),
        good_evidence("listen", clock.now),
    )
    error_of(r, 403, "forbidden")
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize(
    ("state", "step"),
    [("apologise", "listen"), ("apologise", "verify"), ("listen", "apologise"), ("analyse", "act")],
)
def test_steps_cannot_be_skipped_or_repeated(client, make, app, clock, state, step):
    case, owner = make.case_in(state)
    before = case_snapshot(app, case.id)
    r = post(
        client, f"/api/v1/cases/{case.id}/steps/{step}", make.token(owner), good_evidence(step, clock.now)
    )
    error_of(r, 409, "wrong_state")
    assert case_snapshot(app, case.id) == before


def test_no_step_on_a_closed_case(client, make, app, clock):
    case, owner = make.case_in("verify")
    make.step(case, owner, "verify")
    before = case_snapshot(app, case.id)
    assert before[0] == "closed"
    r = post(
        client, f"/api/v1/cases/{case.id}/steps/verify", make.token(owner), good_evidence("verify", clock.now)
    )
    error_of(r, 409, "wrong_state")
    assert case_snapshot(app, case.id) == before


def test_unknown_step_is_not_found(client, make, app):
    case, owner = make.case_in("apologise")
    before = case_snapshot(app, case.id)
    error_of(post(client, f"/api/v1/cases/{case.id}/steps/escalate", make.token(owner), {}), 404, "not_found")
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize(
    ("step", "body", "fields"),
    [
        ("apologise", {}, {"method", "apology"}),
        ("apologise", {"method": "telepathy", "apology": "Sorry."}, {"method"}),
        ("apologise", {"method": "customer_link", "apology": "Sorry."}, {"method"}),
        (
            "listen",
            {"account": "  ", "expectation": "A new one", "temperament": "grumpy"},
            {"account", "temperament"},
        ),
        ("confirm", {"restatement": "x", "customer_response": "corrected", "via": "phone"}, {"correction"}),
        ("confirm", {"restatement": "x", "customer_response": "confirmed", "via": "customer_link"}, {"via"}),
        ("confirm", {"restatement": "x", "via": "phone"}, {"customer_response"}),
        ("analyse", {"root_cause_category": "product"}, {"root_cause"}),
        (
            "agree",
            {
                "remedy": "refund",
                "remedy_detail": "x",
                "due_date": "2001-01-01",
                "customer_response": "accepted",
                "via": "phone",
            },
            {"due_date"},
        ),
        ("act", {"actions": []}, {"actions"}),
        ("act", {"actions": [{"description": "Swapped", "done_at": "2999-01-01T10:00"}]}, {"actions"}),
        ("prevent", {"department": "none"}, {"none_reason"}),
        ("verify", {"satisfaction": "satisfied", "score": 9, "via": "phone"}, {"score"}),
        ("verify", {"satisfaction": "thrilled", "score": 5, "via": "phone"}, {"satisfaction"}),
    ],
)
def test_missing_or_invalid_evidence_is_refused_per_field(client, make, app, step, body, fields):
    case, owner = make.case_in(step)
    before = case_snapshot(app, case.id)
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/steps/{step}", make.token(owner), body), 422, "invalid"
    )
    assert set(err["fields"]) == fields
    assert all(isinstance(m, str) and m for m in err["fields"].values())
    assert case_snapshot(app, case.id) == before


def test_stale_version_is_refused(client, make, app, clock):
    case, owner = make.case_in("listen")
    before = case_snapshot(app, case.id)
    body = {**good_evidence("listen", clock.now), "version": before[1] - 1}
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/steps/listen", make.token(owner), body), 409, "stale"
    )
    assert str(before[1]) in err["message"]
    assert case_snapshot(app, case.id) == before
    # The current version goes through.
    body["version"] = before[1]
    assert post(client, f"/api/v1/cases/{case.id}/steps/listen", make.token(owner), body).status_code == 200


@pytest.mark.parametrize("version", ["seven", 0, True, 1.5])
def test_version_must_be_a_positive_whole_number(client, make, app, clock, version):
    case, owner = make.case_in("listen")
    before = case_snapshot(app, case.id)
    body = {**good_evidence("listen", clock.now), "version": version}
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/steps/listen", make.token(owner), body), 422, "invalid"
    )
    assert set(err["fields"]) == {"version"}
    assert case_snapshot(app, case.id) == before


# --- claiming ----------------------------------------------------------------------
def test_claiming_an_owned_case_names_the_owner(client, make, app):
    first = make.user("responder", name="Li Lei")
    case, _ = make.case_in("apologise", owner=first)
    second = make.user("responder")
    before = case_snapshot(app, case.id)
    err = error_of(post(client, f"/api/v1/cases/{case.id}/claim", make.token(second)), 409, "already_owned")
    assert err["message"] == "Already owned by Li Lei."
    # Claiming again as the owner is no different.
    error_of(post(client, f"/api/v1/cases/{case.id}/claim", make.token(first)), 409, "already_owned")
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("role", ["frontline", "quality", "admin"])
def test_only_responders_claim(client, make, app, role):
    case = make.case()
    before = case_snapshot(app, case.id)
    error_of(post(client, f"/api/v1/cases/{case.id}/claim", make.token(make.user(role))), 403, "forbidden")
    assert case_snapshot(app, case.id) == before


def test_a_withdrawn_case_cannot_be_claimed(client, make, app):
    opener = make.user("frontline")
    case = make.case(opener)
    assert (
        post(
            client, f"/api/v1/cases/{case.id}/withdraw", make.token(opener), {"reason": "Duplicate"}
        ).status_code
        == 200
    )
    before = case_snapshot(app, case.id)
    error_of(
        post(client, f"/api/v1/cases/{case.id}/claim", make.token(make.user("responder"))), 409, "wrong_state"
    )
    assert case_snapshot(app, case.id) == before


# --- no hand-over, anywhere ---------------------------------------------------------
OWNER_FIELDS = ["owner_id", "owner", "state"]


@pytest.mark.parametrize("field", OWNER_FIELDS)
def test_owner_fields_on_a_step_are_refused(client, make, app, clock, field):
    case, owner = make.case_in("apologise")
    other = make.user("responder")
    before = case_snapshot(app, case.id)
    body = {**good_evidence("apologise", clock.now), field: other.id}
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/steps/apologise", make.token(owner), body), 422, "invalid"
    )
    assert err["fields"] == {field: "Unknown field."}
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", OWNER_FIELDS)
def test_owner_fields_on_a_claim_are_refused(client, make, app, field):
    case = make.case()
    claimer, other = make.user("responder"), make.user("responder")
    before = case_snapshot(app, case.id)
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/claim", make.token(claimer), {field: other.id}), 422, "invalid"
    )
    assert err["fields"] == {field: "Unknown field."}
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", OWNER_FIELDS)
def test_owner_fields_on_withdraw_are_refused(client, make, app, field):
    case, owner = make.case_in("listen")
    before = case_snapshot(app, case.id)
    body = {"reason": "Customer moved away.", field: make.user("responder").id}
    err = error_of(post(client, f"/api/v1/cases/{case.id}/withdraw", make.token(owner), body), 422, "invalid")
    assert err["fields"] == {field: "Unknown field."}
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", OWNER_FIELDS)
def test_owner_fields_on_a_note_are_refused(client, make, app, field):
    case, owner = make.case_in("listen")
    before = case_snapshot(app, case.id)
    body = {"body": "Please take over.", field: make.user("responder").id}
    err = error_of(post(client, f"/api/v1/cases/{case.id}/notes", make.token(owner), body), 422, "invalid")
    assert err["fields"] == {field: "Unknown field."}
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", OWNER_FIELDS)
def test_owner_fields_on_an_invitation_are_refused(client, make, app, field):
    case, owner = make.case_in("listen")
    helper = make.user("responder")
    before = case_snapshot(app, case.id)
    body = {"user_id": helper.id, field: helper.id}
    err = error_of(
        post(client, f"/api/v1/cases/{case.id}/assistants", make.token(owner), body), 422, "invalid"
    )
    assert err["fields"] == {field: "Unknown field."}
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", [*OWNER_FIELDS, "customer_name", "reference", "opened_by"])
def test_owner_and_other_foreign_fields_on_intake_are_refused(client, make, app, field):
    opener, responder = make.user("frontline"), make.user("responder")
    body = {
        "customer": {"name": "Chen", "phone": "13800138000"},
        "channel": "phone",
        "summary": "Broken",
        "description": "Broken on arrival.",
        "category": "product",
        "severity": "normal",
        field: responder.id,
    }
    n = case_count(app)
    err = error_of(post(client, "/api/v1/cases", make.token(opener), body), 422, "invalid")
    assert err["fields"] == {field: "Unknown field."}
    assert case_count(app) == n


def test_intake_errors_use_the_api_field_names(client, make, app):
    opener = make.user("frontline")
    n = case_count(app)
    body = {"customer": {"name": "", "vip": True}, "channel": "fax", "summary": "x", "description": "y"}
    err = error_of(post(client, "/api/v1/cases", make.token(opener), body), 422, "invalid")
    assert set(err["fields"]) == {
        "customer.name",
        "customer.phone",
        "customer.vip",
        "channel",
        "category",
        "severity",
    }
    assert err["fields"]["customer.vip"] == "Unknown field."
    err = error_of(
        post(client, "/api/v1/cases", make.token(opener), {**body, "customer": "Chen"}), 422, "invalid"
    )
    assert "customer" in err["fields"] and "customer.name" in err["fields"]
    bad_email = {**body, "customer": {"name": "Chen", "email": "not-an-address"}, "channel": "phone"}
    err = error_of(post(client, "/api/v1/cases", make.token(opener), bad_email), 422, "invalid")
    assert "customer.email" in err["fields"]
    assert case_count(app) == n


@pytest.mark.parametrize("role", ["quality", "admin"])
def test_only_frontline_and_responders_open_cases(client, make, app, role):
    n = case_count(app)
    error_of(post(client, "/api/v1/cases", make.token(make.user(role)), {}), 403, "forbidden")
    assert case_count(app) == n


# --- withdraw, assistants, notes -----------------------------------------------------
def test_withdraw_refusals(client, make, app):
    case, owner = make.case_in("listen")
    opener_id = case.opened_by_id
    before = case_snapshot(app, case.id)
    url = f"/api/v1/cases/{case.id}/withdraw"
    error_of(post(client, url, make.token(make.user("responder")), {"reason": "x"}), 403, "forbidden")
    error_of(post(client, url, make.token(make.user("quality")), {"reason": "x"}), 403, "forbidden")
    err = error_of(post(client, url, make.token(owner), {"reason": "   "}), 422, "invalid")
    assert set(err["fields"]) == {"reason"}
    error_of(post(client, url, make.token(owner), {}), 422, "invalid")
    assert case_snapshot(app, case.id) == before
    # Once claimed, the opener can no longer withdraw.
    with app.app_context():
        s = get_db(app).new_session()
        from complaints.models import User

        opener = s.get(User, opener_id)
        s.close()
    error_of(post(client, url, make.token(opener), {"reason": "x"}), 403, "forbidden")
    assert post(client, url, make.token(owner), {"reason": "Resolved elsewhere."}).status_code == 200
    after = case_snapshot(app, case.id)
    error_of(post(client, url, make.token(owner), {"reason": "Again."}), 409, "wrong_state")
    assert case_snapshot(app, case.id) == after


def test_assistant_refusals(client, make, app):
    case, owner = make.case_in("listen")
    helper, quality = make.user("frontline"), make.user("quality")
    url = f"/api/v1/cases/{case.id}/assistants"
    before = case_snapshot(app, case.id)
    error_of(post(client, url, make.token(make.user("responder")), {"user_id": helper.id}), 403, "forbidden")
    token = make.token(owner)
    for body in ({"user_id": 999999}, {"user_id": quality.id}, {"user_id": owner.id}, {"user_id": "x"}, {}):
        err = error_of(post(client, url, token, body), 422, "invalid")
        assert set(err["fields"]) == {"user_id"}
    assert case_snapshot(app, case.id) == before
    assert post(client, url, token, {"user_id": helper.id}).status_code == 201
    after = case_snapshot(app, case.id)
    error_of(post(client, url, token, {"user_id": helper.id}), 422, "invalid")  # already assisting
    # An assistant cannot invite others.
    error_of(post(client, url, make.token(helper), {"user_id": make.user("responder").id}), 403, "forbidden")
    assert case_snapshot(app, case.id) == after


def test_note_refusals(client, make, app):
    case, owner = make.case_in("listen")
    url = f"/api/v1/cases/{case.id}/notes"
    before = case_snapshot(app, case.id)
    for role in ("responder", "frontline", "quality"):
        error_of(post(client, url, make.token(make.user(role)), {"body": "Hello"}), 403, "forbidden")
    err = error_of(post(client, url, make.token(owner), {"body": ""}), 422, "invalid")
    assert set(err["fields"]) == {"body"}
    assert case_snapshot(app, case.id) == before


# --- reading ------------------------------------------------------------------------
def test_reading_a_case_403_when_hidden_404_when_missing(client, make, app):
    case, owner = make.case_in("listen")
    stranger = make.user("frontline")
    st = make.token(stranger)
    error_of(client.get(f"/api/v1/cases/{case.id}", headers=api_headers(st)), 403, "forbidden")
    error_of(client.get(f"/api/v1/cases/{case.id}/events", headers=api_headers(st)), 403, "forbidden")
    error_of(client.get("/api/v1/cases/999999", headers=api_headers(st)), 404, "not_found")
    error_of(client.get("/api/v1/cases/999999/events", headers=api_headers(st)), 404, "not_found")
    # Responders see the unclaimed queue, not other owners' cases.
    other = make.token(make.user("responder"))
    error_of(client.get(f"/api/v1/cases/{case.id}", headers=api_headers(other)), 403, "forbidden")
    fresh = make.case()
    assert client.get(f"/api/v1/cases/{fresh.id}", headers=api_headers(other)).status_code == 200
    for who in (owner, make.user("quality"), make.user("admin")):
        assert client.get(f"/api/v1/cases/{case.id}", headers=api_headers(make.token(who))).status_code == 200

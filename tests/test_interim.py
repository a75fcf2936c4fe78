"""Interim measures (a loaner device, 备用机): recorded by the owner from listen onward, shown on
the case and the customer link, and an open one keeps the case from closing, whoever answers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import api_headers, case_snapshot, csrf_from, good_evidence
from sqlalchemy import select
from test_web_support import follow, get, reading, version_on

from complaints.db import get_db
from complaints.models import Case, Event, InterimMeasure
from complaints.services.history import verify_case
from complaints.workflow import STEPS


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


LOANER = {"description": "借给客户备用机一台(ThinkPad E14)"}


def actions(app, case_id: int) -> list[str]:
    with reading(app) as s:
        return list(s.scalars(select(Event.action).where(Event.case_id == case_id).order_by(Event.seq)))


def data_of(app, case_id: int, action: str) -> list[dict[str, Any]]:
    with reading(app) as s:
        rows = s.scalars(
            select(Event).where(Event.case_id == case_id, Event.action == action).order_by(Event.seq)
        )
        return [json.loads(e.data) for e in rows]


def satisfied(clock) -> dict[str, Any]:
    return good_evidence("verify", clock.now)


# --- when, and by whom ----------------------------------------------------------------------
@pytest.mark.parametrize("state", ["apologise", *STEPS[1:]])
def test_only_from_listen_onward(app, client, make, state):
    case, owner = make.case_in(state)
    api = Api(client, make, owner)
    if state == "apologise":
        before = case_snapshot(app, case.id)
        assert api.post(f"/cases/{case.id}/interim-measures", LOANER, 409)["error"]["code"] == "wrong_state"
        assert case_snapshot(app, case.id) == before
    else:
        item = api.post(f"/cases/{case.id}/interim-measures", LOANER, 201)
        assert item["open"] is True and item["description"] == LOANER["description"]
        assert actions(app, case.id)[-1] == "interim_measure_given"


@pytest.mark.parametrize("who", ["responder", "assistant", "quality", "admin", "frontline"])
def test_only_the_owner_records_and_ends_measures(app, client, make, who):
    case, owner = make.case_in("listen")
    item = Api(client, make, owner).post(f"/cases/{case.id}/interim-measures", LOANER, 201)
    user = make.user("responder" if who == "assistant" else who)
    if who == "assistant":
        Api(client, make, owner).post(f"/cases/{case.id}/assistants", {"user_id": user.id}, 201)
    before = case_snapshot(app, case.id)
    other = Api(client, make, user)
    assert other.post(f"/cases/{case.id}/interim-measures", LOANER, 403)["error"]["code"] == "forbidden"
    end = {"outcome": "withdrawn"}
    assert other.post(f"/cases/{case.id}/interim-measures/{item['id']}/end", end, 403)
    assert case_snapshot(app, case.id) == before


def test_the_owner_records_and_ends_on_the_case_page(app, client, make, auth, clock):
    case, owner = make.case_in("listen")
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    assert 'id="interim"' in page and "Record an interim measure" in page
    r = client.post(
        f"/cases/{case.id}/interim-measures",
        data={"description": "", "given_at": "", "csrf_token": csrf_from(page)},
    )
    assert r.status_code == 422 and "This field is required." in r.text
    future = (clock.now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(
        f"/cases/{case.id}/interim-measures",
        data={"description": "备用机", "given_at": future, "csrf_token": csrf_from(page)},
    )
    assert r.status_code == 422 and "This cannot be in the future." in r.text
    r = client.post(
        f"/cases/{case.id}/interim-measures",
        data={**LOANER, "given_at": "", "csrf_token": csrf_from(page)},
    )
    page = follow(client, r)
    assert "Interim measure recorded" in page and LOANER["description"] in page
    assert "The case cannot close while an interim measure is open" in page
    with reading(app) as s:
        (measure,) = s.scalars(select(InterimMeasure).where(InterimMeasure.case_id == case.id))
    r = client.post(
        f"/cases/{case.id}/interim-measures/{measure.id}/end",
        data={"outcome": "made_permanent", "ended_at": "", "csrf_token": csrf_from(page)},
    )
    page = follow(client, r)
    assert "Interim measure marked permanent." in page and "Made permanent on" in page
    assert actions(app, case.id)[-2:] == ["interim_measure_given", "interim_measure_made_permanent"]

    # Someone else sees the measures but no form.
    auth.logout()
    quality = make.user("quality")
    auth.login(quality)
    page = get(client, f"/cases/{case.id}")
    assert LOANER["description"] in page and "Record an interim measure" not in page


def test_ending_twice_or_before_it_was_given_is_refused(app, client, make, clock):
    case, owner = make.case_in("act")
    api = Api(client, make, owner)
    item = api.post(f"/cases/{case.id}/interim-measures", LOANER, 201)
    url = f"/cases/{case.id}/interim-measures/{item['id']}/end"
    early = (clock.now - timedelta(days=2) + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    assert "ended_at" in api.post(url, {"outcome": "withdrawn", "ended_at": early}, 422)["error"]["fields"]
    assert api.post(url, {"outcome": "returned"}, 422)["error"]["fields"]["outcome"]
    ended = api.post(url, {"outcome": "withdrawn"}, 200)
    assert ended["open"] is False and ended["withdrawn_at"] is not None
    assert api.post(url, {"outcome": "made_permanent"}, 409)["error"]["code"] == "already_ended"
    assert api.post(f"/cases/{case.id}/interim-measures/{item['id'] + 99}/end", {"outcome": "withdrawn"}, 404)
    assert [m["open"] for m in api.get(f"/cases/{case.id}/interim-measures")["items"]] == [False]


# --- closure --------------------------------------------------------------------------------
@pytest.mark.parametrize("ending", ["withdrawn", "made_permanent"])
def test_an_open_measure_blocks_closure_until_it_ends(app, client, make, clock, ending):
    case, owner = make.case_in("listen")
    api = Api(client, make, owner)
    item = api.post(f"/cases/{case.id}/interim-measures", LOANER, 201)
    for step in ("listen", "confirm", "analyse", "agree", "act", "prevent"):
        make.step(case, owner, step)
    url = f"/cases/{case.id}/steps/verify"
    before = case_snapshot(app, case.id)
    for body in (
        satisfied(clock),
        {**satisfied(clock), "satisfaction": "neutral", "score": 3},
        {"via": "customer_link"},  # the question that could only close it
    ):
        err = api.post(url, body, 409)["error"]
        assert err["code"] == "interim_measures_open" and LOANER["description"][:10] in err["message"]
        assert case_snapshot(app, case.id) == before
    clock.advance(days=8)
    no_response = {"satisfaction": "no_response", "comment": "No answer."}
    assert api.post(url, no_response, 409)["error"]["code"] == "interim_measures_open"
    assert case_snapshot(app, case.id) == before

    api.post(f"/cases/{case.id}/interim-measures/{item['id']}/end", {"outcome": ending}, 200)
    assert api.post(url, satisfied(clock), 200)["state"] == "closed"
    assert actions(app, case.id).count(f"interim_measure_{ending}") == 1
    (given,) = data_of(app, case.id, "interim_measure_given")
    (ended,) = data_of(app, case.id, f"interim_measure_{ending}")
    assert given["measure_id"] == ended["measure_id"] == item["id"]
    with app.app_context():
        s = get_db(app).new_session()
        assert verify_case(s, s.get(Case, case.id)) is None  # the chain and the replay hold
        s.close()


def test_a_dissatisfied_customer_still_goes_back_to_analysis(app, client, make, clock):
    case, owner = make.case_in("verify")
    api = Api(client, make, owner)
    api.post(f"/cases/{case.id}/interim-measures", LOANER, 201)
    body = {**satisfied(clock), "satisfaction": "dissatisfied", "score": 1}
    assert api.post(f"/cases/{case.id}/steps/verify", body, 200)["state"] == "analyse"


def test_the_web_form_says_why_the_case_cannot_close(app, client, make, auth, clock):
    case, owner = make.case_in("verify")
    Api(client, make, owner).post(f"/cases/{case.id}/interim-measures", LOANER, 201)
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    before = case_snapshot(app, case.id)
    data = {
        **{k: str(v) for k, v in satisfied(clock).items()},
        "version": str(version_on(page)),
        "csrf_token": csrf_from(page),
    }
    after = follow(client, client.post(f"/cases/{case.id}/steps/verify", data=data))
    assert "The case cannot close while an interim measure is open" in after
    assert case_snapshot(app, case.id) == before


def test_the_customer_sees_open_measures_and_cannot_close_while_one_is_open(app, client, make, clock):
    case, owner = make.case_in("verify", customer_email="chen@example.com")
    api = Api(client, make, owner)
    api.post(f"/cases/{case.id}/steps/verify", {"via": "customer_link"}, 202)  # asked first
    item = api.post(f"/cases/{case.id}/interim-measures", LOANER, 201)  # then a loaner went out
    token = api.post(f"/cases/{case.id}/customer-link", None, 201)["url"].rsplit("/", 1)[-1]
    customer = app.test_client()
    view = customer.get(f"/api/v1/customer/{token}").get_json()
    assert [m["description"] for m in view["interim_measures"]] == [LOANER["description"]]
    assert LOANER["description"] in customer.get(f"/c/{token}").text

    before = case_snapshot(app, case.id)
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"satisfaction": "satisfied", "score": 5})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "interim_measures_open"
    assert case_snapshot(app, case.id) == before

    api.post(f"/cases/{case.id}/interim-measures/{item['id']}/end", {"outcome": "withdrawn"}, 200)
    assert customer.get(f"/api/v1/customer/{token}").get_json()["interim_measures"] == []
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"satisfaction": "satisfied", "score": 5})
    assert r.status_code == 200, r.get_json()
    assert case_snapshot(app, case.id)[0] == "closed"

"""The whole case journey through the JSON API, every loop of SPEC §2, checked against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_headers, good_evidence
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from complaints.db import get_db
from complaints.models import Case
from complaints.services.history import verify_case

DOC_URI = "urn:complaints:openapi"

INTAKE = {
    "customer": {"name": "Chen Jing", "phone": "138 0013 8000", "email": "chen@example.com"},
    "channel": "phone",
    "summary": "Laptop does not start",
    "description": "The new laptop shows no light when the power button is pressed.",
    "product": "ThinkBook 14",
    "serial_number": "PF3ABC12",
    "purchase_date": "2025-11-02",
    "category": "product",
    "severity": "high",
}


class Api:
    """A test client that checks every response against the OpenAPI document it serves."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.doc = client.get("/api/v1/openapi.json").get_json()
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.checked = 0

    def _template(self, method: str, path: str) -> dict[str, Any]:
        """The documented operation for a concrete path (ids replaced by {case_id})."""
        parts = path.split("?")[0].split("/")
        for template, ops in self.doc["paths"].items():
            tparts = template.split("/")
            if len(tparts) == len(parts) and all(
                t == p or (t.startswith("{") and p.isdigit()) for t, p in zip(tparts, parts, strict=True)
            ):
                if method in ops:
                    return ops[method]
        raise AssertionError(f"{method.upper()} {path} is not in the OpenAPI document")

    def check(self, method: str, path: str, response: Any) -> None:
        op = self._template(method, path)
        documented = op["responses"].get(str(response.status_code))
        assert documented is not None, f"{response.status_code} not documented for {method} {path}"
        schema = documented["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = {"$ref": DOC_URI + schema["$ref"]}
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        validator.validate(response.get_json())
        self.checked += 1

    def call(self, method: str, path: str, token: str, body: Any = None, status: int | None = None) -> Any:
        kw: dict[str, Any] = {"headers": api_headers(token)}
        if body is not None:
            kw["json"] = body
        response = self.client.open(path, method=method.upper(), **kw)
        if status is not None:
            assert response.status_code == status, response.get_json()
        self.check(method, path, response)
        return response.get_json()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def test_journey_open_claim_eight_steps_closed_with_every_loop(api: Api, make, clock, app):
    opener = make.user("frontline", name="Wang Fang")
    owner = make.user("responder", name="Li Lei")
    ft, rt = make.token(opener), make.token(owner)

    case = api.call("post", "/api/v1/cases", ft, INTAKE, 201)
    cid = case["id"]
    assert case["state"] == "new" and case["owner"] is None
    assert case["reference"].startswith("C-")
    assert case["customer"]["name"] == "Chen Jing" and case["customer"]["phone"] == "138 0013 8000"
    assert case["opened_by"] == {"id": opener.id, "name": "Wang Fang"}
    assert case["purchase_date"] == "2025-11-02" and case["severity"] == "high"
    assert case["opened_at"].endswith("Z") and case["due_at"].endswith("Z")
    assert case["steps"] == [] and case["version"] == 1

    case = api.call("post", f"/api/v1/cases/{cid}/claim", rt, None, 200)
    assert case["state"] == "apologise" and case["owner"] == {"id": owner.id, "name": "Li Lei"}

    def step(name: str, evidence: dict[str, Any], expect_state: str, status: int = 200) -> dict[str, Any]:
        nonlocal case
        body = {**evidence, "version": case["version"]}
        case = api.call("post", f"/api/v1/cases/{cid}/steps/{name}", rt, body, status)
        assert case["state"] == expect_state, (name, case["state"])
        clock.advance(minutes=30)
        return case

    step("apologise", good_evidence("apologise", clock.now), "listen")
    step("listen", good_evidence("listen", clock.now), "confirm")
    # Loop 1: a corrected restatement goes back to listen.
    corrected = {
        "restatement": "The laptop does not charge.",
        "customer_response": "corrected",
        "correction": "It charges, but does not start.",
        "via": "phone",
    }
    step("confirm", corrected, "listen")
    step("listen", good_evidence("listen", clock.now), "confirm")
    # The question may go to the customer instead: 202, the case waits.
    waiting = step("confirm", {"restatement": "It does not start.", "via": "customer_link"}, "confirm", 202)
    assert waiting["awaiting_customer"] is True
    step("confirm", good_evidence("confirm", clock.now), "analyse")
    assert case["awaiting_customer"] is False
    step("analyse", good_evidence("analyse", clock.now), "agree")
    # Loop 2: a declined remedy stays in agree for a new proposal.
    declined = {
        **good_evidence("agree", clock.now),
        "customer_response": "declined",
        "reason": "Wants a refund.",
    }
    declined["remedy"] = "repair"
    step("agree", declined, "agree")
    step("agree", good_evidence("agree", clock.now), "act")
    step("act", good_evidence("act", clock.now), "prevent")
    step("prevent", good_evidence("prevent", clock.now), "verify")
    # Loop 3: a dissatisfied customer sends it back to analyse, counted as a reopen.
    unhappy = {"satisfaction": "dissatisfied", "score": 2, "comment": "Still broken.", "via": "visit"}
    step("verify", unhappy, "analyse")
    assert case["reopen_count"] == 1
    step(
        "analyse",
        {"root_cause_category": "product", "root_cause": "Faulty board", "escape_point": "QA"},
        "agree",
    )
    step("agree", good_evidence("agree", clock.now), "act")
    step("act", good_evidence("act", clock.now), "prevent")
    step("prevent", {"department": "none", "none_reason": "A one-off transport damage."}, "verify")
    step("verify", good_evidence("verify", clock.now), "closed")
    assert case["closed_at"] is not None and case["due_at"] is None

    final = api.call("get", f"/api/v1/cases/{cid}", ft, None, 200)
    assert final == case
    done = [(s["step"], s["outcome"]) for s in final["steps"]]
    assert done == [
        ("apologise", "listen"),
        ("listen", "confirm"),
        ("confirm", "listen"),
        ("listen", "confirm"),
        ("confirm", "analyse"),
        ("analyse", "agree"),
        ("agree", "agree"),
        ("agree", "act"),
        ("act", "prevent"),
        ("prevent", "verify"),
        ("verify", "analyse"),
        ("analyse", "agree"),
        ("agree", "act"),
        ("act", "prevent"),
        ("prevent", "verify"),
        ("verify", "closed"),
    ]
    confirm = final["steps"][2]
    assert confirm["staff_recorded"] is True and confirm["evidence"]["correction"].startswith("It charges")
    assert confirm["recorded_by"] == {"id": owner.id, "name": "Li Lei"}
    assert all(s["staff_recorded"] is (s["step"] in ("confirm", "agree", "verify")) for s in final["steps"])
    act = final["steps"][8]["evidence"]["actions"][0]
    assert act["done_at"].endswith("Z")

    # The history, page by page, is the hash chain of everything above.
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit=4&cursor={cursor}" if cursor else "?limit=4"
        page = api.call("get", f"/api/v1/cases/{cid}/events{query}", ft, None, 200)
        events += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["action"] == "case_opened" and events[0]["actor"]["name"] == "Wang Fang"
    assert events[1]["action"] == "case_claimed" and events[1]["data"]["owner_id"] == owner.id
    assert [e["action"] for e in events].count("step_completed") == 16
    assert [e["action"] for e in events].count("sent_to_customer") == 1
    assert all(
        later["prev_hash"] == earlier["hash"] for earlier, later in zip(events, events[1:], strict=False)
    )
    with app.app_context():
        s = get_db(app).new_session()
        assert verify_case(s, s.get(Case, cid)) is None
        s.close()
    assert api.checked > 20


def test_helpers_and_notes_on_the_way(api: Api, make):
    owner, helper = make.user("responder"), make.user("frontline", name="Zhao Min")
    case, _ = make.case_in("listen", owner=owner)
    ot, ht = make.token(owner), make.token(helper)

    invited = api.call("post", f"/api/v1/cases/{case.id}/assistants", ot, {"user_id": helper.id}, 201)
    assert invited["user"] == {"id": helper.id, "name": "Zhao Min"}
    assert invited["invited_by"]["id"] == owner.id
    note = api.call("post", f"/api/v1/cases/{case.id}/notes", ht, {"body": "Called the depot."}, 201)
    assert note["author"]["id"] == helper.id and note["body"] == "Called the depot."
    seen = api.call("get", f"/api/v1/cases/{case.id}", ht, None, 200)
    assert seen["assistants"] == [{"id": helper.id, "name": "Zhao Min"}]
    assert seen["owner"]["id"] == owner.id  # helping never makes an owner
    events = api.call("get", f"/api/v1/cases/{case.id}/events", ht, None, 200)["items"]
    assert [e["action"] for e in events][-2:] == ["assistant_invited", "note_added"]


def test_withdraw_by_owner_and_by_opener_before_claim(api: Api, make):
    opener = make.user("frontline")
    fresh = make.case(opener)
    out = api.call(
        "post", f"/api/v1/cases/{fresh.id}/withdraw", make.token(opener), {"reason": "Duplicate."}, 200
    )
    assert out["state"] == "withdrawn" and out["withdrawn_reason"] == "Duplicate." and out["closed_at"]

    case, owner = make.case_in("analyse")
    out = api.call(
        "post", f"/api/v1/cases/{case.id}/withdraw", make.token(owner), {"reason": "Customer left."}, 200
    )
    assert out["state"] == "withdrawn"


def test_verify_closes_without_response_only_after_the_follow_up_window(api: Api, make, clock):
    case, owner = make.case_in("verify")
    token = make.token(owner)
    url = f"/api/v1/cases/{case.id}/steps/verify"
    silent = {"satisfaction": "no_response", "comment": "Three calls, no answer."}
    refused = api.call("post", url, token, silent, 409)
    assert refused["error"]["code"] == "wrong_state"
    clock.advance(days=8)
    closed = api.call("post", url, token, silent, 200)
    assert closed["state"] == "closed"
    assert closed["steps"][-1]["staff_recorded"] is False

"""The customer link's JSON twin and the owner's POST /cases/{id}/customer-link: the same rules
as the pages, and answers in the shapes SPEC §3 and the OpenAPI document give."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_headers, case_snapshot, good_evidence
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from complaints.db import get_db
from complaints.evidence import CUSTOMER_ANSWER_FIELDS
from complaints.models import Case, CustomerLink, Event, OutboxMessage, StepRecord

URI = "urn:complaints:openapi"
EMAIL = "chen@example.com"


def validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    registry = Registry().with_resource(URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry)


@pytest.fixture
def doc(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").get_json()


def load(app, case_id: int) -> Case:
    with app.app_context():
        s = get_db(app).new_session()
        case = s.get(Case, case_id)
        s.expunge(case)
        s.close()
        return case


def count(app, model: Any, case_id: int) -> int:
    with app.app_context():
        s = get_db(app).new_session()
        n = len(list(s.scalars(select(model).where(model.case_id == case_id))))
        s.close()
        return n


class Owner:
    """The owner driving a case through the API with a bearer token."""

    def __init__(self, client, make, case, user) -> None:
        self.client, self.make, self.case, self.user = client, make, case, user
        self.headers = api_headers(make.token(user))

    def step(self, step: str, body: dict[str, Any] | None = None, status: int = 200) -> dict[str, Any]:
        body = body if body is not None else good_evidence(step, self.make.clock.now)
        r = self.client.post(f"/api/v1/cases/{self.case.id}/steps/{step}", json=body, headers=self.headers)
        assert r.status_code == status, r.get_json()
        return r.get_json()

    def ask(self, step: str, **extra: Any) -> dict[str, Any]:
        body = good_evidence(step, self.make.clock.now)
        for name in CUSTOMER_ANSWER_FIELDS[step].values():
            body.pop(name, None)
        return self.step(step, {**body, "via": "customer_link", **extra}, 202)

    def emailed_token(self) -> str:
        """The token in the last email to the customer (each question brings a fresh link)."""
        with self.make.app.app_context():
            s = get_db(self.make.app).new_session()
            mail = s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.case_id == self.case.id)
                .order_by(OutboxMessage.id.desc())
            ).first()
            s.close()
        assert mail is not None
        return mail.body_text.split("/c/", 1)[1].split()[0]

    def link(self) -> str:
        r = self.client.post(f"/api/v1/cases/{self.case.id}/customer-link", headers=self.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["url"].rsplit("/", 1)[-1]


@pytest.fixture
def customer(app):
    return app.test_client()


def test_the_json_twin_journey(app, client, customer, make, doc):
    case, user = make.case_in("confirm", customer_email=EMAIL)
    owner = Owner(client, make, case, user)
    view_schema, answer_schema = validator(doc, "CustomerView"), validator(doc, "CustomerAnswer")

    def view(token: str) -> dict[str, Any]:
        r = customer.get(f"/api/v1/customer/{token}")
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        view_schema.validate(body)
        return body

    def answer(token: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        answer_schema.validate(body)
        r = customer.post(f"/api/v1/customer/{token}/answer", json=body)
        assert r.status_code == status, r.get_json()
        if status == 200:
            view_schema.validate(r.get_json())
        return r.get_json()

    # Nothing asked yet: the link shows progress, awaiting null, and refuses answers with 409.
    token = owner.link()
    body = view(token)
    assert body["reference"] == case.reference and body["awaiting"] is None
    assert body["progress"]["stage"] == "listening"
    assert body["owner"] == user.name
    before = case_snapshot(app, case.id)
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "confirmed"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_awaited"
    assert case_snapshot(app, case.id) == before

    # confirm: corrected -> listen (the question comes by email, with a fresh link)
    owner.ask("confirm")
    old, token = token, owner.emailed_token()
    assert customer.get(f"/api/v1/customer/{old}").status_code == 404
    body = view(token)
    assert (body["awaiting"], body["restatement"], body["remedy"]) == (
        "confirm",
        "电脑无法开机,您希望换新机。",
        None,
    )
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "corrected"})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"correction"}
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "confirmed", "via": "phone"})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"via"}
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "accepted"})
    assert r.status_code == 409  # an answer to a question not asked
    r = customer.post(f"/api/v1/customer/{token}/answer", data="confirmed", content_type="text/plain")
    assert r.status_code == 415
    body = answer(token, {"response": "corrected", "correction": "是换新机"})
    assert (body["awaiting"], body["progress"]["stage"]) == (None, "listening")
    assert load(app, case.id).state == "listen"

    # confirmed -> analyse
    owner.step("listen")
    owner.ask("confirm")
    token = owner.emailed_token()
    answer(token, {"response": "confirmed", "correction": None})
    assert load(app, case.id).state == "analyse"

    # agree: declined -> a new proposal; accepted -> act
    owner.step("analyse")
    owner.ask("agree", remedy="repair", remedy_detail="上门维修")
    token = owner.emailed_token()
    body = view(token)
    assert body["awaiting"] == "agree" and body["restatement"] is None
    assert body["remedy"]["remedy"] == "repair" and body["remedy"]["detail"] == "上门维修"
    assert body["remedy"]["label"] == "Repair" and body["remedy"]["due_date"]
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "declined", "reason": ""})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"reason"}
    answer(token, {"response": "declined", "reason": "想换新机"})
    assert (load(app, case.id).state, load(app, case.id).awaiting_customer) == ("agree", False)
    owner.ask("agree")
    token = owner.emailed_token()
    answer(token, {"response": "accepted"})
    assert load(app, case.id).state == "act"

    # verify: dissatisfied -> analyse (a reopen); then satisfied -> closed, and the link ends
    owner.step("act")
    owner.step("prevent")
    owner.ask("verify")
    token = owner.emailed_token()
    assert view(token)["awaiting"] == "verify"
    for bad, fields in (
        ({"satisfaction": "satisfied"}, {"score"}),
        ({"satisfaction": "satisfied", "score": 0}, {"score"}),
        ({"satisfaction": "satisfied", "score": "five"}, {"score"}),
        ({"satisfaction": "no_response"}, {"satisfaction"}),
        ({"satisfaction": "happy", "score": 5}, {"satisfaction"}),
        ({"satisfaction": "satisfied", "score": 5, "owner_id": 1}, {"owner_id"}),
    ):
        r = customer.post(f"/api/v1/customer/{token}/answer", json=bad)
        assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == fields, (bad, r.get_json())
    answer(token, {"satisfaction": "dissatisfied", "score": 2, "comment": "太慢"})
    case_now = load(app, case.id)
    assert (case_now.state, case_now.reopen_count) == ("analyse", 1)
    for step in ("analyse", "agree", "act", "prevent"):
        owner.step(step)
    owner.ask("verify")
    token = owner.emailed_token()
    body = answer(token, {"satisfaction": "satisfied", "score": 5, "comment": "谢谢"})
    assert (body["progress"]["stage"], body["awaiting"]) == ("done", None)
    assert load(app, case.id).state == "closed"
    assert customer.get(f"/api/v1/customer/{token}").status_code == 404

    # the record: every answer the customer's own, visible as such in the staff API
    detail = client.get(f"/api/v1/cases/{case.id}", headers=owner.headers).get_json()
    by_link = [s for s in detail["steps"] if s["evidence"].get("via") == "customer_link"]
    assert len(by_link) == 6 and not any(s["staff_recorded"] or s["recorded_by"] for s in by_link)
    history = client.get(f"/api/v1/cases/{case.id}/events?limit=200", headers=owner.headers).get_json()[
        "items"
    ]
    answered = [e for e in history if e["action"] == "step_completed" and e["actor"]["kind"] == "customer"]
    assert len(answered) == 6 and all(e["data"]["via"] == "customer_link" for e in answered)
    assert all(e["actor"]["id"] is None for e in history if e["actor"]["kind"] == "customer")


def test_sending_the_question_by_api_emails_a_fresh_link(app, client, customer, make):
    case, user = make.case_in("agree", customer_email=EMAIL)
    owner = Owner(client, make, case, user)
    first = owner.link()
    assert count(app, OutboxMessage, case.id) == 1  # the link itself was emailed
    owner.ask("agree")
    with app.app_context():
        s = get_db(app).new_session()
        mails = list(
            s.scalars(
                select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id)
            )
        )
        s.close()
    assert [m.kind for m in mails] == ["customer_link", "remedy_offer"]
    assert all(m.to_address == EMAIL and m.status == "pending" for m in mails)
    token = mails[-1].body_text.split("/c/", 1)[1].split()[0]
    assert token != first and "replaces any link" in mails[-1].body_text
    assert customer.get(f"/api/v1/customer/{first}").status_code == 404
    assert customer.get(f"/api/v1/customer/{token}").get_json()["awaiting"] == "agree"


def test_creating_a_link(app, client, make, clock):
    case, user = make.case_in("listen")  # no email: nothing to send
    headers = api_headers(make.token(user))
    r = client.post(f"/api/v1/cases/{case.id}/customer-link", headers=headers)
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"url", "expires_at", "emailed"} and body["emailed"] is False
    assert body["url"].startswith("http://localhost/c/")
    assert body["expires_at"].startswith((clock.now.replace(microsecond=0)).isoformat()[:4])
    assert count(app, OutboxMessage, case.id) == 0
    with app.app_context():
        s = get_db(app).new_session()
        (link,) = s.scalars(select(CustomerLink).where(CustomerLink.case_id == case.id))
        event = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq.desc())).first()
        s.close()
    assert (link.expires_at - link.created_at).days == 30
    assert event.action == "customer_link_created" and body["url"].rsplit("/", 1)[1] not in event.data


def test_only_the_owner_of_an_open_case_creates_a_link(app, client, make):
    case, user = make.case_in("listen")
    others = [make.user("responder"), make.user("quality"), make.user("admin"), make.user("frontline")]
    for other in others:
        r = client.post(f"/api/v1/cases/{case.id}/customer-link", headers=api_headers(make.token(other)))
        assert r.status_code == 403, other.roles
    r = client.post(f"/api/v1/cases/{case.id}/customer-link")
    assert r.status_code == 401
    r = client.post("/api/v1/cases/999999/customer-link", headers=api_headers(make.token(user)))
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/cases/{case.id}/customer-link", json={"case_id": 2}, headers=api_headers(make.token(user))
    )
    assert r.status_code == 422
    assert count(app, CustomerLink, case.id) == 0
    with app.app_context(), get_db(app).transaction() as s:
        from complaints.services import cases as case_ops

        case_ops.withdraw_case(s, s.get(Case, case.id), s.get(type(user), user.id), "撤诉", make.clock.now)
    r = client.post(f"/api/v1/cases/{case.id}/customer-link", headers=api_headers(make.token(user)))
    assert r.status_code == 409
    assert count(app, CustomerLink, case.id) == 0


def test_a_staff_token_cannot_answer_for_the_customer(app, client, make):
    case, user = make.case_in("confirm")
    owner = Owner(client, make, case, user)
    owner.ask("confirm")
    token = owner.link()
    before = case_snapshot(app, case.id)
    r = client.post(f"/api/v1/customer/{token}/answer", json={"response": "confirmed"}, headers=owner.headers)
    assert r.status_code == 403
    assert case_snapshot(app, case.id) == before
    assert count(app, StepRecord, case.id) == 2  # apologise and listen only


def test_the_document_describes_the_customer_endpoints(doc):
    paths = doc["paths"]
    get = paths["/api/v1/customer/{token}"]["get"]
    post = paths["/api/v1/customer/{token}/answer"]["post"]
    assert get["security"] == [] and post["security"] == []
    assert {"200", "404", "429"} <= set(get["responses"])
    assert {"200", "404", "409", "422", "429"} <= set(post["responses"])
    assert {"201", "403", "404", "409"} <= set(
        paths["/api/v1/cases/{case_id}/customer-link"]["post"]["responses"]
    )
    answer = validator(doc, "CustomerAnswer")
    for body in (
        {"response": "confirmed"},
        {"response": "corrected", "correction": "x"},
        {"response": "accepted"},
        {"response": "declined", "reason": "x"},
        {"satisfaction": "neutral", "score": 3, "comment": None},
    ):
        answer.validate(body)
    for body in (
        {"response": "corrected"},
        {"response": "declined"},
        {"satisfaction": "no_response"},
        {"satisfaction": "satisfied", "score": 6},
        {"response": "confirmed", "via": "customer_link"},
    ):
        assert not answer.is_valid(body), body

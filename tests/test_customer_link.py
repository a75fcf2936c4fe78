"""The customer link pages: the customer answers on them (real form posts with CSRF), and
nothing else gets through: wrong, foreign, expired, replaced or ended links, staff, floods."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest
from conftest import TZ, api_headers, case_snapshot, csrf_from, good_evidence
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from complaints.db import get_db
from complaints.evidence import CUSTOMER_ANSWER_FIELDS, Context, customer_choices, validate_step
from complaints.models import (
    Case,
    CustomerLink,
    Event,
    InterimMeasure,
    OutboxMessage,
    ProgressUpdate,
    StepRecord,
)
from complaints.services import cases as case_ops
from complaints.services.history import verify_case
from complaints.web.customer import ANSWER_FORMS
from complaints.workflow import STATE_LABELS

LINK_RE = re.compile(r"https?://[^\s\"<]+/c/([A-Za-z0-9_-]+)")
EMAIL = "chen@example.com"


# --- helpers -------------------------------------------------------------------------------
def load(app: Flask, case_id: int) -> Case:
    with app.app_context():
        s = get_db(app).new_session()
        case = s.get(Case, case_id)
        assert case is not None
        s.expunge(case)
        s.close()
        return case


def rows(app: Flask, model: Any, **where: Any) -> list[Any]:
    with app.app_context():
        s = get_db(app).new_session()
        out = list(s.scalars(select(model).filter_by(**where).order_by(model.id)))
        for r in out:
            s.expunge(r)
        s.close()
        return out


def events(app: Flask, case_id: int) -> list[Event]:
    with app.app_context():
        s = get_db(app).new_session()
        out = list(s.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))
        s.close()
        return out


def question_evidence(step: str, now: Any, **extra: Any) -> dict[str, Any]:
    """The step's evidence without the customer's answer, sent on the customer link."""
    ev = good_evidence(step, now)
    for name in CUSTOMER_ANSWER_FIELDS[step].values():
        ev.pop(name, None)
    return {**ev, "via": "customer_link", **extra}


def staff_post_step(client: FlaskClient, case_id: int, step: str, data: dict[str, Any]):
    """The owner fills in the step form on the case page and posts it (CSRF and version included)."""
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version, "no step form on the case page"
    form = {"csrf_token": csrf_from(page.text), "version": version.group(1)}
    for key, value in data.items():
        if key == "actions":
            for i, action in enumerate(value):
                form[f"actions-{i}-description"] = action["description"]
                form[f"actions-{i}-done_at"] = action["done_at"]
        else:
            form[key] = str(value)
    return client.post(f"/cases/{case_id}/steps/{step}", data=form)


def send_question(client: FlaskClient, case_id: int, step: str, now: Any, **extra: Any) -> None:
    r = staff_post_step(client, case_id, step, question_evidence(step, now, **extra))
    assert r.status_code == 302, r.text


def last_email(app: Flask, case_id: int) -> OutboxMessage:
    mails = rows(app, OutboxMessage, case_id=case_id)
    assert mails, "no email in the outbox"
    return mails[-1]


def token_in(body: str) -> str:
    m = LINK_RE.search(body)
    assert m, body
    return m.group(1)


def customer_answer(customer: FlaskClient, token: str, question: str, answer: dict[str, Any]):
    """The customer opens their page and posts its form, as a browser would."""
    page = customer.get(f"/c/{token}")
    assert page.status_code == 200, page.text
    assert f'name="question" value="{question}"' in page.text
    data = {"csrf_token": csrf_from(page.text), "question": question}
    data.update({k: str(v) for k, v in answer.items()})
    return customer.post(f"/c/{token}", data=data)


def new_link(client: FlaskClient, make: Any, case: Case, owner: Any) -> str:
    r = client.post(f"/api/v1/cases/{case.id}/customer-link", headers=api_headers(make.token(owner)))
    assert r.status_code == 201, r.get_json()
    return r.get_json()["url"].rsplit("/", 1)[-1]


def awaiting_case(make: Any, step: str, **fields: Any) -> tuple[Case, Any]:
    """A case at `step` whose question was sent to the customer (through the service)."""
    case, owner = make.case_in(step, **fields)
    assert make.step(case, owner, step, question_evidence(step, make.clock.now)) == "awaiting"
    return case, owner


@pytest.fixture
def customer(app: Flask) -> FlaskClient:
    """The customer's own browser: no staff session."""
    return app.test_client()


# --- the journey ---------------------------------------------------------------------------
def test_the_customer_answers_every_question_on_the_link_pages(app, client, customer, auth, make, clock):
    case, owner = make.case_in("confirm", customer_email=EMAIL)
    auth.login(owner)

    # confirm -> the customer corrects: back to listen
    send_question(client, case.id, "confirm", clock.now)
    mail = last_email(app, case.id)
    assert (mail.kind, mail.to_address) == ("customer_link", EMAIL)
    token = token_in(mail.body_text)
    assert load(app, case.id).awaiting_customer
    page = customer.get(f"/c/{token}")
    assert "电脑无法开机,您希望换新机。" in page.text  # the restatement to check
    r = customer_answer(
        customer, token, "confirm", {"response": "corrected", "correction": "是换新机,不是维修。"}
    )
    assert r.status_code == 302
    now = load(app, case.id)
    assert (now.state, now.awaiting_customer, now.pending_step) == ("listen", False, None)
    assert "Thank you. We have your answer." in customer.get(r.headers["Location"]).text
    record = rows(app, StepRecord, case_id=case.id)[-1]
    assert (record.step, record.outcome, record.staff_recorded, record.recorded_by_id) == (
        "confirm",
        "listen",
        False,
        None,
    )
    assert record.evidence["via"] == "customer_link"
    assert record.evidence["correction"] == "是换新机,不是维修。"
    done = events(app, case.id)[-1]
    assert (done.action, done.actor_kind, done.actor_id) == ("step_completed", "customer", None)
    assert '"via":"customer_link"' in done.data and '"staff_recorded":false' in done.data

    # listen again, confirm -> confirmed (a fresh email brings a fresh link; the old one is gone)
    make.step(case, owner, "listen")
    send_question(client, case.id, "confirm", clock.now)
    old, token = token, token_in(last_email(app, case.id).body_text)
    assert customer.get(f"/c/{old}").status_code == 404
    assert customer_answer(customer, token, "confirm", {"response": "confirmed"}).status_code == 302
    assert load(app, case.id).state == "analyse"

    # agree -> declined: a new proposal is needed; then accepted
    make.step(case, owner, "analyse")
    send_question(client, case.id, "agree", clock.now, remedy_detail="上门维修主板")
    mail = last_email(app, case.id)
    assert mail.kind == "remedy_offer"
    token = token_in(mail.body_text)
    page = customer.get(f"/c/{token}")
    assert "上门维修主板" in page.text and "Repair" in page.text  # the remedy and its detail
    r = customer_answer(customer, token, "agree", {"response": "declined", "reason": "我要换新机"})
    assert r.status_code == 302
    now = load(app, case.id)
    assert (now.state, now.awaiting_customer) == ("agree", False)
    assert rows(app, StepRecord, case_id=case.id)[-1].evidence["reason"] == "我要换新机"
    assert 'name="question"' not in customer.get(f"/c/{token}").text  # nothing awaits now
    send_question(client, case.id, "agree", clock.now, remedy_detail="更换新机")
    token = token_in(last_email(app, case.id).body_text)
    assert customer_answer(customer, token, "agree", {"response": "accepted"}).status_code == 302
    assert load(app, case.id).state == "act"

    # verify -> dissatisfied: back to analyse, a reopen counted
    make.step(case, owner, "act")
    make.step(case, owner, "prevent")
    send_question(client, case.id, "verify", clock.now)
    mail = last_email(app, case.id)
    assert mail.kind == "satisfaction_question"
    token = token_in(mail.body_text)
    r = customer_answer(
        customer, token, "verify", {"satisfaction": "dissatisfied", "score": 2, "comment": "还是慢"}
    )
    assert r.status_code == 302
    now = load(app, case.id)
    assert (now.state, now.reopen_count, now.satisfaction, now.must_audit) == (
        "analyse",
        1,
        "dissatisfied",
        True,
    )

    # round again, then satisfied: closed, a thank-you page, and the link stops working
    for step in ("analyse", "agree", "act", "prevent"):
        make.step(case, owner, step)
    send_question(client, case.id, "verify", clock.now)
    token = token_in(last_email(app, case.id).body_text)
    r = customer_answer(
        customer, token, "verify", {"satisfaction": "satisfied", "score": "5", "comment": "谢谢"}
    )
    assert r.status_code == 200 and "Thank you" in r.text and case.reference in r.text
    now = load(app, case.id)
    assert (now.state, now.satisfaction, now.satisfaction_score) == ("closed", "satisfied", 5)
    assert customer.get(f"/c/{token}").status_code == 404

    # every customer answer is the customer's own, and the history replays
    answers = [r for r in rows(app, StepRecord, case_id=case.id) if r.evidence.get("via") == "customer_link"]
    assert len(answers) == 6 and not any(r.staff_recorded for r in answers)
    with app.app_context():
        s = get_db(app).new_session()
        assert verify_case(s, s.get(Case, case.id)) is None
        s.close()
    # the staff page says who answered
    assert "Answered by the customer on their link" in client.get(f"/cases/{case.id}").text


def test_the_answer_forms_offer_exactly_the_customer_choices_of_evidence_py():
    for step, form_class in ANSWER_FORMS.items():
        for name in CUSTOMER_ANSWER_FIELDS[step]:
            field = getattr(form_class, name)
            choices = field.kwargs.get("choices")
            if name == "score":
                assert [c.value for c in choices] == ["1", "2", "3", "4", "5"]
            elif choices is not None:
                assert [c.value for c in choices] == list(customer_choices(step, name))
    assert "no_response" not in customer_choices("verify", "satisfaction")


def test_invalid_answers_show_field_errors_and_change_nothing(app, customer, make):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    before = case_snapshot(app, case.id)
    r = customer_answer(customer, token, "confirm", {"response": "corrected", "correction": "  "})
    assert r.status_code == 422
    assert "Please tell us what we should correct." in r.text
    assert 'aria-invalid="true"' in r.text
    r = customer_answer(customer, token, "confirm", {})
    assert r.status_code == 422 and "Please choose an answer." in r.text
    r = customer_answer(customer, token, "confirm", {"response": "maybe"})
    assert r.status_code == 422 and "Choose one of the listed values." in r.text
    assert case_snapshot(app, case.id) == before

    case2, owner2 = awaiting_case(make, "verify")
    token2 = new_link(app.test_client(), make, case2, owner2)
    before2 = case_snapshot(app, case2.id)
    r = customer_answer(customer, token2, "verify", {"satisfaction": "satisfied"})
    assert r.status_code == 422 and "Please choose a score from 1 to 5." in r.text
    r = customer_answer(customer, token2, "verify", {"satisfaction": "no_response"})
    assert r.status_code == 422
    r = customer_answer(customer, token2, "verify", {"satisfaction": "satisfied", "score": "9"})
    assert r.status_code == 422 and "between 1 and 5" in r.text
    assert case_snapshot(app, case2.id) == before2


def test_the_form_needs_csrf_and_refuses_foreign_fields(app, customer, make):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    before = case_snapshot(app, case.id)
    customer.get(f"/c/{token}")
    r = customer.post(f"/c/{token}", data={"question": "confirm", "response": "confirmed"})
    assert r.status_code == 400 and case.reference not in r.text
    page = customer.get(f"/c/{token}")
    r = customer.post(
        f"/c/{token}",
        data={
            "csrf_token": csrf_from(page.text),
            "question": "confirm",
            "response": "confirmed",
            "via": "phone",
        },
    )
    assert r.status_code == 400
    r = customer.post(
        f"/c/{token}",
        data={
            "csrf_token": csrf_from(page.text),
            "question": "confirm",
            "response": "confirmed",
            "restatement": "x",
        },
    )
    assert r.status_code == 400
    assert case_snapshot(app, case.id) == before


def test_an_answer_to_a_question_no_longer_asked_is_refused(app, customer, make):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    page = customer.get(f"/c/{token}")
    csrf = csrf_from(page.text)
    # Meanwhile the owner records the customer's answer given by phone.
    make.step(case, owner, "confirm")
    before = case_snapshot(app, case.id)
    r = customer.post(
        f"/c/{token}",
        data={"csrf_token": csrf, "question": "confirm", "response": "corrected", "correction": "x"},
    )
    assert r.status_code == 409
    assert "already been answered" in r.text
    assert case_snapshot(app, case.id) == before


# --- token security ------------------------------------------------------------------------
def _refused_everywhere(
    app: Flask, client: FlaskClient, token: str, case: Case, answer: dict[str, Any]
) -> None:
    """Page, form post and JSON twin: 404 with nothing of the case, and nothing changed."""
    before = case_snapshot(app, case.id)
    counts = (len(rows(app, StepRecord, case_id=case.id)), len(rows(app, OutboxMessage, case_id=case.id)))
    page = client.get(f"/c/{token}")
    assert page.status_code == 404
    assert "This link does not work" in page.text
    for secret in (case.reference, "电脑无法开机", "陈先生"):
        assert secret not in page.text
    home = client.get("/login")
    r = client.post(f"/c/{token}", data={"csrf_token": csrf_from(home.text), "question": "confirm", **answer})
    assert r.status_code == 404 and case.reference not in r.text
    r = client.get(f"/api/v1/customer/{token}")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert case.reference not in r.text
    r = client.post(f"/api/v1/customer/{token}/answer", json=answer)
    assert r.status_code == 404 and case.reference not in r.text
    assert case_snapshot(app, case.id) == before
    assert (
        len(rows(app, StepRecord, case_id=case.id)),
        len(rows(app, OutboxMessage, case_id=case.id)),
    ) == counts


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), "x", "not-a-token!", "A" * 43, secrets.token_urlsafe(32) + "%00", "a" * 300],
)
def test_a_wrong_token_finds_nothing(app, customer, make, token):
    case, owner = awaiting_case(make, "confirm")
    new_link(app.test_client(), make, case, owner)
    _refused_everywhere(app, customer, token, case, {"response": "confirmed"})


def test_a_token_shows_and_changes_only_its_own_case(app, customer, make):
    case_a, owner_a = awaiting_case(make, "confirm", summary="A 案")
    case_b, owner_b = awaiting_case(make, "confirm", summary="B 案")
    token_a = new_link(app.test_client(), make, case_a, owner_a)
    new_link(app.test_client(), make, case_b, owner_b)
    before_b = case_snapshot(app, case_b.id)
    page = customer.get(f"/c/{token_a}")
    assert case_a.reference in page.text and case_b.reference not in page.text
    assert customer_answer(customer, token_a, "confirm", {"response": "confirmed"}).status_code == 302
    assert load(app, case_a.id).state == "analyse"
    assert case_snapshot(app, case_b.id) == before_b
    # A link row belongs to one case: pointing it at another is not something any path does.
    (link_a,) = [link for link in rows(app, CustomerLink, case_id=case_a.id)]
    assert link_a.case_id == case_a.id


def test_an_expired_token_is_refused(app, customer, make, clock):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    clock.advance(days=29, hours=23)
    assert customer.get(f"/c/{token}").status_code == 200
    clock.advance(hours=1, seconds=1)
    _refused_everywhere(app, customer, token, case, {"response": "confirmed"})


def test_the_validity_is_configurable(app, customer, make, clock):
    app.config["CUSTOMER_LINK_DAYS"] = 2
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    clock.advance(days=2, seconds=1)
    assert customer.get(f"/c/{token}").status_code == 404


def test_a_replaced_token_is_refused(app, customer, make):
    case, owner = awaiting_case(make, "confirm")
    old = new_link(app.test_client(), make, case, owner)
    new = new_link(app.test_client(), make, case, owner)
    assert old != new
    _refused_everywhere(app, customer, old, case, {"response": "confirmed"})
    assert customer.get(f"/c/{new}").status_code == 200
    links = rows(app, CustomerLink, case_id=case.id)
    assert [link.revoked_at is not None for link in links] == [True, False]


@pytest.mark.parametrize("end", ["closed", "withdrawn"])
def test_a_token_of_an_ended_case_is_refused(app, customer, make, end):
    case, owner = awaiting_case(make, "verify")
    token = new_link(app.test_client(), make, case, owner)
    with app.app_context(), get_db(app).transaction() as s:
        c = s.get(Case, case.id)
        user = s.get(type(owner), owner.id)
        if end == "closed":
            ctx = Context(now=make.clock.now, tz=TZ)
            case_ops.complete_step(
                s,
                c,
                "verify",
                user,
                validate_step("verify", good_evidence("verify", make.clock.now), ctx),
                make.clock.now,
            )
        else:
            case_ops.withdraw_case(s, c, user, "客户撤诉", make.clock.now)
    assert load(app, case.id).state == end
    _refused_everywhere(app, customer, token, case, {"satisfaction": "satisfied", "score": 5})


def test_the_database_never_holds_the_token(app, client, customer, auth, make, clock):
    case, owner = make.case_in("confirm", customer_email=EMAIL)
    auth.login(owner)
    send_question(client, case.id, "confirm", clock.now)
    token = token_in(last_email(app, case.id).body_text)
    token2 = new_link(app.test_client(), make, case, owner)
    assert customer_answer(customer, token2, "confirm", {"response": "confirmed"}).status_code == 302
    with app.app_context():
        engine = get_db(app).engine
        with engine.connect() as conn:
            for table in ("customer_links", "events", "step_records", "cases"):
                for row in conn.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - fixed names
                    flat = " ".join(str(v) for v in row)
                    assert token not in flat and token2 not in flat, table
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    links = rows(app, CustomerLink, case_id=case.id)
    assert all(len(link.token_hash) == 64 for link in links)
    created = [e for e in events(app, case.id) if e.action == "customer_link_created"]
    assert len(created) == 2 and all(e.actor_kind == "staff" and e.actor_id == owner.id for e in created)


def test_nothing_internal_reaches_the_customer(app, customer, make):
    opener = make.user("frontline", name="Opener Quillfeather")
    helper = make.user("responder", name="Assistant Zebulon-7731")
    owner = make.user("responder", name="Li Wei")
    other, _other_owner = make.case_in("listen", summary="Other case summary")
    case = make.case(opener, customer_email=EMAIL, description="内部描述 DESC-MARK-42")
    make.claim(case, owner)
    for step in ("apologise", "listen"):
        make.step(case, owner, step)
    assert make.step(case, owner, "confirm", question_evidence("confirm", make.clock.now)) == "awaiting"
    with app.app_context(), get_db(app).transaction() as s:
        c = s.get(Case, case.id)
        me = s.get(type(owner), owner.id)
        case_ops.invite_assistant(s, c, me, s.get(type(owner), helper.id), make.clock.now)
        case_ops.add_note(s, c, me, "NOTE-MARK-9c1f 客户很难缠", make.clock.now)
        s.add(
            ProgressUpdate(
                case_id=case.id, author_id=owner.id, body="我们正在检测主板。", created_at=make.clock.now
            )
        )
        s.add(
            InterimMeasure(
                case_id=case.id, description="提供备用机一台", given_at=make.clock.now, created_by_id=owner.id
            )
        )
    token = new_link(app.test_client(), make, case, owner)
    page = customer.get(f"/c/{token}").text
    data = json.dumps(customer.get(f"/api/v1/customer/{token}").get_json(), ensure_ascii=False)
    for shown in (page, data):
        assert case.reference in shown
        assert "Li Wei" in shown  # the owner's display name
        assert "我们正在检测主板。" in shown and "提供备用机一台" in shown
        for secret in (
            "NOTE-MARK-9c1f",
            "Assistant Zebulon-7731",
            "Opener Quillfeather",
            "DESC-MARK-42",
            other.reference,
            "Other case summary",
            owner.email,
            "angry",  # the temperament recorded at listen
            "开机键无反应",  # the account given at listen
        ):
            assert secret not in shown, secret
    for label in STATE_LABELS.values():
        if str(label) not in ("Done",):
            assert f">{label}<" not in page, label
    assert "We have apologised and are listening" in page
    assert "<script" not in page and "style=" not in page


def test_the_page_keeps_its_address_to_itself(app, customer, make):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    r = customer.get(f"/c/{token}")
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in r.headers["Cache-Control"]
    assert "noindex" in r.headers["X-Robots-Tag"]


# --- rate limits ---------------------------------------------------------------------------
def test_a_token_is_rate_limited_on_the_pages_and_its_json_twin(app, customer, make):
    app.config["CUSTOMER_LINK_RATE_LIMIT"] = "3 per minute"
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    case2, owner2 = awaiting_case(make, "confirm")
    token2 = new_link(app.test_client(), make, case2, owner2)
    before = case_snapshot(app, case.id)
    assert customer.get(f"/c/{token}").status_code == 200
    assert customer.get(f"/api/v1/customer/{token}").status_code == 200
    assert customer.get(f"/c/{token}").status_code == 200
    r = customer.get(f"/c/{token}")
    assert r.status_code == 429 and "Too many attempts" in r.text and case.reference not in r.text
    r = customer.get(f"/api/v1/customer/{token}")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_requests"
    r = customer.post(f"/api/v1/customer/{token}/answer", json={"response": "confirmed"})
    assert r.status_code == 429
    assert case_snapshot(app, case.id) == before
    # another token is counted apart
    assert customer.get(f"/c/{token2}").status_code == 200


def test_an_address_is_rate_limited_whatever_tokens_it_tries(app, make):
    app.config["CUSTOMER_LINK_ADDRESS_RATE_LIMIT"] = "5 per minute"
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    guesser = app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(5):
        assert guesser.get(f"/c/{secrets.token_urlsafe(32)}").status_code == 404
    assert guesser.get(f"/c/{token}").status_code == 429  # even the right token, from there
    assert guesser.get(f"/api/v1/customer/{token}").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert elsewhere.get(f"/c/{token}").status_code == 200


# --- staff can never answer for the customer ------------------------------------------------
@pytest.mark.parametrize(
    ("step", "answer"),
    [
        ("confirm", {"customer_response": "confirmed"}),
        ("confirm", {"customer_response": "corrected", "correction": "x"}),
        ("agree", {"customer_response": "accepted"}),
        ("agree", {"customer_response": "declined", "reason": "x"}),
        ("verify", {"satisfaction": "satisfied", "score": 5}),
        ("verify", {"satisfaction": "dissatisfied", "score": 1}),
    ],
)
def test_no_staff_form_or_api_call_records_a_customer_link_answer(app, client, auth, make, step, answer):
    case, owner = make.case_in(step)
    body = {**question_evidence(step, make.clock.now), **answer}
    before = case_snapshot(app, case.id)
    auth.login(owner)
    r = staff_post_step(client, case.id, step, body)
    assert r.status_code == 422
    assert "Only the customer can answer on the customer link" in r.text
    api = app.test_client()
    r = api.post(f"/api/v1/cases/{case.id}/steps/{step}", json=body, headers=api_headers(make.token(owner)))
    assert r.status_code == 422 and "via" in r.get_json()["error"]["fields"]
    # Nor by claiming the record is not staff's, or by naming the customer as the actor.
    for extra in ({"staff_recorded": "false"}, {"actor": "customer"}, {"actor_kind": "customer"}):
        r = api.post(
            f"/api/v1/cases/{case.id}/steps/{step}",
            json={**good_evidence(step, make.clock.now), **extra},
            headers=api_headers(make.token(owner)),
        )
        assert r.status_code == 422
        r = staff_post_step(client, case.id, step, {**good_evidence(step, make.clock.now), **extra})
        assert r.status_code == 400
    assert case_snapshot(app, case.id) == before
    assert not [r for r in rows(app, StepRecord, case_id=case.id) if r.evidence.get("via") == "customer_link"]


def test_signed_in_staff_cannot_answer_on_the_customer_link(app, client, auth, make):
    case, owner = awaiting_case(make, "confirm")
    token = new_link(app.test_client(), make, case, owner)
    before = case_snapshot(app, case.id)
    auth.login(owner)
    page = client.get(f"/c/{token}")
    assert page.status_code == 200 and "only the customer answers on this page" in page.text
    assert 'name="response"' not in page.text
    r = client.post(
        f"/c/{token}",
        data={"csrf_token": csrf_from(page.text), "question": "confirm", "response": "confirmed"},
    )
    assert r.status_code == 403
    r = app.test_client().post(
        f"/api/v1/customer/{token}/answer",
        json={"response": "confirmed"},
        headers=api_headers(make.token(owner)),
    )
    assert r.status_code == 403
    assert case_snapshot(app, case.id) == before


# --- the owner's side -----------------------------------------------------------------------
def test_the_owner_creates_a_link_on_the_case_page(app, client, customer, auth, make):
    case, owner = make.case_in("listen", customer_email=EMAIL)
    outsider = make.user("responder")
    auth.login(owner)
    page = client.get(f"/cases/{case.id}")
    assert "Create a new customer link" in page.text and "No active link." in page.text
    r = client.post(f"/cases/{case.id}/customer-link", data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 200
    token = token_in(r.text)
    assert "It has also been emailed to the customer." in r.text
    mail = last_email(app, case.id)
    assert (mail.kind, mail.to_address) == ("customer_link", EMAIL) and token in mail.body_text
    assert customer.get(f"/c/{token}").status_code == 200
    assert "A link is active until" in client.get(f"/cases/{case.id}").text
    # no CSRF: refused
    assert client.post(f"/cases/{case.id}/customer-link").status_code == 400
    # not the owner: no button, and the post is refused
    auth.logout()
    auth.login(outsider)
    before = len(rows(app, CustomerLink, case_id=case.id))
    page = client.get("/")
    r = client.post(f"/cases/{case.id}/customer-link", data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 403
    assert len(rows(app, CustomerLink, case_id=case.id)) == before


def test_sending_the_question_to_a_customer_without_email(app, client, auth, make, clock):
    case, owner = make.case_in("confirm")  # phone only
    auth.login(owner)
    r = staff_post_step(client, case.id, "confirm", question_evidence("confirm", clock.now))
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).text
    assert "create a customer link" in page
    assert "Awaiting customer" in page
    assert rows(app, OutboxMessage, case_id=case.id) == []
    assert rows(app, CustomerLink, case_id=case.id) == []
    # the via list of the step form offers the customer link
    assert 'value="customer_link"' in page
    assert "Awaiting customer" in client.get("/cases").text


def test_forwarded_addresses_count_only_behind_the_configured_proxies(app, database_url, clock):
    from complaints import create_app
    from complaints.config import TestConfig

    # No trusted proxy: X-Forwarded-For is the client's own claim, and changes nothing.
    app.config["CUSTOMER_LINK_ADDRESS_RATE_LIMIT"] = "2 per minute"
    direct = app.test_client()
    codes = [
        direct.get(f"/c/{secrets.token_urlsafe(32)}", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(3)
    ]
    assert codes == [404, 404, 429]

    # Behind exactly one trusted proxy, each forwarded client has its own budget.
    overrides = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    overrides.update(
        DATABASE_URL=database_url,
        CLOCK=clock,
        TRUSTED_PROXY_COUNT=1,
        CUSTOMER_LINK_ADDRESS_RATE_LIMIT="2 per minute",
    )
    proxied = create_app(overrides)
    try:
        via_proxy = proxied.test_client()
        first = [
            via_proxy.get(
                f"/c/{secrets.token_urlsafe(32)}", headers={"X-Forwarded-For": "10.0.0.1"}
            ).status_code
            for _ in range(3)
        ]
        other = via_proxy.get(f"/c/{secrets.token_urlsafe(32)}", headers={"X-Forwarded-For": "10.0.0.2"})
        # A client cannot prepend its own address: only the proxy's last hop counts.
        spoofed = via_proxy.get(
            f"/c/{secrets.token_urlsafe(32)}", headers={"X-Forwarded-For": "10.9.9.9, 10.0.0.1"}
        )
    finally:
        get_db(proxied).dispose()
    assert first == [404, 404, 429]
    assert other.status_code == 404
    assert spoofed.status_code == 429

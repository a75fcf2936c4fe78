"""Progress updates to the customer, the phrase guard on everything said to them, the cadence.

Accepted updates (row, event, email, last_update_at) and refused ones (422 forbidden_phrase
naming the phrase, the text kept in the form, the refusal on record and nothing else) through
the web form and the API; the apology and the remedy details refused the same way; only the
owner posts; a case whose owner is silent for N days is marked behind on updates.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import api_headers, case_snapshot, csrf_from, good_evidence
from sqlalchemy import select
from test_api_journey import Api
from test_web_refusals import step_post
from test_web_support import check_page, field_block, follow, get, reading

from complaints.models import Case, Event, OutboxMessage, ProgressUpdate
from complaints.services.history import verify_case
from complaints.services.updates import update_overdue, update_overdue_clause

REFUSED = "很抱歉，这件事我也不知道怎么处理。"


def updates_url(case: Any) -> str:
    return f"/api/v1/cases/{case.id}/updates"


def events(app, case_id: int, action: str | None = None) -> list[Event]:
    with reading(app) as s:
        q = select(Event).where(Event.case_id == case_id).order_by(Event.seq)
        rows = list(s.scalars(q))
    return [e for e in rows if action is None or e.action == action]


def updates_of(app, case_id: int) -> list[ProgressUpdate]:
    with reading(app) as s:
        return list(s.scalars(select(ProgressUpdate).where(ProgressUpdate.case_id == case_id)))


def outbox_of(app, case_id: int) -> list[OutboxMessage]:
    with reading(app) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)))


def case_row(app, case_id: int) -> Case:
    with reading(app) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case


def chain_intact(app, case_id: int) -> bool:
    with app.app_context(), reading(app) as s:
        return verify_case(s, s.get(Case, case_id)) is None


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def owned(make):
    """A case at analyse with a customer email, its owner and the owner's token."""
    owner = make.user("responder", name="Olga Owner")
    case, _ = make.case_in("analyse", owner=owner, customer_email="chen@example.com")
    return case, owner, make.token(owner)


def assert_refused_on_record(app, case_id: int, before: tuple, phrase: str, field: str) -> None:
    """The refusal is one phrase_refused event, the case is marked for audit; nothing else changed."""
    state, version, owner_id, count = case_snapshot(app, case_id)
    assert (state, version, owner_id) == before[:3]
    assert count == before[3] + 1
    refused = events(app, case_id)[-1]
    assert refused.action == "phrase_refused"
    data = json.loads(refused.data)
    assert data["phrase"] == phrase and data["field"] == field
    assert set(data) == {"phrase", "field", "context"}  # never the text itself
    assert case_row(app, case_id).must_audit is True
    assert chain_intact(app, case_id)


# --- the API --------------------------------------------------------------------------------
def test_an_accepted_update_is_stored_recorded_and_emailed(app, api, owned, clock):
    case, owner, token = owned
    before = case_snapshot(app, case.id)
    assert case_row(app, case.id).last_update_at is None
    text = "您好，我们已查明是电源模块的问题，明天给您答复处理方案。"
    body = api.call("post", updates_url(case), token, {"body": text}, 201)
    assert body["body"] == text and body["author"] == {"id": owner.id, "name": "Olga Owner"}
    assert body["case_id"] == case.id and body["created_at"].endswith("Z")

    [row] = updates_of(app, case.id)
    assert row.body == text and row.author_id == owner.id and row.created_at == clock.now
    [event] = events(app, case.id, "progress_update_sent")
    assert json.loads(event.data) == {"update_id": row.id, "body": text}
    assert event.actor_id == owner.id
    after = case_row(app, case.id)
    assert after.last_update_at == clock.now
    assert after.version == before[1]  # an update does not make the owner's step form stale
    [mail] = outbox_of(app, case.id)
    assert mail.kind == "progress_update" and mail.to_address == "chen@example.com"
    assert mail.status == "pending" and case.reference in mail.subject
    assert text in mail.body_text and case.reference in mail.body_text and "Olga Owner" in mail.body_text
    assert chain_intact(app, case.id)

    listed = api.call("get", updates_url(case), token, None, 200)
    assert [u["id"] for u in listed["items"]] == [row.id] and listed["next_cursor"] is None


def test_no_email_when_the_customer_has_no_address(app, api, make):
    owner = make.user("responder")
    case, _ = make.case_in("listen", owner=owner)
    api.call("post", updates_url(case), make.token(owner), {"body": "我们正在处理。"}, 201)
    assert len(updates_of(app, case.id)) == 1
    assert outbox_of(app, case.id) == []


def test_the_email_subject_is_translated(app, api, owned):
    case, _, token = owned
    app.config["CUSTOMER_LOCALE"] = "zh_CN"
    api.call("post", updates_url(case), token, {"body": "已安排工程师。"}, 201)
    [mail] = outbox_of(app, case.id)
    assert case.reference in mail.subject and "已安排工程师。" in mail.body_text


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("不 知 道!", "不知道"),
        ("不知道。", "不知道"),
        ("I DON'T KNOW", "I don't know"),
        (REFUSED, "不知道"),
        ("Sorry, that's not my job.", "not my job"),
    ],
)
def test_a_forbidden_phrase_refuses_the_update_and_is_recorded(app, api, owned, clock, text, phrase):
    case, _, token = owned
    before = case_snapshot(app, case.id)
    body = api.call("post", updates_url(case), token, {"body": text}, 422)
    error = body["error"]
    assert error["code"] == "forbidden_phrase"
    assert f"“{phrase}”" in error["message"]
    assert list(error["fields"]) == ["body"] and f"“{phrase}”" in error["fields"]["body"]
    assert_refused_on_record(app, case.id, before, phrase, "body")
    assert json.loads(events(app, case.id)[-1].data)["context"] == "progress_update"
    assert updates_of(app, case.id) == []
    assert outbox_of(app, case.id) == []
    assert case_row(app, case.id).last_update_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": "  "}, "body"),
        ({"body": "x" * 4001}, "body"),
        ({"body": "ok", "to": "x"}, "to"),
    ],
)
def test_an_invalid_update_is_422_and_changes_nothing(app, api, owned, body, field):
    case, _, token = owned
    before = case_snapshot(app, case.id)
    error = api.call("post", updates_url(case), token, body, 422)["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert case_snapshot(app, case.id) == before and updates_of(app, case.id) == []


@pytest.mark.parametrize("who", ["other_responder", "assistant", "opener", "quality", "admin"])
def test_only_the_owner_posts_updates(app, client, make, who):
    opener = make.user("frontline")
    owner = make.user("responder")
    case = make.case(opener)
    make.claim(case, owner)
    other = {
        "other_responder": make.user("responder"),
        "assistant": make.user("responder"),
        "opener": opener,
        "quality": make.user("quality"),
        "admin": make.user("admin"),
    }[who]
    if who == "assistant":
        r = client.post(
            f"/api/v1/cases/{case.id}/assistants",
            json={"user_id": other.id},
            headers=api_headers(make.token(owner)),
        )
        assert r.status_code == 201
    before = case_snapshot(app, case.id)
    r = client.post(updates_url(case), json={"body": "进展"}, headers=api_headers(make.token(other)))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    # A forbidden phrase from someone who may not post is a 403 too, and nothing is recorded.
    r = client.post(updates_url(case), json={"body": "不知道"}, headers=api_headers(make.token(other)))
    assert r.status_code == 403
    assert case_snapshot(app, case.id) == before and updates_of(app, case.id) == []


def test_unclaimed_unknown_and_ended_cases(app, client, make):
    owner = make.user("responder")
    token = make.token(owner)
    unclaimed = make.case()
    r = client.post(updates_url(unclaimed), json={"body": "进展"}, headers=api_headers(token))
    assert r.status_code == 403
    r = client.post("/api/v1/cases/999999/updates", json={"body": "进展"}, headers=api_headers(token))
    assert r.status_code == 404
    case, _ = make.case_in("listen", owner=owner)
    r = client.post(
        f"/api/v1/cases/{case.id}/withdraw", json={"reason": "客户撤回"}, headers=api_headers(token)
    )
    assert r.status_code == 200
    before = case_snapshot(app, case.id)
    r = client.post(updates_url(case), json={"body": "进展"}, headers=api_headers(token))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_state"
    assert case_snapshot(app, case.id) == before
    assert client.post(updates_url(case), json={"body": "x"}).status_code == 401


# --- the web form ---------------------------------------------------------------------------
def post_update(client, case_id: int, body: str):
    page = client.get(f"/cases/{case_id}").text
    return client.post(f"/cases/{case_id}/updates", data={"body": body, "csrf_token": csrf_from(page)})


def test_the_owner_sends_an_update_from_the_case_page(app, client, auth, owned, clock):
    case, owner, _ = owned
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    assert 'id="updates"' in page and "No update has been sent yet." in page
    assert field_block(page, "update-body")
    text = "您好，配件已到，周五上门更换。"
    page = follow(client, post_update(client, case.id, text))
    assert "Update sent to the customer, by email too." in page
    assert text in page.split('id="updates"', 1)[1]
    assert "Progress update sent" in page  # in the history
    [row] = updates_of(app, case.id)
    assert row.body == text
    assert len(events(app, case.id, "progress_update_sent")) == 1
    assert len(outbox_of(app, case.id)) == 1
    assert case_row(app, case.id).last_update_at == clock.now


def test_a_refused_update_shows_the_phrase_next_to_the_field_and_keeps_the_text(app, client, auth, owned):
    case, owner, _ = owned
    auth.login(owner)
    before = case_snapshot(app, case.id)
    r = post_update(client, case.id, REFUSED)
    assert r.status_code == 422
    check_page(r.text)
    assert "The update was not sent. Please correct the message." in r.text
    block = field_block(r.text, "update-body")
    assert "field--error" in block and "“不知道”" in block and 'aria-invalid="true"' in block
    assert REFUSED in block  # what was typed is still there
    assert_refused_on_record(app, case.id, before, "不知道", "body")
    assert updates_of(app, case.id) == [] and outbox_of(app, case.id) == []
    page = get(client, f"/cases/{case.id}")
    assert "Forbidden phrase refused" in page and "“不知道”, in: Progress update" in page


def test_only_the_owner_sees_the_form_and_may_post(app, client, auth, make, owned):
    case, _, _ = owned
    for user in (make.user("responder"), make.user("quality")):
        auth.login(user)
        page = client.get(f"/cases/{case.id}").text
        assert 'id="update-body"' not in page
        token = csrf_from(client.get("/").text)
        r = client.post(f"/cases/{case.id}/updates", data={"body": "进展", "csrf_token": token})
        assert r.status_code == 403
        auth.logout()
    assert updates_of(app, case.id) == []


def test_an_empty_update_is_refused_on_the_page(app, client, auth, owned):
    case, owner, _ = owned
    auth.login(owner)
    before = case_snapshot(app, case.id)
    r = post_update(client, case.id, "   ")
    assert r.status_code == 422
    assert "This field is required." in field_block(r.text, "update-body")
    assert case_snapshot(app, case.id) == before


# --- the apology and the remedy details -----------------------------------------------------
STEP_TEXTS = [
    ("apologise", "apology", "非常抱歉，不过这事不归我管。", "这事不归我管"),
    ("apologise", "apology", "Sorry, but I'm busy right now.", "I'm busy"),
    ("agree", "remedy_detail", "更换新机。这种型号的产品都是这样的。", "这种型号的产品都是这样的"),
]


@pytest.mark.parametrize(("step", "field", "text", "phrase"), STEP_TEXTS)
def test_a_step_text_said_to_the_customer_is_refused_through_the_api(
    app, api, make, clock, step, field, text, phrase
):
    owner = make.user("responder")
    case, _ = make.case_in(step, owner=owner)
    before = case_snapshot(app, case.id)
    evidence = {**good_evidence(step, clock.now), field: text, "version": before[1]}
    url = f"/api/v1/cases/{case.id}/steps/{step}"
    error = api.call("post", url, make.token(owner), evidence, 422)["error"]
    assert error["code"] == "forbidden_phrase" and f"“{phrase}”" in error["message"]
    assert list(error["fields"]) == [field]
    assert_refused_on_record(app, case.id, before, phrase, field)
    with reading(app) as s:
        assert not [r for r in s.get(Case, case.id).steps if r.step == step]


@pytest.mark.parametrize(("step", "field", "text", "phrase"), STEP_TEXTS)
def test_a_step_text_said_to_the_customer_is_refused_on_the_page(
    app, client, auth, make, clock, step, field, text, phrase
):
    owner = make.user("responder")
    case, _ = make.case_in(step, owner=owner)
    auth.login(owner)
    before = case_snapshot(app, case.id)
    r = step_post(client, case.id, step, {**good_evidence(step, clock.now), field: text})
    assert r.status_code == 422
    check_page(r.text)
    block = field_block(r.text, f"step-{field}")
    assert "field--error" in block and f"“{phrase}”".replace("'", "&#39;") in block
    assert text.replace("'", "&#39;") in block
    assert_refused_on_record(app, case.id, before, phrase, field)
    # The form still carries the case's version: corrected, it goes through.
    r = step_post(client, case.id, step, good_evidence(step, clock.now))
    assert r.status_code == 302
    assert case_snapshot(app, case.id)[0] != step


def test_a_remedy_sent_to_the_customer_is_checked_too(app, api, make, clock):
    owner = make.user("responder")
    case, _ = make.case_in("agree", owner=owner, customer_email="chen@example.com")
    before = case_snapshot(app, case.id)
    evidence = {
        "remedy": "repair",
        "remedy_detail": "免费维修。你看手册了吗？",
        "due_date": good_evidence("agree", clock.now)["due_date"],
        "via": "customer_link",
    }
    url = f"/api/v1/cases/{case.id}/steps/agree"
    error = api.call("post", url, make.token(owner), evidence, 422)["error"]
    assert error["code"] == "forbidden_phrase" and "“你看手册了吗”" in error["fields"]["remedy_detail"]
    assert_refused_on_record(app, case.id, before, "你看手册了吗", "remedy_detail")
    assert outbox_of(app, case.id) == []


# --- the cadence ----------------------------------------------------------------------------
def behind(html: str) -> bool:
    return "Behind on updates" in html


def test_a_silent_owner_falls_behind_after_n_days_and_the_home_page_shows_it(app, client, auth, make, clock):
    owner = make.user("responder", name="Olga Owner")
    case, _ = make.case_in("listen", owner=owner)
    auth.login(owner)
    mine = lambda: get(client, "/").split('id="mine-title"', 1)[1]  # noqa: E731
    assert not behind(mine()) and not behind(get(client, f"/cases/{case.id}"))
    assert "Next update due by" in get(client, f"/cases/{case.id}")

    clock.advance(days=2)  # exactly N days: still on time
    assert not behind(mine())
    clock.advance(minutes=1)
    home = mine()
    assert behind(home) and "1 case has gone too long without a progress update to the customer." in home
    row = home.split(case.reference, 1)[1].split("</tr>", 1)[0]
    assert "badge--update-due" in row
    assert behind(get(client, f"/cases/{case.id}"))

    assert post_update(client, case.id, "我们正在联系厂家，后天给您结果。").status_code == 302
    assert not behind(mine()) and not behind(get(client, f"/cases/{case.id}"))
    clock.advance(days=2, minutes=1)
    assert behind(mine())


def test_the_cadence_follows_config_and_ends_with_the_case(app, make, clock):
    owner = make.user("responder")
    case, _ = make.case_in("listen", owner=owner)
    unclaimed = make.case()
    with app.app_context():
        app.config["UPDATE_CADENCE_DAYS"] = 1
        row = case_row(app, case.id)
        assert not update_overdue(row, clock.now + timedelta(hours=23))
        assert update_overdue(row, clock.now + timedelta(days=1, seconds=1))
        assert not update_overdue(case_row(app, unclaimed.id), clock.now + timedelta(days=30))
        with reading(app) as s:
            later = clock.now + timedelta(days=1, seconds=1)
            assert list(s.scalars(select(Case.id).where(update_overdue_clause(later)))) == [case.id]
            assert list(s.scalars(select(Case.id).where(update_overdue_clause(clock.now)))) == []
    make.step(case, owner, "listen")
    clock.advance(days=5)
    with app.app_context():
        assert update_overdue(case_row(app, case.id), clock.now)


def test_a_withdrawn_case_is_never_behind(app, api, make, clock):
    owner = make.user("responder")
    case, _ = make.case_in("listen", owner=owner)
    api.call("post", f"/api/v1/cases/{case.id}/withdraw", make.token(owner), {"reason": "客户撤回"}, 200)
    clock.advance(days=10)
    with app.app_context():
        assert not update_overdue(case_row(app, case.id), clock.now)

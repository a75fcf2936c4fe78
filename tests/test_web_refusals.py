"""Every forbidden move in the browser is refused and changes nothing (state, version, owner, events)."""

from __future__ import annotations

import pytest
from conftest import case_snapshot, csrf_from, good_evidence
from sqlalchemy import func, select
from test_web_support import as_form, current_step, field_block, follow, get, post, reading, version_on

from complaints.models import Case, Note


def step_post(client, case_id: int, step: str, evidence: dict, version: int | None = None, **extra):
    """Post a step the way the owner's browser does, from the case page."""
    page = client.get(f"/cases/{case_id}").text
    data = {**as_form(evidence), **extra, "csrf_token": csrf_from(page)}
    data["version"] = str(version if version is not None else version_on(page))
    return client.post(f"/cases/{case_id}/steps/{step}", data=data)


@pytest.fixture
def owned(make, auth, clock):
    """A case at apologise, its owner logged in."""
    owner = make.user("responder", name="Olga Owner")
    case, _ = make.case_in("apologise", owner=owner)
    auth.login(owner)
    return case, owner


@pytest.mark.parametrize("who", ["other_responder", "opener", "quality", "assistant"])
def test_only_the_owner_completes_a_step(app, client, make, auth, clock, who):
    owner = make.user("responder", name="Olga Owner")
    opener = make.user("frontline", name="Fay Frontline")
    case = make.case(opener)
    make.claim(case, owner)
    other = {
        "other_responder": make.user("responder"),
        "opener": opener,
        "quality": make.user("quality"),
        "assistant": make.user("responder"),
    }[who]
    if who == "assistant":
        auth.login(owner)
        page = get(client, f"/cases/{case.id}")
        r = client.post(
            f"/cases/{case.id}/assistants", data={"user_id": str(other.id), "csrf_token": csrf_from(page)}
        )
        assert r.status_code == 302
        auth.logout()
    auth.login(other)
    before = case_snapshot(app, case.id)
    token = csrf_from(client.get("/").text)
    data = {**as_form(good_evidence("apologise", clock.now)), "version": str(before[1]), "csrf_token": token}
    r = client.post(f"/cases/{case.id}/steps/apologise", data=data)
    assert r.status_code == 403
    assert case_snapshot(app, case.id) == before
    if who in ("quality", "assistant", "opener"):
        page = get(client, f"/cases/{case.id}")  # they may look, but get no step form
        assert 'name="version"' not in page and "Olga Owner owns this case" in page


def test_skipping_a_step_changes_nothing(app, client, owned, clock):
    case, _ = owned
    before = case_snapshot(app, case.id)
    r = step_post(client, case.id, "listen", good_evidence("listen", clock.now))
    page = follow(client, r)
    assert "The current step is “Apologise”, not “Listen”. Nothing was changed." in page
    assert current_step(page) == "Apologise"
    assert case_snapshot(app, case.id) == before


def test_a_step_that_does_not_exist_is_404(app, client, owned, clock):
    case, _ = owned
    before = case_snapshot(app, case.id)
    assert post(client, f"/cases/{case.id}/steps/close", {"version": "2"}).status_code == 404
    assert case_snapshot(app, case.id) == before


def test_missing_evidence_shows_errors_next_to_fields_and_keeps_the_text(app, client, make, auth, clock):
    owner = make.user("responder")
    case, _ = make.case_in("listen", owner=owner)
    auth.login(owner)
    before = case_snapshot(app, case.id)
    typed = 'Said the screen went black <twice> & "smelled burnt".'
    r = step_post(client, case.id, "listen", {"account": typed, "expectation": "", "temperament": ""})
    assert r.status_code == 422
    page = r.text
    assert "The step was not recorded. Please correct the marked fields." in page
    for control in ("step-expectation", "step-temperament"):
        block = field_block(page, control)
        assert "field--error" in block and "This field is required." in block
        assert 'aria-invalid="true"' in block and f'aria-describedby="{control}-error"' in block
    account = field_block(page, "step-account")
    assert "field--error" not in account
    assert "Said the screen went black &lt;twice&gt; &amp; &#34;smelled burnt&#34;." in account
    assert case_snapshot(app, case.id) == before

    # A choice that was made stays chosen while another field is wrong.
    r = step_post(
        client, case.id, "listen", {"account": "", "expectation": "A refund", "temperament": "angry"}
    )
    assert r.status_code == 422
    assert '<option selected value="angry">' in field_block(r.text, "step-temperament")
    assert 'value="angry"' in r.text and "A refund" in field_block(r.text, "step-expectation")
    assert case_snapshot(app, case.id) == before


def test_invalid_evidence_per_field(app, client, make, auth, clock):
    owner = make.user("responder")
    case, _ = make.case_in("agree", owner=owner)
    auth.login(owner)
    before = case_snapshot(app, case.id)
    evidence = {
        "remedy": "teleport",
        "remedy_detail": "Replace the pump",
        "due_date": "2001-01-01",
        "customer_response": "declined",
        "reason": "",
        "via": "phone",
    }
    r = step_post(client, case.id, "agree", evidence)
    assert r.status_code == 422
    assert "Choose one of the listed values." in field_block(r.text, "step-remedy")
    assert "The date cannot be in the past." in field_block(r.text, "step-due_date")
    assert "Write down why the customer declined." in field_block(r.text, "step-reason")
    assert 'value="2001-01-01"' in field_block(r.text, "step-due_date")
    assert case_snapshot(app, case.id) == before


def test_act_rows_errors_keep_the_rows(app, client, make, auth, clock):
    owner = make.user("responder")
    case, _ = make.case_in("act", owner=owner)
    auth.login(owner)
    before = case_snapshot(app, case.id)
    page = get(client, f"/cases/{case.id}")
    data = {
        "actions-0-description": "Replaced the pump",
        "actions-0-done_at": "",
        "actions-1-description": "",
        "actions-1-done_at": "",
        "version": str(version_on(page)),
        "csrf_token": csrf_from(page),
    }
    r = client.post(f"/cases/{case.id}/steps/act", data=data)
    assert r.status_code == 422
    assert "Action 1: when it was done is required." in r.text
    assert "Replaced the pump</textarea>" in r.text
    # Only blank rows: "give at least one action".
    data["actions-0-description"] = ""
    r = client.post(f"/cases/{case.id}/steps/act", data=data)
    assert r.status_code == 422 and "Give at least one action." in r.text
    assert case_snapshot(app, case.id) == before


def test_a_stale_version_changes_nothing(app, client, owned, clock):
    case, _ = owned
    before = case_snapshot(app, case.id)
    r = step_post(client, case.id, "apologise", good_evidence("apologise", clock.now), version=before[1] - 1)
    page = follow(client, r)
    assert "The case changed since you loaded the page, so nothing was saved." in page
    assert current_step(page) == "Apologise"
    assert case_snapshot(app, case.id) == before


def test_the_same_form_posted_twice_is_stale_the_second_time(app, client, owned, clock):
    case, _ = owned
    page = get(client, f"/cases/{case.id}")
    data = {
        **as_form(good_evidence("apologise", clock.now)),
        "version": str(version_on(page)),
        "csrf_token": csrf_from(page),
    }
    assert client.post(f"/cases/{case.id}/steps/apologise", data=data).status_code == 302
    after_first = case_snapshot(app, case.id)
    assert after_first[0] == "listen"
    again = follow(client, client.post(f"/cases/{case.id}/steps/apologise", data=data))
    assert "The case changed since you loaded the page" in again
    assert case_snapshot(app, case.id) == after_first


def test_claiming_an_owned_case(app, client, make, auth):
    first = make.user("responder", name="Rita First")
    second = make.user("responder", name="Sam Second")
    case = make.case()
    # The second responder loads the queue; meanwhile the first claims the case.
    auth.login(second)
    queue = get(client, "/")
    assert f'action="/cases/{case.id}/claim"' in queue
    make.claim(case, first)
    before = case_snapshot(app, case.id)
    r = client.post(f"/cases/{case.id}/claim", data={"csrf_token": csrf_from(queue)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    home = follow(client, r)
    assert "Already owned by Rita First." in home
    assert f'action="/cases/{case.id}/claim"' not in home  # no longer in the queue
    assert case_snapshot(app, case.id) == before

    # Its page is closed to the second responder, naming the owner and nothing else.
    r = client.get(f"/cases/{case.id}")
    assert r.status_code == 403
    assert "This case is owned by Rita First." in r.text
    for secret in (case.reference, case.summary, "陈先生", "ThinkBook"):
        assert secret not in r.text


def test_a_frontline_agent_cannot_claim(app, client, make, auth):
    agent = make.user("frontline")
    case = make.case(agent)
    auth.login(agent)
    before = case_snapshot(app, case.id)
    page = get(client, f"/cases/{case.id}")
    assert f'action="/cases/{case.id}/claim"' not in page
    r = client.post(f"/cases/{case.id}/claim", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    assert "This case cannot be claimed." in follow(client, r)
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("field", ["owner_id", "owner"])
@pytest.mark.parametrize("form", ["step", "claim", "withdraw", "note", "assistants", "intake"])
def test_posting_an_owner_field_is_refused(app, client, make, auth, clock, form, field):
    owner = make.user("responder", name="Olga Owner")
    intruder = make.user("responder", name="Ivan Intruder")
    if form == "claim":
        case = make.case()
        auth.login(intruder)
    else:
        case, _ = make.case_in("apologise", owner=owner)
        auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    token = csrf_from(page)
    data = {
        "step": {
            **as_form(good_evidence("apologise", clock.now)),
            "version": str(case_snapshot(app, case.id)[1]),
        },
        "claim": {},
        "withdraw": {"reason": "Customer asked us to stop."},
        "note": {"body": "Handing over."},
        "assistants": {"user_id": str(intruder.id)},
        "intake": {
            "customer_name": "Li Lei",
            "customer_phone": "13700000000",
            "channel": "phone",
            "summary": "s",
            "description": "d",
            "category": "product",
            "severity": "normal",
        },
    }[form]
    url = {
        "step": f"/cases/{case.id}/steps/apologise",
        "claim": f"/cases/{case.id}/claim",
        "withdraw": f"/cases/{case.id}/withdraw",
        "note": f"/cases/{case.id}/notes",
        "assistants": f"/cases/{case.id}/assistants",
        "intake": "/cases/new",
    }[form]
    before = case_snapshot(app, case.id)
    with reading(app) as s:
        cases_before = s.scalar(select(func.count()).select_from(Case))
    r = client.post(url, data={**data, field: str(intruder.id), "csrf_token": token})
    assert r.status_code == 400
    assert f"The field “{field}” is not part of this form. Nothing was changed." in r.text
    assert case_snapshot(app, case.id) == before
    with reading(app) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == cases_before
        assert s.scalar(select(func.count()).select_from(Note)) == 0


def test_a_frontline_agent_cannot_see_another_agents_case(app, client, make, auth):
    mine_agent = make.user("frontline", name="Ann")
    other_agent = make.user("frontline", name="Bea")
    theirs = make.case(other_agent, summary="Bea's customer complaint")
    mine = make.case(mine_agent, summary="Ann's customer complaint")
    auth.login(mine_agent)
    r = client.get(f"/cases/{theirs.id}")
    assert r.status_code in (403, 404)
    assert "Bea's customer complaint" not in r.text and theirs.reference not in r.text
    assert "owned by" not in r.text
    for url in ("/", "/cases", f"/cases?q={theirs.reference}"):
        page = get(client, url)
        assert f'href="/cases/{theirs.id}"' not in page
    assert f'href="/cases/{mine.id}"' in get(client, "/cases")
    # Nor act on it.
    before = case_snapshot(app, theirs.id)
    assert post(client, f"/cases/{theirs.id}/withdraw", {"reason": "mine now"}).status_code == 403
    assert post(client, f"/cases/{theirs.id}/notes", {"body": "hello"}).status_code == 403
    assert case_snapshot(app, theirs.id) == before


def test_withdraw(app, client, make, auth):
    agent = make.user("frontline")
    other_agent = make.user("frontline")
    case = make.case(agent)
    auth.login(other_agent)
    assert post(client, f"/cases/{case.id}/withdraw", {"reason": "x"}).status_code == 403
    auth.logout()
    auth.login(agent)
    page = get(client, f"/cases/{case.id}")
    assert f'action="/cases/{case.id}/withdraw"' in page
    before = case_snapshot(app, case.id)
    r = post(client, f"/cases/{case.id}/withdraw", {"reason": "   "}, token_from=f"/cases/{case.id}")
    assert r.status_code == 422
    assert "This field is required." in field_block(r.text, "withdraw-reason")
    assert "<details open>" in r.text
    assert case_snapshot(app, case.id) == before
    r = post(client, f"/cases/{case.id}/withdraw", {"reason": "The customer found the manual."})
    page = follow(client, r)
    assert f"Case {case.reference} withdrawn." in page
    assert "Reason: The customer found the manual." in page
    assert case_snapshot(app, case.id)[0] == "withdrawn"
    assert f'action="/cases/{case.id}/withdraw"' not in page
    assert page.count('<span class="steps__status">Not reached</span>') == 8


def test_the_owner_withdraws_a_claimed_case_but_the_opener_no_longer_can(app, client, make, auth):
    agent = make.user("frontline")
    owner = make.user("responder")
    case = make.case(agent)
    make.claim(case, owner)
    auth.login(agent)
    before = case_snapshot(app, case.id)
    assert f'action="/cases/{case.id}/withdraw"' not in get(client, f"/cases/{case.id}")
    assert post(client, f"/cases/{case.id}/withdraw", {"reason": "x"}).status_code == 403
    assert case_snapshot(app, case.id) == before
    auth.logout()
    auth.login(owner)
    follow(client, post(client, f"/cases/{case.id}/withdraw", {"reason": "Duplicate of another case."}))
    assert case_snapshot(app, case.id)[0] == "withdrawn"


def test_assistants_add_notes_and_nothing_else(app, client, make, auth, clock):
    owner = make.user("responder", name="Olga Owner")
    helper = make.user("responder", name="Hal Helper")
    bystander = make.user("frontline", name="Bo Bystander")
    case, _ = make.case_in("listen", owner=owner)
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")
    assert f'<option value="{helper.id}">Hal Helper' in page
    assert f'<option value="{owner.id}">' not in page  # the owner cannot assist themself
    r = post(client, f"/cases/{case.id}/assistants", {"user_id": "999999"}, token_from=f"/cases/{case.id}")
    assert r.status_code == 422 and "Choose one of the listed colleagues." in r.text
    page = follow(client, post(client, f"/cases/{case.id}/assistants", {"user_id": str(helper.id)}))
    assert "Hal Helper can now help on this case." in page
    assert f'<option value="{helper.id}">' not in page  # not twice
    follow(client, post(client, f"/cases/{case.id}/notes", {"body": "Customer prefers calls after 6pm."}))
    auth.logout()

    auth.login(helper)
    home = get(client, "/")
    assert case.reference in home.split('id="assist-title"', 1)[1]
    page = get(client, f"/cases/{case.id}")
    assert "Customer prefers calls after 6pm." in page
    assert 'name="version"' not in page and f'action="/cases/{case.id}/withdraw"' not in page
    assert f'action="/cases/{case.id}/assistants"' not in page
    r = post(client, f"/cases/{case.id}/notes", {"body": ""}, token_from=f"/cases/{case.id}")
    assert r.status_code == 422 and "This field is required." in field_block(r.text, "note-body")
    page = follow(client, post(client, f"/cases/{case.id}/notes", {"body": "Called: no answer."}))
    assert "Note added." in page and "Called: no answer." in page
    before = case_snapshot(app, case.id)
    assert (
        step_post(
            client, case.id, "listen", good_evidence("listen", clock.now), version=before[1]
        ).status_code
        == 403
    )
    assert post(client, f"/cases/{case.id}/withdraw", {"reason": "x"}).status_code == 403
    assert post(client, f"/cases/{case.id}/assistants", {"user_id": str(bystander.id)}).status_code == 403
    assert case_snapshot(app, case.id) == before
    auth.logout()

    # A colleague who is neither owner nor assistant adds nothing.
    auth.login(bystander)
    assert post(client, f"/cases/{case.id}/notes", {"body": "hi"}).status_code == 403
    with reading(app) as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 2


def test_no_csrf_token_no_change(app, client, owned, clock):
    case, _ = owned
    before = case_snapshot(app, case.id)
    data = {**as_form(good_evidence("apologise", clock.now)), "version": str(before[1])}
    r = client.post(f"/cases/{case.id}/steps/apologise", data=data)
    assert r.status_code == 400 and "did not come from this site" in r.text
    assert case_snapshot(app, case.id) == before

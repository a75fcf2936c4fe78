"""The one exceptional owner change (SPEC §2) and deactivating staff accounts.

Only an administrator, only for a case whose owner's account is deactivated, only to an
active first responder, only with a written reason; recorded in the history, sent to audit.
"""

from __future__ import annotations

import json

import pytest
from conftest import api_headers, case_snapshot, csrf_from
from sqlalchemy import select
from test_web_support import get

from complaints.db import get_db
from complaints.errors import Conflict, Forbidden
from complaints.evidence import EvidenceError
from complaints.models import ApiToken, Case, Event, User
from complaints.services.admin import change_owner, deactivate_user
from complaints.services.history import verify_case


def deactivate(app, clock, admin: User, user: User) -> None:
    with app.app_context(), get_db(app).transaction() as s:
        deactivate_user(s, s.get(User, admin.id), s.get(User, user.id), clock.now)


def change(app, clock, case_id: int, admin: User, new_owner: User | None, reason: str) -> None:
    with app.app_context(), get_db(app).transaction() as s:
        change_owner(
            s,
            s.get(Case, case_id),
            s.get(User, admin.id),
            s.get(User, new_owner.id) if new_owner else None,
            reason,
            clock.now,
        )


@pytest.fixture
def admin(make):
    return make.user("admin", name="Ada Admin")


@pytest.fixture
def stranded(app, make, clock, admin):
    """An open case whose owner has left: their account is deactivated."""
    case, owner = make.case_in("analyse")
    deactivate(app, clock, admin, owner)
    return case, owner


# --- the service ---------------------------------------------------------------------------
def test_refused_while_the_owner_is_active(app, make, clock, admin):
    case, _owner = make.case_in("analyse")
    before = case_snapshot(app, case.id)
    with pytest.raises(Conflict) as e:
        change(app, clock, case.id, admin, make.user("responder"), "想换人")
    assert e.value.code == "owner_active"
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("roles", [("responder",), ("quality",), ("frontline",), ("quality", "responder")])
def test_refused_for_anyone_but_an_admin(app, make, clock, stranded, roles):
    case, _owner = stranded
    before = case_snapshot(app, case.id)
    with pytest.raises(Forbidden):
        change(app, clock, case.id, make.user(*roles), make.user("responder"), "原负责人离职")
    assert case_snapshot(app, case.id) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_refused_without_a_written_reason(app, make, clock, admin, stranded, reason):
    case, _owner = stranded
    with pytest.raises(EvidenceError) as e:
        change(app, clock, case.id, admin, make.user("responder"), reason)
    assert set(e.value.fields) == {"reason"}


def test_the_new_owner_must_be_an_active_first_responder(app, make, clock, admin, stranded):
    case, owner = stranded
    gone = make.user("responder")
    deactivate(app, clock, admin, gone)
    for candidate in (make.user("frontline"), make.user("quality"), gone, owner, None):
        with pytest.raises(EvidenceError) as e:
            change(app, clock, case.id, admin, candidate, "原负责人离职")
        assert set(e.value.fields) == {"new_owner_id"}


def test_a_closed_case_does_not_change_owner(app, make, clock, admin):
    case, owner = make.case_in("closed")
    deactivate(app, clock, admin, owner)
    with pytest.raises(Conflict) as e:
        change(app, clock, case.id, admin, make.user("responder"), "原负责人离职")
    assert e.value.code == "wrong_state"


def test_the_change_is_recorded_and_sends_the_case_to_audit(app, make, clock, admin, stranded):
    case, owner = stranded
    successor = make.user("responder", name="Sam Successor")
    change(app, clock, case.id, admin, successor, "原负责人已离职,由同组同事接手。")
    with app.app_context():
        s = get_db(app).new_session()
        row = s.get(Case, case.id)
        assert row.owner_id == successor.id and row.must_audit and row.state == "analyse"
        last = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq.desc())).first()
        assert last.action == "owner_changed" and last.actor_id == admin.id
        assert json.loads(last.data) == {
            "from": owner.id,
            "to": successor.id,
            "reason": "原负责人已离职,由同组同事接手。",
        }
        assert verify_case(s, row) is None  # replay gives the new owner too
        s.close()
    # The successor drives the case on; the old owner could not.
    make.step(case, successor, "analyse")
    assert case_snapshot(app, case.id)[0] == "agree"


# --- deactivating an account -------------------------------------------------------------------
def test_deactivation_ends_sessions_and_tokens(app, client, make, auth, clock, admin):
    user = make.user("responder")
    token = make.token(user)
    auth.login(user)
    assert client.get("/").status_code == 200
    deactivate(app, clock, admin, user)
    assert client.get("/").status_code == 302  # the session no longer works
    assert client.get("/api/v1/cases", headers=api_headers(token)).status_code == 401
    with app.app_context():
        s = get_db(app).new_session()
        row = s.get(User, user.id)
        assert not row.active and row.session_version == 2
        assert all(
            t.revoked_at is not None for t in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id))
        )
        s.close()
    assert auth.login(user).status_code == 200  # the login form again, refused


def test_an_admin_cannot_deactivate_themselves_or_twice(app, make, clock, admin):
    with pytest.raises(Conflict):
        deactivate(app, clock, admin, admin)
    user = make.user("frontline")
    deactivate(app, clock, admin, user)
    with pytest.raises(Conflict):
        deactivate(app, clock, admin, user)


# --- the pages ---------------------------------------------------------------------------------
def test_the_whole_change_in_the_browser(app, client, make, auth, clock, admin):
    case, owner = make.case_in("act")
    successor = make.user("responder", name="Sam Successor")
    auth.login(admin)
    users = get(client, "/admin/users")
    assert owner.email in users
    # While the owner is active, the case page offers no owner change.
    assert "/owner" not in get(client, f"/cases/{case.id}")
    r = client.post(f"/admin/users/{owner.id}/deactivate", data={"csrf_token": csrf_from(users)})
    assert r.status_code == 302
    assert f"/cases/{case.id}/owner" in get(client, "/admin/users")  # listed among the stranded cases
    assert f"/cases/{case.id}/owner" in get(client, f"/cases/{case.id}")
    form = get(client, f"/cases/{case.id}/owner")
    assert "Sam Successor" in form
    token = csrf_from(form)

    # No reason, no change.
    r = client.post(f"/cases/{case.id}/owner", data={"csrf_token": token, "new_owner_id": str(successor.id)})
    assert r.status_code == 422 and case_snapshot(app, case.id)[2] == owner.id
    # Someone who is not on the list (not a responder).
    r = client.post(
        f"/cases/{case.id}/owner",
        data={"csrf_token": token, "new_owner_id": str(admin.id), "reason": "离职"},
    )
    assert r.status_code == 422 and case_snapshot(app, case.id)[2] == owner.id

    r = client.post(
        f"/cases/{case.id}/owner",
        data={"csrf_token": token, "new_owner_id": str(successor.id), "reason": "原负责人已离职"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case.id}")
    page = client.get(r.headers["Location"])
    assert "Sam Successor" in page.text and "Owner changed" in page.text
    assert case_snapshot(app, case.id)[2] == successor.id


def test_the_owner_page_refuses_when_the_owner_is_active(app, client, make, auth, admin):
    case, owner = make.case_in("act")
    auth.login(admin)
    form = client.get(f"/cases/{case.id}/owner")
    assert form.status_code == 200
    r = client.post(
        f"/cases/{case.id}/owner",
        data={
            "csrf_token": csrf_from(form.text),
            "new_owner_id": str(make.user("responder").id),
            "reason": "想换人",
        },
    )
    assert r.status_code == 302
    assert "stays with its first responder" in client.get(r.headers["Location"]).text
    assert case_snapshot(app, case.id)[2] == owner.id


@pytest.mark.parametrize("roles", [("frontline",), ("responder",), ("quality",), ("quality", "responder")])
def test_only_admins_reach_the_admin_pages(app, client, make, auth, clock, admin, stranded, roles):
    case, _owner = stranded
    victim = make.user("frontline")
    user = make.user(*roles)
    auth.login(user)
    token = csrf_from(client.get("/").text)
    before = case_snapshot(app, case.id)
    assert client.get("/admin/users").status_code == 403
    assert client.post(f"/admin/users/{victim.id}/deactivate", data={"csrf_token": token}).status_code == 403
    assert client.get(f"/cases/{case.id}/owner").status_code == 403
    r = client.post(
        f"/cases/{case.id}/owner",
        data={"csrf_token": token, "new_owner_id": str(make.user("responder").id), "reason": "离职"},
    )
    assert r.status_code == 403
    assert case_snapshot(app, case.id) == before
    with app.app_context():
        s = get_db(app).new_session()
        assert s.get(User, victim.id).active
        s.close()
    assert "/admin/users" not in client.get("/").text


def test_there_is_no_owner_change_in_the_api(client, make, stranded, admin):
    case, _owner = stranded
    token = make.token(admin)
    r = client.post(f"/api/v1/cases/{case.id}/owner", json={"owner_id": 1}, headers=api_headers(token))
    assert r.status_code in (404, 405)

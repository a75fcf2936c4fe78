"""Collections: keyset pages that walk everything once, filters, and who sees which case."""

from __future__ import annotations

from typing import Any

from conftest import api_headers
from sqlalchemy import select

from complaints.db import get_db
from complaints.models import Case


def walk(client, path: str, token: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a collection, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    sep = "&" if "?" in path else "?"
    url = f"{path}{sep}limit={limit}"
    pages = 0
    while True:
        r = client.get(url, headers=api_headers(token))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        assert pages < 100
        if body["next_cursor"] is None:
            return items
        assert len(body["items"]) == limit
        url = f"{path}{sep}limit={limit}&cursor={body['next_cursor']}"


def test_keyset_pages_walk_every_case_once_newest_first(client, make, clock, app):
    opener = make.user("frontline")
    # Many cases share an opening instant: the id breaks the tie.
    for i in range(23):
        make.case(opener, summary=f"Case {i}")
        if i % 4 == 0:
            clock.advance(seconds=1)
    token = make.token(make.user("quality"))
    with app.app_context():
        s = get_db(app).new_session()
        expected = [c.id for c in s.scalars(select(Case).order_by(Case.opened_at.desc(), Case.id.desc()))]
        s.close()
    for limit in (1, 5, 7, 23, 25):
        ids = [c["id"] for c in walk(client, "/api/v1/cases", token, limit)]
        assert ids == expected, limit
    first = client.get("/api/v1/cases", headers=api_headers(token)).get_json()
    assert len(first["items"]) == 23 and first["next_cursor"] is None  # default limit 25


def test_pages_stay_consistent_when_cases_arrive_while_walking(client, make, clock):
    opener = make.user("frontline")
    for _ in range(6):
        make.case(opener)
        clock.advance(seconds=1)
    token = make.token(opener)
    r = client.get("/api/v1/cases?limit=3", headers=api_headers(token)).get_json()
    seen = [c["id"] for c in r["items"]]
    make.case(opener)  # newer than everything: it belongs before the cursor
    r = client.get(f"/api/v1/cases?limit=3&cursor={r['next_cursor']}", headers=api_headers(token)).get_json()
    seen += [c["id"] for c in r["items"]]
    assert len(set(seen)) == 6  # nothing twice, nothing skipped
    assert r["next_cursor"] is None  # the sixth was the last: no empty page to fetch


def test_each_role_lists_only_what_it_may_see(client, make):
    alice, bob = make.user("frontline"), make.user("frontline")
    owner, other = make.user("responder"), make.user("responder")
    a_new = make.case(alice)
    a_owned, _ = make.case_in("listen", owner=owner)
    b_case = make.case(bob)
    other_owned, _ = make.case_in("analyse", owner=other)

    def ids(user) -> set[int]:
        return {c["id"] for c in walk(client, "/api/v1/cases", make.token(user), 50)}

    assert ids(alice) == {a_new.id}
    assert ids(bob) == {b_case.id}
    # Responders: the unclaimed queue and their own cases.
    assert ids(owner) == {a_new.id, b_case.id, a_owned.id}
    assert ids(other) == {a_new.id, b_case.id, other_owned.id}
    everything = {a_new.id, a_owned.id, b_case.id, other_owned.id}
    assert ids(make.user("quality")) == everything
    assert ids(make.user("admin")) <= everything
    # An assistant sees the case they help on.
    helper = make.user("frontline")
    r = client.post(
        f"/api/v1/cases/{a_owned.id}/assistants",
        headers=api_headers(make.token(owner)),
        json={"user_id": helper.id},
    )
    assert r.status_code == 201
    assert ids(helper) == {a_owned.id}


def test_filters_state_owner_and_text(client, make):
    opener = make.user("frontline")
    owner = make.user("responder")
    new = make.case(opener, customer_name="Chen Jing", customer_phone="138-0013-8000", product="ThinkPad X1")
    mine, _ = make.case_in(
        "listen", owner=owner, customer_name="Wang Wei", customer_phone="+86 139 1111 2222"
    )
    other, other_owner = make.case_in("analyse", customer_name="Zhang San", customer_phone="137 5555 6666")
    token = make.token(make.user("quality"))
    owner_token = make.token(owner)

    def ids(query: str, tok: str = token) -> set[int]:
        r = client.get(f"/api/v1/cases?{query}", headers=api_headers(tok))
        assert r.status_code == 200, r.get_json()
        return {c["id"] for c in r.get_json()["items"]}

    assert ids("state=new") == {new.id}
    assert ids("state=listen") == {mine.id}
    assert ids("state=closed") == set()
    assert ids("owner=none") == {new.id}
    assert ids(f"owner={owner.id}") == {mine.id}
    assert ids(f"owner={other_owner.id}&state=analyse") == {other.id}
    assert ids("owner=me", owner_token) == {mine.id}
    assert ids("owner=none", owner_token) == {new.id}
    # q: reference, summary, customer name and phone, product; case-insensitive.
    assert ids(f"q={new.reference.lower()}") == {new.id}
    assert ids("q=chen") == {new.id}
    assert ids("q=WANG") == {mine.id}
    assert ids("q=thinkpad") == {new.id}
    assert ids("q=0013 8000") == {new.id}  # phone digits, however typed
    assert ids("q=139-1111") == {mine.id}
    assert ids("q=100%25") == set()  # a literal percent sign matches nothing here
    assert ids("q=no such thing") == set()
    # Filters never widen what the caller may see.
    assert ids("q=zhang", owner_token) == set()


def test_list_items_are_summaries(client, make):
    case, owner = make.case_in("listen")
    items = client.get("/api/v1/cases", headers=api_headers(make.token(owner))).get_json()["items"]
    (item,) = items
    assert item["id"] == case.id and item["state"] == "listen"
    assert item["owner"] == {"id": owner.id, "name": owner.name}
    assert "steps" not in item and "description" not in item
    assert item["opened_at"].endswith("Z")


def test_events_walk_in_order_with_the_same_cursor_form(client, make):
    case, owner = make.case_in("listen")
    token = make.token(owner)
    for i in range(9):
        r = client.post(
            f"/api/v1/cases/{case.id}/notes", headers=api_headers(token), json={"body": f"Note {i}"}
        )
        assert r.status_code == 201
    events = walk(client, f"/api/v1/cases/{case.id}/events", token, 4)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 1 + 1 + 1 + 9  # opened, claimed, apologised, nine notes
    assert [e["data"]["body"] for e in events if e["action"] == "note_added"] == [
        f"Note {i}" for i in range(9)
    ]
    assert events[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(events, events[1:], strict=False))
    assert all(
        e["actor"] == {"kind": "staff", "id": e["actor"]["id"], "name": e["actor"]["name"]} for e in events
    )
    # A cases cursor is not an events cursor.
    make.case()
    cases_cursor = client.get("/api/v1/cases?limit=1", headers=api_headers(make.token(make.user("quality"))))
    cursor = cases_cursor.get_json()["next_cursor"]
    assert cursor is not None
    r = client.get(f"/api/v1/cases/{case.id}/events?cursor={cursor}", headers=api_headers(token))
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"cursor"}

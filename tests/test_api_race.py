"""Simultaneous claims through the API: exactly one owner, everyone else told who it is."""

from __future__ import annotations

import threading

from conftest import api_headers, case_snapshot

CLAIMERS = 20


def test_twenty_simultaneous_claims_one_winner(app, make):
    case = make.case()
    users = [make.user("responder", name=f"Responder {i}") for i in range(5)]
    tokens = [make.token(users[i % len(users)]) for i in range(CLAIMERS)]
    barrier = threading.Barrier(CLAIMERS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def claim(token: str) -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        r = client.post(f"/api/v1/cases/{case.id}/claim", headers=api_headers(token))
        with lock:
            results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=claim, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == CLAIMERS
    won = [body for status, body in results if status == 200]
    lost = [body for status, body in results if status == 409]
    assert len(won) == 1 and len(lost) == CLAIMERS - 1, [s for s, _ in results]
    winner = won[0]["owner"]["name"]
    assert all(
        b["error"] == {"code": "already_owned", "message": f"Already owned by {winner}.", "fields": {}}
        for b in lost
    )
    state, version, owner_id, events = case_snapshot(app, case.id)
    assert state == "apologise" and owner_id == won[0]["owner"]["id"]
    assert events == 2  # opened, claimed: one claim recorded

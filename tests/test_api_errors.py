"""Authentication, and the one error shape for every status under /api/; /healthz."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import api_headers, case_snapshot
from flask import Flask

from complaints import create_app
from complaints.config import TestConfig
from complaints.db import get_db
from complaints.models import User


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


INTAKE = {
    "customer": {"name": "Chen", "phone": "13800138000"},
    "channel": "phone",
    "summary": "Broken",
    "description": "Broken on arrival.",
    "category": "product",
    "severity": "normal",
}


# --- 401 ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/cases"),
        ("post", "/api/v1/cases"),
        ("get", "/api/v1/cases/1"),
        ("post", "/api/v1/cases/1/claim"),
    ],
)
def test_no_token_is_401(client, method, path):
    r = client.open(path, method=method.upper(), json={})
    error_of(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic dXNlcjpwdw==", "cpl_abc", "Token x"])
def test_bad_token_is_401(client, make, header):
    make.token(make.user("responder"))
    r = client.get("/api/v1/cases", headers={"Authorization": header})
    code = "invalid_token" if header == "Bearer nonsense" else "unauthorized"
    error_of(r, 401, code)


def test_a_session_cookie_alone_does_not_authenticate(client, auth, make, app):
    opener = make.user("frontline")
    case = make.case(opener)
    assert auth.login(opener).status_code == 302  # a logged-in browser session
    assert client.get("/").status_code == 200
    before = case_snapshot(app, case.id)
    error_of(client.get("/api/v1/cases"), 401, "unauthorized")
    error_of(client.get(f"/api/v1/cases/{case.id}"), 401, "unauthorized")
    error_of(client.post("/api/v1/cases", json=INTAKE), 401, "unauthorized")
    error_of(client.post(f"/api/v1/cases/{case.id}/withdraw", json={"reason": "x"}), 401, "unauthorized")
    error_of(client.get("/api/v1/cases", headers={"Authorization": "Bearer wrong"}), 401, "invalid_token")
    assert case_snapshot(app, case.id) == before


def test_the_token_decides_who_calls_even_with_a_cookie(client, auth, make):
    alice, bob = make.user("frontline"), make.user("frontline")
    mine = make.case(alice)
    assert auth.login(alice).status_code == 302
    r = client.get("/api/v1/cases", headers=api_headers(make.token(bob)))
    assert r.status_code == 200 and r.get_json()["items"] == []
    error_of(client.get(f"/api/v1/cases/{mine.id}", headers=api_headers(make.token(bob))), 403, "forbidden")


def test_a_deactivated_users_token_is_401(client, make, app):
    user = make.user("responder")
    token = make.token(user)
    assert client.get("/api/v1/cases", headers=api_headers(token)).status_code == 200
    with app.app_context(), get_db(app).transaction() as s:
        s.get(User, user.id).active = False
    error_of(client.get("/api/v1/cases", headers=api_headers(token)), 401, "invalid_token")


# --- 400, 413, 415 --------------------------------------------------------------------
def test_malformed_json_is_400(client, make):
    token = make.token(make.user("frontline"))
    headers = {**api_headers(token), "Content-Type": "application/json"}
    error_of(client.post("/api/v1/cases", data="{not json", headers=headers), 400, "invalid_json")
    error_of(client.post("/api/v1/cases", data="[1, 2]", headers=headers), 400, "invalid_body")
    error_of(client.post("/api/v1/cases", data='"text"', headers=headers), 400, "invalid_body")
    error_of(client.post("/api/v1/cases", data="null", headers=headers), 400, "invalid_body")
    error_of(client.post("/api/v1/cases", data="[" * 100000, headers=headers), 400, "invalid_json")


def test_non_json_body_is_415(client, make):
    token = make.token(make.user("frontline"))
    form = {k: v for k, v in INTAKE.items() if k != "customer"}
    error_of(
        client.post("/api/v1/cases", data=form, headers=api_headers(token)), 415, "unsupported_media_type"
    )
    r = client.post(
        "/api/v1/cases", data=json.dumps(INTAKE), headers={**api_headers(token), "Content-Type": "text/plain"}
    )
    error_of(r, 415, "unsupported_media_type")


def test_a_body_on_claim_must_be_json_too(client, make, app):
    case = make.case()
    token = make.token(make.user("responder"))
    before = case_snapshot(app, case.id)
    r = client.post(f"/api/v1/cases/{case.id}/claim", data="owner_id=3", headers=api_headers(token))
    error_of(r, 415, "unsupported_media_type")
    assert case_snapshot(app, case.id) == before
    # An empty JSON object is no body at all.
    assert (
        client.post(f"/api/v1/cases/{case.id}/claim", json={}, headers=api_headers(token)).status_code == 200
    )


def test_too_large_a_body_is_413(client, make, app):
    token = make.token(make.user("frontline"))
    app.config["MAX_CONTENT_LENGTH"] = 2048
    body = {**INTAKE, "description": "x" * 4096}
    error_of(
        client.post("/api/v1/cases", json=body, headers=api_headers(token)), 413, "request_entity_too_large"
    )


# --- 404, 405 --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_address_is_404_json_for_any_method(client, make, method):
    token = make.token(make.user("frontline"))
    for path in ("/api/v1/nothing-here", "/api/v2/cases", "/api/v1/cases/abc"):
        error_of(
            client.open(path, method=method.upper(), headers=api_headers(token), json={}), 404, "not_found"
        )


def test_an_id_beyond_any_database_is_404(client, make):
    token = make.token(make.user("responder"))
    huge = 2**63
    error_of(client.get(f"/api/v1/cases/{huge}", headers=api_headers(token)), 404, "not_found")
    error_of(client.get(f"/api/v1/cases/{huge}/events", headers=api_headers(token)), 404, "not_found")
    error_of(client.post(f"/api/v1/cases/{huge}/claim", headers=api_headers(token)), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(client, make):
    token = make.token(make.user("frontline"))
    r = client.delete("/api/v1/cases", headers=api_headers(token))
    error_of(r, 405, "method_not_allowed")
    assert {"GET", "POST"} <= set(r.headers["Allow"].replace(" ", "").split(","))
    error_of(client.get("/api/v1/cases/1/claim", headers=api_headers(token)), 405, "method_not_allowed")
    error_of(client.put("/api/v1/cases/1", headers=api_headers(token), json={}), 405, "method_not_allowed")
    error_of(client.post("/api/v1/openapi.json", json={}), 405, "method_not_allowed")


def test_web_pages_keep_their_own_errors(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"


# --- 403, 409, 422 in the same form --------------------------------------------------
def test_refusals_share_the_shape(client, make, app):
    case, owner = make.case_in("apologise")
    other = make.token(make.user("responder"))
    error_of(
        client.post(f"/api/v1/cases/{case.id}/steps/apologise", headers=api_headers(other), json={}),
        403,
        "forbidden",
    )
    error_of(client.post(f"/api/v1/cases/{case.id}/claim", headers=api_headers(other)), 409, "already_owned")
    err = error_of(
        client.post(
            f"/api/v1/cases/{case.id}/steps/apologise", headers=api_headers(make.token(owner)), json={}
        ),
        422,
        "invalid",
    )
    assert set(err["fields"]) == {"method", "apology"}


def test_list_parameters_are_validated(client, make, app):
    token = make.token(make.user("quality"))
    max_limit = app.config["API_MAX_LIMIT"]
    for query, field in [
        ("limit=0", "limit"),
        (f"limit={max_limit + 1}", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=WzFd", "cursor"),  # base64 of [1]: not this list's cursor
        ("state=lost", "state"),
        ("owner=someone", "owner"),
        ("owner=99999999999999999999", "owner"),
        ("cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgOTk5OTk5OTk5OTk5OTk5XQ", "cursor"),  # id too large
        ("q=" + "x" * 201, "q"),
    ]:
        err = error_of(client.get(f"/api/v1/cases?{query}", headers=api_headers(token)), 422, "invalid")
        assert set(err["fields"]) == {field}, query
    assert client.get(f"/api/v1/cases?limit={max_limit}", headers=api_headers(token)).status_code == 200


# --- 500 and /healthz ---------------------------------------------------------------
@pytest.fixture
def broken_app(tmp_path) -> Flask:
    """The app with its database out of reach (a directory that does not exist)."""
    overrides = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    overrides["DATABASE_URL"] = f"sqlite:///{tmp_path}/missing/dir/complaints.db"
    app = create_app(overrides)
    yield app
    get_db(app).dispose()


def test_an_unexpected_failure_is_500_in_the_error_form(broken_app):
    client = broken_app.test_client()
    error_of(client.get("/api/v1/cases", headers=api_headers("cpl_whatever")), 500, "internal_error")
    error_of(
        client.post("/api/v1/cases", json=INTAKE, headers=api_headers("cpl_whatever")), 500, "internal_error"
    )
    # The document needs no database.
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_api_answers_are_never_cached(client, make):
    r = client.get("/api/v1/cases", headers=api_headers(make.token(make.user("frontline"))))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/cases").headers["Cache-Control"] == "no-store"


def test_healthz_ok_without_login(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


def test_healthz_503_without_database(broken_app):
    r = broken_app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json() == {"status": "unavailable"}

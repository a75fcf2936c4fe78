"""The editable forbidden-phrase list: seeded once, edited by quality managers, used at once.

The guard itself (normalisation, word boundaries) is tested in test_phrases.py; here the list
lives in the database: built-in rows seeded idempotently, additions and deactivations taking
effect on the very next message, refusals of unusable and duplicate phrases, who may edit.
"""

from __future__ import annotations

import logging

import pytest
from conftest import api_headers, csrf_from
from sqlalchemy import func, select
from test_phrases import ORDINARY, variants
from test_web_support import check_page, field_block, get, reading

from complaints.db import get_db
from complaints.models import ForbiddenPhrase
from complaints.phrases import DEFAULT_PHRASES, normalize
from complaints.services import phrase_list

DEFAULT_COUNT = len({normalize(p.text) for p in DEFAULT_PHRASES})
PAGE = "/quality/phrases"


def phrase_rows(app) -> dict[str, ForbiddenPhrase]:
    with reading(app) as s:
        return {row.phrase: row for row in s.scalars(select(ForbiddenPhrase))}


def row_id(app, phrase: str) -> int:
    return phrase_rows(app)[phrase].id


def post_form(client, url: str, data: dict[str, str] | None = None):
    token = csrf_from(client.get(PAGE).text)
    return client.post(url, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def quality(make, auth):
    manager = make.user("quality", name="Quinn Quality")
    auth.login(manager)
    return manager


@pytest.fixture
def owner_token(make):
    """A case at analyse and its owner's API token: progress updates test the list."""
    owner = make.user("responder", name="Olga Owner")
    case, _ = make.case_in("analyse", owner=owner)
    return case, make.token(owner)


def send_update(client, case, token: str, body: str):
    return client.post(f"/api/v1/cases/{case.id}/updates", json={"body": body}, headers=api_headers(token))


# --- seeding ------------------------------------------------------------------------------
def test_the_defaults_are_seeded_once_and_a_deactivated_one_is_not_added_back(app, clock):
    with app.app_context(), get_db(app).transaction() as s:
        assert phrase_list.ensure_default_phrases(s, clock.now) == DEFAULT_COUNT
        assert phrase_list.ensure_default_phrases(s, clock.now) == 0
    rows = phrase_rows(app)
    assert len(rows) == DEFAULT_COUNT and all(r.builtin and r.active for r in rows.values())
    assert {p.text for p in DEFAULT_PHRASES} <= set(rows)  # every phrase of DOMAIN §4, as written
    in_id_order = [r.phrase for r in sorted(rows.values(), key=lambda r: r.id)]
    assert in_id_order == list(dict.fromkeys(p.text for p in DEFAULT_PHRASES))  # the list's order
    with app.app_context(), get_db(app).transaction() as s:
        s.get(ForbiddenPhrase, rows["不知道"].id).active = False
    with app.app_context(), get_db(app).transaction() as s:
        assert phrase_list.ensure_default_phrases(s) == 0
    rows = phrase_rows(app)
    assert len(rows) == DEFAULT_COUNT and rows["不知道"].active is False


def test_init_db_seeds_the_list(app):
    result = app.test_cli_runner().invoke(args=["complaints", "init-db"])
    assert result.exit_code == 0, result.output
    assert len(phrase_rows(app)) == DEFAULT_COUNT
    result = app.test_cli_runner().invoke(args=["complaints", "init-db"])
    assert result.exit_code == 0 and len(phrase_rows(app)) == DEFAULT_COUNT


def test_an_empty_list_is_seeded_on_first_use(app, client, make):
    owner = make.user("responder")
    case = make.claim(make.case(), owner)  # no customer-facing text checked yet
    token = make.token(owner)
    with reading(app) as s:
        assert s.scalar(select(func.count()).select_from(ForbiddenPhrase)) == 0
    r = send_update(client, case, token, "我也不知道什么时候能修好。")
    assert r.status_code == 422 and "不知道" in r.get_json()["error"]["message"]
    # The refused request was rolled back, seed and all; an accepted one keeps it.
    assert send_update(client, case, token, "工程师明天上门。").status_code == 201
    assert len(phrase_rows(app)) == DEFAULT_COUNT


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("不 知 道!", "不知道"),
        ("不知道。", "不知道"),
        ("I DON'T KNOW", "I don't know"),
        ("这事不归我管，你找别人吧", "这事不归我管"),
        ("ｉ’ｍ　ｂｕｓｙ", "I'm busy"),
    ],
)
def test_the_guard_uses_the_list_in_the_database(app, text, phrase):
    with app.app_context(), get_db(app).transaction() as s:
        assert phrase_list.find_forbidden(s, text) == phrase
        assert phrase_list.find_forbidden(s, "我们已经安排工程师明天上门检修。") is None


def test_every_listed_phrase_is_refused_in_generated_variants_and_ordinary_text_is_not(app):
    """Through the database list: three generated variants per mutation of every phrase on it."""
    with app.app_context(), get_db(app).transaction() as s:
        listed = [row.phrase for row in phrase_list.list_phrases(s)]
        assert len(listed) == DEFAULT_COUNT
        for phrase in listed:
            for text in variants(phrase, per_mutation=3):
                assert phrase_list.find_forbidden(s, text) is not None, (phrase, text)
        for text in ORDINARY:
            assert phrase_list.find_forbidden(s, text) is None, text


def test_ordinary_updates_go_through(client, owner_token):
    case, token = owner_token
    for text in ORDINARY[:10]:
        assert send_update(client, case, token, text).status_code == 201, text


def test_the_compiled_guard_is_reused_until_the_list_changes(app, make, clock):
    manager = make.user("quality")
    with app.app_context(), get_db(app).transaction() as s:
        first = phrase_list.active_guard(s)
        assert phrase_list.active_guard(s) is first
        phrase_list.set_phrase_active(s, manager, row_id_in(s, "我没空"), False, clock.now)
        second = phrase_list.active_guard(s)
        assert second is not first and "我没空" not in second.phrases
        assert phrase_list.active_guard(s) is second
        phrase_list.set_phrase_active(s, manager, row_id_in(s, "我没空"), True, clock.now)
        assert "我没空" in phrase_list.active_guard(s).phrases


def row_id_in(s, phrase: str) -> int:
    return s.scalar(select(ForbiddenPhrase.id).where(ForbiddenPhrase.phrase == phrase))


# --- quality managers edit it --------------------------------------------------------------
def test_the_page_lists_builtin_phrases(client, quality):
    page = get(client, PAGE)
    assert "Forbidden phrases" in page and "这事不归我管" in page and "I don&#39;t know" in page
    assert f"{DEFAULT_COUNT} phrases are refused now." in page
    assert f'href="{PAGE}"' in get(client, "/")  # in the main navigation


def test_an_added_phrase_is_refused_from_the_next_message(app, client, quality, owner_token, caplog):
    case, token = owner_token
    assert send_update(client, case, token, "这个问题需要找厂家。").status_code == 201
    caplog.set_level(logging.INFO)
    r = post_form(client, PAGE, {"phrase": "找厂家"})
    assert r.status_code == 302
    page = get(client, PAGE)
    assert "“找厂家” is refused from now on." in page and "Quinn Quality on" in page
    row = phrase_rows(app)["找厂家"]
    assert row.active and not row.builtin and row.created_by_id == quality.id
    assert any("找厂家" in m and f"added by user {quality.id}" in m for m in caplog.messages)

    r = send_update(client, case, token, "这个问题需要找 厂家！")
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "forbidden_phrase" and "找厂家" in error["message"]


def test_deactivating_a_builtin_phrase_allows_it_and_reactivating_refuses_it_again(
    app, client, quality, owner_token
):
    case, token = owner_token
    text = "这种情况不可能再发生了。"
    assert send_update(client, case, token, text).status_code == 422
    pid = row_id(app, "不可能")
    assert post_form(client, f"{PAGE}/{pid}/deactivate").status_code == 302
    assert "“不可能” is deactivated: messages may say it." in get(client, PAGE)
    assert phrase_rows(app)["不可能"].active is False
    assert send_update(client, case, token, text).status_code == 201
    # Deactivated, never deleted: seeding again does not bring it back.
    with app.app_context(), get_db(app).transaction() as s:
        assert phrase_list.ensure_default_phrases(s) == 0
    assert send_update(client, case, token, text).status_code == 201

    assert post_form(client, f"{PAGE}/{pid}/activate").status_code == 302
    assert send_update(client, case, token, text).status_code == 422


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("？！…——", "A phrase needs at least one letter or digit"),
        ("不", "A phrase of one character would refuse almost every message."),
        ("不 知 道", "“不知道” is on the list already."),
        ("i DONT know!", "“I don&#39;t know” is on the list already."),
        ("x" * 201, "At most 200 characters."),
        ("随便\u200b你", "Contains characters that are not allowed."),
    ],
)
def test_unusable_and_duplicate_phrases_are_refused_with_a_clear_message(
    app, client, quality, typed, message
):
    get(client, PAGE)  # seeds the list
    before = len(phrase_rows(app))
    r = post_form(client, PAGE, {"phrase": typed})
    assert r.status_code == 422
    check_page(r.text)
    assert "The phrase was not added." in r.text
    block = field_block(r.text, "phrase-phrase")
    assert "field--error" in block and message in block
    if typed.strip() and len(typed) < 50:
        assert f'value="{typed}"' in block  # what was typed stays in the field
    assert len(phrase_rows(app)) == before


def test_a_duplicate_of_a_deactivated_phrase_says_to_reactivate_it(app, client, quality):
    get(client, PAGE)
    post_form(client, f"{PAGE}/{row_id(app, '我没空')}/deactivate")
    r = post_form(client, PAGE, {"phrase": "我 没 空"})
    assert r.status_code == 422
    assert "“我没空” is on the list already, deactivated: reactivate it instead." in r.text


def test_only_the_manager_who_added_a_phrase_deletes_it_and_builtin_ones_never(
    app, client, make, auth, quality
):
    get(client, PAGE)
    post_form(client, PAGE, {"phrase": "等着吧"})
    mine = row_id(app, "等着吧")
    builtin = row_id(app, "不知道")
    page = get(client, PAGE)
    assert f"{PAGE}/{mine}/delete" in page and f"{PAGE}/{builtin}/delete" not in page

    r = post_form(client, f"{PAGE}/{builtin}/delete")
    assert r.status_code == 302
    assert "A built-in phrase cannot be deleted; deactivate it instead." in get(client, PAGE)
    assert "不知道" in phrase_rows(app)

    other = make.user("quality", name="Other Quality")
    auth.logout()
    auth.login(other)
    assert f"{PAGE}/{mine}/delete" not in get(client, PAGE)
    assert post_form(client, f"{PAGE}/{mine}/delete").status_code == 403
    assert post_form(client, f"{PAGE}/{mine}/deactivate").status_code == 302  # anyone may deactivate
    assert phrase_rows(app)["等着吧"].active is False

    auth.logout()
    auth.login(quality)
    assert post_form(client, f"{PAGE}/{mine}/delete").status_code == 302
    assert "The phrase was deleted." in get(client, PAGE)
    assert "等着吧" not in phrase_rows(app)
    assert post_form(client, f"{PAGE}/{mine}/delete").status_code == 404
    assert post_form(client, f"{PAGE}/999999/deactivate").status_code == 404


@pytest.mark.parametrize("roles", [("responder",), ("frontline",), ("admin",), ("frontline", "responder")])
def test_only_quality_managers_edit_the_list(app, client, make, auth, roles):
    with app.app_context(), get_db(app).transaction() as s:
        phrase_list.ensure_default_phrases(s)
    before = {k: (v.active, v.id) for k, v in phrase_rows(app).items()}
    pid = before["不知道"][1]
    auth.login(make.user(*roles))
    assert client.get(PAGE).status_code == 403
    assert f'href="{PAGE}"' not in get(client, "/")
    token = csrf_from(client.get("/").text)
    for url, data in [
        (PAGE, {"phrase": "随便你"}),
        (f"{PAGE}/{pid}/deactivate", {}),
        (f"{PAGE}/{pid}/activate", {}),
        (f"{PAGE}/{pid}/delete", {}),
    ]:
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert {k: (v.active, v.id) for k, v in phrase_rows(app).items()} == before


def test_logged_out_visitors_are_sent_to_login(client):
    r = client.get(PAGE)
    assert r.status_code == 302 and "/login" in r.headers["Location"]

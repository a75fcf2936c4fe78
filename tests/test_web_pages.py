"""Login and logout, the language switch, homes per role, the case list, intake errors, error pages."""

from __future__ import annotations

import re
from datetime import datetime

from conftest import PASSWORD, csrf_from
from sqlalchemy import select
from test_web_support import field_block, follow, get, post, reading

from complaints.models import Case, User


# --- signing in and out -----------------------------------------------------------
def test_wrong_credentials_stay_on_the_login_page(client, make, auth):
    user = make.user("responder", email="rob@example.com")
    page = get(client, "/login")
    assert 'name="email"' in page and 'name="password"' in page
    for email, password in (("rob@example.com", "wrong password"), ("nobody@example.com", PASSWORD)):
        r = auth.login(email, password)
        assert r.status_code == 200
        assert "Wrong email or password." in r.text
        assert 'value="rob@example.com"' in r.text or email != "rob@example.com"  # the email is kept
        assert password not in r.text
    assert client.get("/").status_code == 302  # still not signed in
    assert auth.login(user).status_code == 302
    assert "Hello, " in get(client, "/")


def test_pages_need_a_login_and_return_there_after_it(client, make):
    user = make.user("frontline")
    r = client.get("/cases?state=new")
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    page = follow(client, r)
    assert "Please log in to see this page." in page
    assert 'name="next" value="/cases?state=new"' in page
    r = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "next": "/cases?state=new",
            "csrf_token": csrf_from(page),
        },
    )
    assert r.headers["Location"] == "/cases?state=new"


def test_login_never_redirects_off_site(client, make):
    user = make.user("frontline")
    page = client.get("/login").text
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/login").text)})
        r = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "next": target, "csrf_token": csrf_from(page)},
        )
        assert r.status_code == 302 and r.headers["Location"] == "/", target
        page = client.get("/").text
        client.post("/logout", data={"csrf_token": csrf_from(page)})
        page = client.get("/login").text


def test_logout_ends_the_session_everywhere(app, client, make, auth):
    user = make.user("responder")
    auth.login(user)
    assert client.get("/").status_code == 200
    old_cookie = client.get_cookie("session").value
    r = auth.logout()
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert "You have logged out." in get(client, "/login")
    assert client.get("/").status_code == 302
    # The cookie from before the logout no longer works either.
    client.set_cookie("session", old_cookie)
    assert client.get("/").status_code == 302
    assert client.get("/logout").status_code == 405  # logging out is a POST, with CSRF


# --- language -----------------------------------------------------------------------
def test_the_language_switch_stores_the_locale(app, client, make, auth):
    user = make.user("responder")
    auth.login(user)
    page = get(client, "/cases")
    assert '<html lang="en">' in page
    assert 'name="locale" value="zh_CN"' in page
    r = post(client, "/settings/language", {"locale": "zh_CN", "next": "/cases"})
    assert r.status_code == 302 and r.headers["Location"] == "/cases"
    with reading(app) as s:
        assert s.get(User, user.id).locale == "zh_CN"
    assert '<html lang="zh-CN">' in get(client, "/cases")
    # It follows the account to a new session.
    auth.logout()
    auth.login(user)
    assert '<html lang="zh-CN">' in get(client, "/")
    assert post(client, "/settings/language", {"locale": "klingon"}).status_code == 400
    assert (
        post(client, "/settings/language", {"locale": "en", "next": "https://evil.example"}).headers[
            "Location"
        ]
        == "/"
    )
    with reading(app) as s:
        assert s.get(User, user.id).locale == "en"


def test_the_language_switch_works_before_login(client):
    page = get(client, "/login")
    r = client.post(
        "/settings/language", data={"locale": "zh_CN", "next": "/login", "csrf_token": csrf_from(page)}
    )
    assert r.headers["Location"] == "/login"
    assert '<html lang="zh-CN">' in get(client, "/login")


# --- homes ------------------------------------------------------------------------
def test_each_role_sees_its_sections(app, client, make, auth, clock):
    clock.now = datetime(2026, 3, 2, 1, 0)  # Monday 09:00 in Asia/Shanghai: limits count working hours
    agent = make.user("frontline", name="Ann")
    responder = make.user("responder", name="Rob")
    quality = make.user("quality", name="Qi")
    everyone = make.user("frontline", "responder", "quality", name="Eve")
    opened = make.case(agent, summary="Kettle trips the fuse")
    older = make.case(agent, summary="Oldest waiting")
    clock.advance(minutes=5)
    newer = make.case(agent, summary="Newer waiting")
    make.claim(opened, responder)

    auth.login(agent)
    home = get(client, "/")
    assert "Cases I opened" in home and "Kettle trips the fuse" in home
    assert "Unclaimed queue" not in home and "Recent cases" not in home
    auth.logout()

    auth.login(responder)
    home = get(client, "/")
    queue = home.split('id="queue-title"', 1)[1].split('id="mine-title"', 1)[0]
    assert queue.index(older.reference) < queue.index(newer.reference)  # oldest first
    assert queue.count("Claim<span") == 2
    mine = home.split('id="mine-title"', 1)[1]
    assert opened.reference in mine and "Apologise" in mine and "Overdue" not in mine
    assert "Cases I opened" not in home and "Recent cases" not in home
    clock.advance(hours=3)  # the apology was due within 2 hours
    mine = get(client, "/").split('id="mine-title"', 1)[1]
    assert "Overdue" in mine
    auth.logout()

    auth.login(quality)
    home = get(client, "/")
    assert "Recent cases" in home and opened.reference in home
    assert "Unclaimed queue" not in home and "Open a case" not in home
    page = get(client, f"/cases/{opened.id}")  # quality reads every case, but does not act
    assert 'name="version"' not in page and "Claim this case" not in page
    assert client.get("/cases/new").status_code == 403
    auth.logout()

    auth.login(everyone)
    home = get(client, "/")
    for section in ("Unclaimed queue", "My open cases", "Cases I opened", "Recent cases", "Open a case"):
        assert section in home


def test_times_are_shown_in_the_configured_time_zone(app, client, make, auth, clock):
    clock.now = datetime(2026, 3, 2, 2, 30)  # UTC; Asia/Shanghai is 8 hours ahead; a Monday
    agent = make.user("frontline")
    case = make.case(agent)
    auth.login(agent)
    page = get(client, f"/cases/{case.id}")
    assert "2026-03-02 10:30" in page
    assert "2026-03-02 14:30" in page  # the claim deadline: four working hours later


# --- the case list ------------------------------------------------------------------
def test_the_list_pages_by_cursor_and_filters(app, client, make, auth, clock):
    app.config["PAGE_SIZE"] = 3
    agent = make.user("frontline")
    responder = make.user("responder")
    cases = []
    for i in range(7):
        cases.append(make.case(agent, summary=f"Complaint number {i}", product=f"Model-{i}X"))
        clock.advance(minutes=1)
    make.claim(cases[2], responder)
    auth.login(responder)

    seen: list[str] = []
    url = "/cases"
    pages = 0
    while url:
        page = get(client, url)
        pages += 1
        seen += re.findall(r'href="/cases/\d+">(C-\d{4}-\d{6})</a>', page)
        m = re.search(r'rel="next" href="([^"]+)"', page)
        url = m.group(1).replace("&amp;", "&") if m else ""
        if pages > 1:
            assert "First page" in page
    # Newest first, every visible case once: the six unclaimed ones and the one I own.
    assert pages == 3
    assert seen == [c.reference for c in reversed(cases)]

    mine = get(client, "/cases?owner=me")
    assert re.findall(r"(C-\d{4}-\d{6})</a>", mine) == [cases[2].reference]
    new = get(client, "/cases?state=new&owner=none")
    assert re.findall(r"(C-\d{4}-\d{6})</a>", new) == [c.reference for c in (cases[6], cases[5], cases[4])]
    # q: a case-insensitive substring of reference, summary, customer, phone or product.
    for q, expected in (
        ("model-4x", [cases[4]]),
        ("NUMBER 5", [cases[5]]),
        (cases[1].reference.lower(), [cases[1]]),
        ("陈先生", list(reversed(cases))[:3]),
        ("0013 8000", list(reversed(cases))[:3]),
        ("100%", []),
    ):
        page = get(client, f"/cases?q={q}")
        found = re.findall(r'href="/cases/\d+">(C-\d{4}-\d{6})</a>', page)
        assert found == [c.reference for c in expected], q
    assert get(client, "/cases?cursor=not-a-cursor", status=400)
    assert "This page link is no longer valid" in client.get("/cases?cursor=bm9wZQ").text


# --- intake -----------------------------------------------------------------------
def test_intake_errors_show_next_to_the_fields_and_keep_the_text(app, client, make, auth):
    agent = make.user("frontline")
    auth.login(agent)
    page = get(client, "/cases/new")
    assert '<option selected value="normal">' in page  # severity defaults to normal
    data = {
        "customer_name": "王小明",
        "customer_phone": "",
        "customer_email": "",
        "channel": "email",
        "summary": "",
        "description": "The fridge is loud at night.",
        "product": "",
        "serial_number": "",
        "purchase_date": "2999-01-01",
        "category": "product",
        "severity": "normal",
    }
    r = client.post("/cases/new", data={**data, "csrf_token": csrf_from(page)})
    assert r.status_code == 422
    assert "Give a phone number or an email address." in field_block(r.text, "intake-customer_phone")
    assert "This field is required." in field_block(r.text, "intake-summary")
    assert "The purchase date cannot be in the future." in field_block(r.text, "intake-purchase_date")
    assert 'value="王小明"' in field_block(r.text, "intake-customer_name")
    assert "The fridge is loud at night.</textarea>" in r.text
    assert '<option selected value="email">' in r.text
    with reading(app) as s:
        assert s.scalars(select(Case)).first() is None


def test_intake_is_for_frontline_and_responders(client, make, auth):
    auth.login(make.user("quality"))
    assert client.get("/cases/new").status_code == 403
    assert "Open a case" not in get(client, "/")


def test_a_customer_is_found_again_by_phone(app, client, make, auth):
    agent = make.user("frontline")
    first = make.case(agent, customer_phone="138-0013-8000")
    auth.login(agent)
    page = get(client, "/cases/new")
    data = {
        "customer_name": "Mr Chen",
        "customer_phone": "13800138000",
        "channel": "phone",
        "summary": "Second complaint",
        "description": "Again.",
        "category": "service",
        "severity": "low",
        "csrf_token": csrf_from(page),
    }
    r = client.post("/cases/new", data=data)
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with reading(app) as s:
        assert s.get(Case, case_id).customer_id == first.customer_id


# --- error pages --------------------------------------------------------------------
def test_error_pages_are_html_except_under_the_api(client, make, auth):
    auth.login(make.user("responder"))
    r = client.get("/cases/987654")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "Not found" in r.text and "Go to the home page" in r.text
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "Go to the home page" in r.text
    r = client.get("/cases/1/claim")
    assert r.status_code == 405 and "Go to the home page" in r.text
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert "Go to the home page" not in r.text and r.mimetype != "text/html"


def test_the_case_page_is_accessible_and_self_contained(app, client, make, auth):
    """Every field labelled, unique ids, the progress bar readable as text; local assets only."""
    owner = make.user("responder")
    case, _ = make.case_in("act", owner=owner)
    auth.login(owner)
    page = get(client, f"/cases/{case.id}")  # get() checks labels, ids, no inline script/style
    progress = page.split('<ol class="steps">', 1)[1].split("</ol>", 1)[0]
    assert progress.count("<li") == 8
    assert progress.count('aria-current="step"') == 1
    assert progress.count(">Completed</span>") == 5 and progress.count(">Pending</span>") == 2
    assert "Current step</span>" in progress
    assert "http://" not in page and "https://" not in page  # no CDN
    with client.get("/static/css/app.css") as css:
        assert css.status_code == 200 and '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC"' in css.text
    with client.get("/static/js/app.js") as js:
        assert js.status_code == 200
    for url in ("/", "/cases", "/cases/new"):
        get(client, url)

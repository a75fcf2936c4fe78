"""End-to-end journeys in a real browser, in English and in Simplified Chinese.

A front-line agent opens a case; a responder claims it and completes all eight steps by
typing, choosing and submitting; a second responder sees it is owned and cannot act;
validation errors appear next to their fields; search finds the case by a Chinese substring.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from conftest import PASSWORD

from e2e.conftest import shot

pytestmark = pytest.mark.e2e

LOCALES = {
    # browser locale, staff locale, and words each page must show in that language
    "en": (
        "en-GB",
        "en",
        {
            "apologise": "Apologise",
            "verify": "Verify satisfaction",
            "closed": "Closed",
            "owned": "owned by",
            "required": "required",
        },
    ),
    "zh": (
        "zh-CN",
        "zh_CN",
        {"apologise": "致歉", "verify": "确认满意", "closed": "已关闭", "owned": "负责", "required": "必填"},
    ),
}


def login(page, server, user) -> None:
    page.goto(server.url + "/login")
    form = page.locator("main form")
    form.locator("[name=email]").fill(user.email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def fill(form, values: dict[str, str]) -> None:
    """Type into text fields, choose in selects: what a person does."""
    for name, value in values.items():
        el = form.locator(f"[name='{name}']")
        tag = el.evaluate("e => e.tagName")
        if tag == "SELECT":
            el.select_option(value)
        else:
            el.fill(value)


def step_values(step: str, variant: str = "forward") -> dict[str, str]:
    today = date.today()
    done = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    values = {
        "apologise": {"method": "phone", "apology": "陈先生,非常抱歉给您带来不便,我们会负责到底。"},
        "listen": {
            "account": "新电脑按电源键没有反应。",
            "expectation": "换一台新机",
            "temperament": "angry",
        },
        "confirm": {
            "restatement": "电脑无法开机,您希望换新机。",
            "customer_response": "confirmed",
            "via": "phone",
        },
        "analyse": {"root_cause_category": "product", "root_cause": "主板电源模块虚焊"},
        "agree": {
            "remedy": "exchange",
            "remedy_detail": "更换同型号新机",
            "due_date": (today + timedelta(days=3)).isoformat(),
            "customer_response": "accepted",
            "via": "phone",
        },
        "act": {"actions-0-description": "已更换新机并当面测试", "actions-0-done_at": done},
        "prevent": {"department": "quality", "preventive_action": "出厂前增加电源模块检测"},
        "verify": {"satisfaction": "satisfied", "score": "5", "comment": "满意", "via": "phone"},
    }[step]
    if variant == "corrected":
        values = {**values, "customer_response": "corrected", "correction": "是充电后仍无法开机"}
    if variant == "declined":
        values = {**values, "customer_response": "declined", "reason": "希望退款而不是换机"}
    if variant == "dissatisfied":
        values = {**values, "satisfaction": "dissatisfied", "score": "2"}
    return values


def do_step(page, step: str, variant: str = "forward") -> None:
    form = page.locator(f"form[action$='/steps/{step}']")
    fill(form, step_values(step, variant))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def current_step_text(page) -> str:
    return page.locator("[aria-current=step]").inner_text()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_open_claim_and_drive_a_case_through_eight_steps(lang, make, live_server, page_for):
    browser_locale, staff_locale, words = LOCALES[lang]
    front = make.user("frontline", locale=staff_locale, name="李芳")
    owner = make.user("responder", locale=staff_locale, name="王伟")
    other = make.user("responder", locale=staff_locale, name="Sam Taylor")

    # The front-line agent opens a case in the browser.
    page = page_for(browser_locale)
    login(page, live_server, front)
    page.goto(live_server.url + "/cases/new")
    form = page.locator("main form")
    fill(
        form,
        {
            "customer_name": "陈先生",
            "customer_phone": "138 0013 8000",
            "channel": "phone",
            "summary": "电脑无法开机",
            "description": "新买的笔记本电脑按电源键没有任何反应。",
            "product": "ThinkBook 14",
            "serial_number": "PF3ABC12",
            # Bought five days ago: exchange is within the remedy policy (three guarantees).
            "purchase_date": (date.today() - timedelta(days=5)).isoformat(),
            "category": "product",
            "severity": "high",
        },
    )
    shot(page, f"{lang}-01-intake")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    m = re.search(r"/cases/(\d+)", page.url)
    assert m, page.url
    case_url = live_server.url + m.group(0)
    reference = re.search(r"C-\d{4}-\d{6}", page.content()).group(0)
    assert "电脑无法开机" in page.content()

    # The responder claims it from the unclaimed queue.
    page = page_for(browser_locale)
    login(page, live_server, owner)
    row = page.locator("tr", has_text=reference)
    shot(page, f"{lang}-02-responder-home")
    row.locator("form[action$='/claim'] button").click()
    page.wait_for_load_state()
    page.goto(case_url)
    assert words["apologise"] in current_step_text(page)

    # A second responder sees it is owned and cannot act.
    page2 = page_for(browser_locale)
    login(page2, live_server, other)
    resp = page2.goto(case_url)
    assert resp.status == 403
    assert "王伟" in page2.content() and words["owned"] in page2.content()
    assert page2.locator("form[action*='/steps/']").count() == 0
    shot(page2, f"{lang}-03-owned-by-someone-else")

    # A validation error appears next to its field and keeps what was typed.
    form = page.locator("form[action$='/steps/apologise']")
    fill(form, {"method": "visit", "apology": ""})
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    form = page.locator("form[action$='/steps/apologise']")
    error = form.locator(".field--error .field__error")
    assert error.count() >= 1 and words["required"] in error.first.inner_text()
    assert form.locator("[name=method]").input_value() == "visit"
    shot(page, f"{lang}-04-validation-error")

    # All eight steps, with every loop taken once.
    path = [
        ("apologise", "forward"),
        ("listen", "forward"),
        ("confirm", "corrected"),
        ("listen", "forward"),
        ("confirm", "forward"),
        ("analyse", "forward"),
        ("agree", "declined"),
        ("agree", "forward"),
        ("act", "forward"),
        ("prevent", "forward"),
        ("verify", "dissatisfied"),
        ("analyse", "forward"),
        ("agree", "forward"),
        ("act", "forward"),
        ("prevent", "forward"),
        ("verify", "forward"),
    ]
    for i, (step, variant) in enumerate(path):
        do_step(page, step, variant)
        if i == 6:
            shot(page, f"{lang}-05-mid-journey")
    page.goto(case_url)
    assert page.locator("[aria-current=step]").count() == 0
    assert words["closed"] in page.locator("main").inner_text()
    assert "更换同型号新机" in page.content() and "希望退款而不是换机" in page.content()
    shot(page, f"{lang}-06-closed")

    # Search finds the case by a Chinese substring, from the box on every staff page.
    page.locator("form[role=search] input").fill("开机")
    page.locator("form[role=search] button").click()
    page.wait_for_load_state()
    assert reference in page.content()
    shot(page, f"{lang}-07-search")

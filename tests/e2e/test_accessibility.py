"""axe-core on every main page, in both languages: no serious or critical violations."""

from __future__ import annotations

import json

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import PASSWORD

from e2e.conftest import ARTIFACTS, shot

pytestmark = pytest.mark.e2e

BLOCKING = {"serious", "critical"}


def login(page, server, user) -> None:
    page.goto(server.url + "/login")
    form = page.locator("main form")
    form.locator("[name=email]").fill(user.email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_main_pages_have_no_serious_accessibility_violations(lang, make, live_server, page_for):
    front = make.user("frontline", locale=lang)
    owner = make.user("responder", locale=lang)
    quality = make.user("quality", locale=lang)
    case, _ = make.case_in("analyse", owner=owner, opener=front)
    make.case(opener=front, summary="Invoice charged twice")

    pages = {
        "login": (None, "/login"),
        "home-frontline": (front, "/"),
        "intake": (front, "/cases/new"),
        "home-responder": (owner, "/"),
        "case-list": (owner, "/cases"),
        "search": (owner, "/cases?q=%E5%BC%80%E6%9C%BA"),
        "case-page": (owner, f"/cases/{case.id}"),
        "home-quality": (quality, "/"),
        "audits": (quality, "/audits"),
        "reports": (quality, "/reports"),
    }
    axe = Axe()
    report = {}
    failures = []
    logged_in_as = {}
    for name, (user, path) in pages.items():
        key = user.email if user else "anonymous"
        page = logged_in_as.get(key)
        if page is None:
            page = page_for("zh-CN" if lang == "zh_CN" else "en-GB")
            if user is not None:
                login(page, live_server, user)
            logged_in_as[key] = page
        response = page.goto(live_server.url + path)
        assert response.status == 200, (name, response.status)
        shot(page, f"a11y-{lang}-{name}")
        violations = axe.run(page).response["violations"]
        report[name] = {v["id"]: {"impact": v["impact"], "nodes": len(v["nodes"])} for v in violations}
        failures += [
            (name, v["id"], v["impact"], v["nodes"][0]["target"])
            for v in violations
            if v["impact"] in BLOCKING
        ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{lang}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    assert not failures, failures

"""Helpers shared by the web tests (this module holds no tests of its own).

The web tests read the database through `reading(app)` rather than the `db` fixture: that
fixture keeps an application context pushed for the whole test, and the test client then
reuses it for every request, so `g` (the request's DB session, the logged-in user, the
CSRF token) would leak from one request into the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

from conftest import csrf_from
from flask import Flask
from sqlalchemy.orm import Session

from complaints.db import get_db

VERSION_RE = re.compile(r'name="version" value="(\d+)"')
CURRENT_RE = re.compile(
    r'<li class="steps__item steps__item--current" aria-current="step">\s*'
    r'<span class="steps__num" aria-hidden="true">(\d)</span>\s*'
    r'<span class="steps__label">([^<]+)</span>\s*<span class="steps__status">Current step</span>'
)
STEP_LABELS = {
    "apologise": "Apologise",
    "listen": "Listen",
    "confirm": "Confirm",
    "analyse": "Analyse",
    "agree": "Agree",
    "act": "Act",
    "prevent": "Prevent",
    "verify": "Verify satisfaction",
}


@contextmanager
def reading(app: Flask) -> Iterator[Session]:
    """A short-lived session of its own, outside any request."""
    s = get_db(app).new_session()
    try:
        yield s
    finally:
        s.close()  # objects read stay usable, detached


class PageAudit(HTMLParser):
    """Form controls and their labels, ids, inline scripts and style attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str | None] = []
        self.labels: set[str] = set()
        self.ids: list[str] = []
        self.inline_scripts = 0
        self.style_attrs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if "style" in a:
            self.style_attrs += 1
        if tag == "style" or (tag == "script" and not a.get("src")):
            self.inline_scripts += 1
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        if tag in ("select", "textarea") or (
            tag == "input" and a.get("type") not in ("hidden", "submit", "button")
        ):
            self.controls.append(a.get("id"))


def check_page(html: str) -> None:
    """Every form field has a <label>, ids are unique, no inline script or style (a CSP comes later)."""
    p = PageAudit()
    p.feed(html)
    assert None not in p.controls, "a form control without an id (so without a label)"
    missing = [c for c in p.controls if c not in p.labels]
    assert not missing, f"form controls without a <label>: {missing}"
    dupes = {i for i in p.ids if p.ids.count(i) > 1}
    assert not dupes, f"duplicate ids: {dupes}"
    assert p.inline_scripts == 0, "inline <script> or <style>"
    assert p.style_attrs == 0, "style= attribute"


def get(client: Any, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    if r.mimetype == "text/html":
        check_page(r.text)
    return r.text


def post(client: Any, url: str, data: dict[str, Any], token_from: str = "/") -> Any:  # noqa: S107 - a page, not a password
    """Post like the browser: with a CSRF token taken from a page of the same session."""
    token = csrf_from(client.get(token_from).text)
    return client.post(url, data={**data, "csrf_token": token})


def follow(client: Any, response: Any) -> str:
    """The page a redirect leads to."""
    assert response.status_code == 302, (response.status_code, response.text[:1000])
    return get(client, response.headers["Location"].split("#")[0])


def current_step(html: str) -> str:
    m = CURRENT_RE.search(html)
    assert m, "no current step marked with aria-current"
    return m.group(2)


def version_on(html: str) -> int:
    m = VERSION_RE.search(html)
    assert m, "no step form on the page"
    return int(m.group(1))


def as_form(evidence: dict[str, Any]) -> dict[str, str]:
    """Evidence as the browser posts it: action rows as actions-N-field, plus a blank row."""
    data: dict[str, str] = {}
    for key, value in evidence.items():
        if key == "actions":
            for i, row in enumerate(value):
                for sub, v in row.items():
                    data[f"actions-{i}-{sub}"] = v
            data[f"actions-{len(value)}-description"] = ""
            data[f"actions-{len(value)}-done_at"] = ""
        else:
            data[key] = str(value)
    return data


def field_block(html: str, control_id: str) -> str:
    """The <div class="field …"> that holds the control with this id: its label, help and error."""
    start = html.find(f'<label class="field__label" for="{control_id}"')
    assert start != -1, f"no label for {control_id}"
    div = html.rfind('<div class="field', 0, start)
    end = html.find("</div>", start)
    return html[div : end + len("</div>")]

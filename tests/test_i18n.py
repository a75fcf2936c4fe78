"""Both languages stay complete: every marked string is translated, nothing user-facing is unmarked.

When a test here fails, run ``python -m complaints.i18n_tools`` (extract, update, compile),
translate what it lists in complaints/translations/zh_Hans_CN/LC_MESSAGES/messages.po, run it again.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from conftest import PASSWORD, api_headers, csrf_from
from jinja2 import Environment

from complaints import i18n_tools
from complaints.config import ROOT

LOCALE = "zh_CN"  # what staff choose
CATALOGUE = i18n_tools.LOCALES[0]  # its catalogue: zh_Hans_CN, as Babel names the locale
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def template_catalog():
    return i18n_tools.extract()


# --- (1) the catalogue has every message, translated -------------------------------
def test_extraction_finds_the_sources(template_catalog) -> None:
    files = {f for m in template_catalog for f, _ in m.locations}
    assert any(f.startswith("templates/") and f.endswith(".html") for f in files)
    assert any(f.startswith("templates/emails/") for f in files)
    assert "complaints/workflow.py" in files
    assert len(template_catalog) > 300


def test_every_message_is_translated(template_catalog) -> None:
    problems = i18n_tools.problems(CATALOGUE, template_catalog)
    assert not problems, "run `python -m complaints.i18n_tools` and translate:\n" + "\n".join(problems)


def test_no_fuzzy_or_empty_entry_in_the_po() -> None:
    catalog = i18n_tools.read_catalog(CATALOGUE)
    bad = [m.id for m in i18n_tools.missing(CATALOGUE, catalog)]
    assert not bad, bad
    assert not catalog.fuzzy


def test_placeholders_survive_translation() -> None:
    wrong = []
    for m in i18n_tools.read_catalog(CATALOGUE):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        expected = i18n_tools.placeholders(ids[-1])
        wrong += [(m.id, s) for s in strings if i18n_tools.placeholders(s) != expected]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("msgid", "word"),
    [
        ("Apologise", "致歉"),
        ("Listen", "倾听"),
        ("Confirm", "确认"),
        ("Analyse", "分析"),
        ("Agree", "协议"),
        ("Act", "行动"),
        ("Prevent", "预防"),
        ("Verify satisfaction", "确认满意"),
        ("Closed", "已关闭"),
        ("Withdrawn", "已撤回"),
        ("New (unclaimed)", "新建（待受理）"),
        ("This case is owned by %(name)s.", "负责"),
        ("This field is required.", "必填"),
        ("Forbidden phrases", "服务禁语"),
        ("Customer link", "客户链接"),
        ("Owner", "负责人"),
        ("Root cause", "根本原因"),
    ],
)
def test_domain_terms(msgid: str, word: str) -> None:
    """The words staff know from the service manuals (shared/DOMAIN.md)."""
    message = i18n_tools.read_catalog(CATALOGUE).get(msgid)
    assert message is not None, msgid
    assert word in message.string


# --- (2) the compiled catalogue ships and matches the .po ---------------------------
def test_compiled_catalogue_is_up_to_date() -> None:
    mo = i18n_tools.mo_path(CATALOGUE)
    assert mo.exists(), "run `python -m complaints.i18n_tools compile`"
    with mo.open("rb") as f:
        shipped = _messages(read_mo(f))
    expected = _messages(i18n_tools.read_catalog(CATALOGUE))
    assert shipped == expected, "the .mo is stale: run `python -m complaints.i18n_tools compile`"


def _messages(catalog) -> dict:
    def plain(value):
        return value if isinstance(value, str) else tuple(value)

    def context(value):  # babel's read_mo gives the msgctxt as bytes
        return value.decode() if isinstance(value, bytes) else value

    return {(context(m.context), plain(m.id)): plain(m.string) for m in catalog if m.id and not m.fuzzy}


def test_compiled_catalogue_is_not_ignored_by_git() -> None:
    patterns = (ROOT / ".gitignore").read_text().split()
    assert "*.mo" not in patterns


# --- (3) nothing user-facing is left unmarked ----------------------------------------
# Text that reads the same in every language. Keep this list short.
NOT_TRANSLATABLE = {"C-", "CSV", "API", "ID", "SMTP", "English", "简体中文"}
VISIBLE_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "aria-roledescription"}
LETTERS = re.compile(r"[^\W\d_]")
ATTRIBUTE = re.compile(r'(?<![^\s])[\w:-]+="[^"]*"?')
HOLE = " \x01 "  # where a {{ }} / {% %} was: an attribute inside a tag, a gap in text


class _TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.raw = 0  # inside <script>/<style>

    def _check(self, text: str) -> None:
        for piece in text.split(HOLE.strip()):
            # Not prose: what a macro writes into a tag, e.g. aria-invalid="true".
            piece = ATTRIBUTE.sub("", piece).strip()
            words = [w for w in piece.split() if LETTERS.search(w) and w not in NOT_TRANSLATABLE]
            if words:
                self.found.append((self.getpos()[0], piece))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.raw += 1
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRIBUTES or (tag == "input" and name == "value")):
                self._check(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.raw = max(0, self.raw - 1)

    def handle_data(self, data: str) -> None:
        if not self.raw:
            self._check(data)


def unmarked_template_text(source: str) -> list[tuple[int, str]]:
    """Text outside {{ }} / {% %} that a person reads, found with Jinja's own lexer."""
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    parts: list[str] = []
    line = 1
    for lineno, kind, value in env.lex(source):
        if kind == "data":
            parts.append(value)
            line += value.count("\n")
        else:
            if lineno > line:  # keep the line numbers of the reconstructed text
                parts.append("\n" * (lineno - line))
                line = lineno
            if kind in ("variable_begin", "block_begin"):
                parts.append(HOLE)
    finder = _TextFinder()
    finder.feed("".join(parts))
    finder.close()
    return finder.found


TEMPLATES = sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".txt"))


def test_the_template_check_finds_unmarked_text() -> None:
    source = '<p title="Hint">{{ _("Fine") }} Unmarked words</p>\n<b>{{ x }} &middot; 42 — C-</b>'
    assert unmarked_template_text(source) == [(1, "Hint"), (1, "Unmarked words")]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_mark_every_visible_text(path: Path) -> None:
    found = unmarked_template_text(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT)
    assert not found, "wrap in {{ _('...') }}:\n" + "\n".join(f"{rel}:{n}: {t!r}" for n, t in found)


def _literal_text(node: ast.AST | None) -> bool:
    """A plain string (or f-string, concatenation, .format) with letters: not marked."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(LETTERS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_literal_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _literal_text(node.func.value)
    if isinstance(node, ast.Dict):
        return any(_literal_text(v) for v in node.values)
    return False


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


PY_FILES = sorted(p for p in (ROOT / "complaints").rglob("*.py") if "translations" not in p.parts)


@cache
def _refusal_classes() -> dict[str, int]:
    """Exception classes whose message a person reads: name -> position of the message argument."""
    classes = {"Refused": 0, "EvidenceError": 0, "ApiError": 2, "WorkflowRefused": 1, "StaffError": 0}
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in PY_FILES]
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in classes:
                    for base in node.bases:
                        if _name(base) in classes:
                            classes[node.name] = classes[_name(base)]
                            grew = True
                            break
    return classes


# function name -> (positions, keywords) carrying text a person reads
def _text_arguments(path: Path, refusals: dict[str, int]) -> dict[str, tuple[tuple[int, ...], set[str]]]:
    calls = {
        "flash": ((0,), {"message"}),
        "abort": ((1,), {"description"}),
        **{name: ((pos,), {"message", "fields"}) for name, pos in refusals.items()},
    }
    calls["ApiError"] = ((2, 3), {"message", "fields"})
    if path.name == "cli.py":
        calls.update(
            echo=((0,), {"message"}),
            secho=((0,), {"message"}),
            ClickException=((0,), {"message"}),
            UsageError=((0,), {"message"}),
        )
    return calls


def unmarked_python_strings(path: Path, refusals: dict[str, int]) -> list[tuple[int, str]]:
    calls = _text_arguments(path, refusals)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or _name(node.func) not in calls:
            continue
        positions, keywords = calls[_name(node.func)]
        args = [node.args[i] for i in positions if i < len(node.args)]
        args += [k.value for k in node.keywords if k.arg in keywords]
        if any(_literal_text(a) for a in args):
            found.append((node.lineno, ast.unparse(node)[:100]))
    return found


def test_the_python_check_finds_unmarked_messages(tmp_path: Path) -> None:
    sample = tmp_path / "cli.py"
    sample.write_text(
        "flash(_('Fine'))\nflash('Not marked')\nraise Forbidden(f'No {x}')\n"
        "raise EvidenceError({'f': 'Bad'})\nclick.echo(f'  {a:10} {b}')\nclick.echo('Done.')\n"
        "abort(404, description=_l('Fine'))\nraise ApiError(400, 'bad_code', _('Fine'))\n"
    )
    found = [n for n, _ in unmarked_python_strings(sample, {"Forbidden": 0, "EvidenceError": 0})]
    assert found == [2, 3, 4, 6]


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_marks_every_message(path: Path) -> None:
    found = unmarked_python_strings(path, _refusal_classes())
    rel = path.relative_to(ROOT)
    assert not found, "wrap in _() / _l():\n" + "\n".join(f"{rel}:{n}: {t}" for n, t in found)


# --- (4) pages in Chinese ----------------------------------------------------------
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_home_and_case_pages_in_chinese(client, make, auth) -> None:
    user = make.user("responder", locale=LOCALE)
    case = make.case(make.user("frontline"), purchase_date="2026-01-15")
    mine = make.case(make.user("frontline"))
    make.claim(mine, user)
    auth.login(user)
    home = client.get("/")
    assert home.status_code == 200
    assert '<html lang="zh-CN">' in home.text
    for heading in ("待受理队列", "我负责的未结案件", "首问负责"):
        assert heading in home.text
    assert "Unclaimed queue" not in home.text
    page = client.get(f"/cases/{mine.id}")
    assert page.status_code == 200
    for step in ("致歉", "倾听", "确认", "分析", "协议", "行动", "预防", "确认满意"):
        assert step in page.text  # the progress bar
    assert "Apologise" not in page.text
    # Dates in the Chinese way: the purchase date as 2026年1月15日.
    other = client.get(f"/cases/{case.id}")
    assert "2026年1月15日" in other.text


def test_refusal_names_the_owner_in_chinese(client, make, auth) -> None:
    owner = make.user("responder", name="李雷")
    case, _owner = make.case_in("listen", owner=owner)
    auth.login(make.user("responder", locale=LOCALE))
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 403
    assert "负责" in page.text and "李雷" in page.text


def test_login_page_follows_the_browser(client) -> None:
    zh = client.get("/login", headers=ZH)
    assert "登录" in zh.text and "Log in" not in zh.text
    en = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Log in" in en.text and "登录" not in en.text


def test_wrong_password_in_chinese(client, make) -> None:
    user = make.user("responder", locale=LOCALE)
    page = client.get("/login", headers=ZH)
    posted = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD + "x", "csrf_token": csrf_from(page.text)},
        headers=ZH,
    )
    assert "邮箱或密码错误" in posted.text
    assert "Wrong email or password" not in posted.text


def test_login_required_message_in_chinese(client) -> None:
    redirect = client.get("/cases", headers=ZH)
    assert redirect.status_code == 302
    page = client.get(redirect.headers["Location"], headers=ZH)
    assert "请先登录" in page.text
    assert "Please log in" not in page.text


def test_wtforms_messages_in_chinese(app) -> None:
    """WTForms' own messages (the login form's "This field is required.") follow the locale too."""
    from werkzeug.datastructures import MultiDict

    from complaints.web.forms import LoginForm

    with app.test_request_context("/login", method="POST", headers=ZH):
        form = LoginForm(formdata=MultiDict(), meta={"csrf": False})
        assert not form.validate()
        assert "必填" in form.email.errors[0]


def test_evidence_errors_in_chinese(app, ctx) -> None:
    from complaints.evidence import EvidenceError, validate_step

    with app.test_request_context("/", headers=ZH), pytest.raises(EvidenceError) as err:
        validate_step("apologise", {"method": "phone"}, ctx)
    assert "必填" in err.value.fields["apology"]


def test_customer_link_page_follows_accept_language(app, client, make) -> None:
    if "customer.show" not in app.view_functions:
        pytest.skip("no customer link pages yet")
    case, owner = make.case_in("listen")
    r = client.post(f"/api/v1/cases/{case.id}/customer-link", headers=api_headers(make.token(owner)))
    assert r.status_code == 201, r.get_json()
    token = r.get_json()["url"].rsplit("/", 1)[-1]
    customer = app.test_client()
    zh = customer.get(f"/c/{token}", headers=ZH)
    assert zh.status_code == 200
    assert '<html lang="zh-CN">' in zh.text
    assert "您的投诉" in zh.text and "Your complaint" not in zh.text
    en = app.test_client().get(f"/c/{token}", headers={"Accept-Language": "en-US"})
    assert "Your complaint" in en.text and "您的投诉" not in en.text
    # The switch on the page: English although the browser asks for Chinese.
    customer.post(
        "/settings/language",
        data={"locale": "en", "next": f"/c/{token}", "csrf_token": csrf_from(zh.text)},
        headers=ZH,
    )
    switched = customer.get(f"/c/{token}", headers=ZH)
    assert "Your complaint" in switched.text


def test_api_errors_follow_accept_language(client, make) -> None:
    token = make.token(make.user("frontline"))
    r = client.get("/api/v1/cases/999999", headers={**api_headers(token), **ZH})
    assert r.status_code == 404
    assert HAN.search(r.get_json()["error"]["message"])


# --- no English left on the main pages ------------------------------------------------------
class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.raw = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.raw += tag in ("script", "style")
        self.pieces += [v.strip() for k, v in attrs if v and k in VISIBLE_ATTRIBUTES]

    def handle_endtag(self, tag: str) -> None:
        self.raw -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.raw and data.strip():
            self.pieces.append(data.strip())


def english_left(html: str, catalog) -> list[str]:
    """Text on the page that is a msgid shown untranslated (a label built without _(), say)."""
    english = {m.id for m in catalog if isinstance(m.id, str) and m.string and m.string != m.id}
    finder = _VisibleText()
    finder.feed(html)
    return [p for p in finder.pieces if p in english and p not in NOT_TRANSLATABLE]


def test_main_pages_show_no_english(app, client, make, auth) -> None:
    catalog = i18n_tools.read_catalog(CATALOGUE)
    closed, owner = make.case_in("verify")
    make.step(closed, owner, "verify")
    current, _owner = make.case_in("agree", owner=owner)
    users = {role: make.user(role, locale=LOCALE) for role in ("frontline", "quality", "admin")}
    pages = {
        owner: ["/", "/cases", "/cases/new", f"/cases/{current.id}", f"/cases/{closed.id}"],
        users["frontline"]: ["/", "/cases/new"],
        users["quality"]: [
            "/",
            "/audits",
            f"/audits/{closed.id}",
            "/quality/phrases",
            "/quality/time-limits",
            "/reports",
            "/remedy-approvals",
        ],
        users["admin"]: ["/", "/admin/users"],
    }
    with app.app_context():
        from complaints.db import get_db
        from complaints.models import User

        with get_db(app).transaction() as s:
            s.get(User, owner.id).locale = LOCALE
    leaks = {}
    for user, urls in pages.items():
        auth.login(user)
        for url in urls:
            if app.url_map.bind("localhost").test(url, method="GET") is False:
                continue
            page = client.get(url)
            assert page.status_code == 200, (url, page.status_code)
            assert '<html lang="zh-CN">' in page.text, url
            if found := english_left(page.text, catalog):
                leaks[url] = found
        auth.logout()
    assert not leaks, leaks

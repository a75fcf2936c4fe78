"""Fixtures: a real database per test (SQLite file, or PostgreSQL), the app, clients, factories.

The backend is chosen by COMPLAINTS_TEST_DB (sqlite, the default, or postgresql); for
PostgreSQL, COMPLAINTS_TEST_PG_URL is a server URL on which each run creates its own database.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from complaints import create_app
from complaints.config import TestConfig
from complaints.db import get_db, make_engine, utcnow
from complaints.evidence import Context, validate_intake, validate_step
from complaints.migrate import upgrade
from complaints.models import Case, User
from complaints.services import cases as case_ops
from complaints.services import staff as staff_service
from complaints.services.staff import create_token, create_user

BACKEND = os.environ.get("COMPLAINTS_TEST_DB", "sqlite")

# Tests hash many passwords: argon2id still, with the cheapest parameters, so a suite run
# measures our code rather than the key-derivation function.
staff_service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PG_URL = os.environ.get("COMPLAINTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery"
TZ = ZoneInfo("Asia/Shanghai")

TABLES = [
    "audits",
    "customer_links",
    "progress_updates",
    "interim_measures",
    "remedy_approvals",
    "settings",
    "forbidden_phrases",
    "outbox_messages",
    "case_search",
    "events",
    "notes",
    "assistants",
    "step_records",
    "cases",
    "customers",
    "api_tokens",
    "user_roles",
    "users",
    "reference_counters",
]


def _create_pg_database(prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per run: an SQLite file to copy, or a PostgreSQL database."""
    if BACKEND == "postgresql":
        url = _create_pg_database("complaints_test")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        _drop_pg_database(url)
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        yield str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Any) -> str:
    """A clean, migrated database for this test."""
    if BACKEND == "postgresql":
        engine = create_engine(migrated_template)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return migrated_template
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


class Clock:
    """A controllable clock: tests move time forward explicitly."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_url: str, clock: Clock) -> Iterator[Flask]:
    overrides = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    overrides.update(DATABASE_URL=database_url, CLOCK=clock)
    app = create_app(overrides)
    yield app
    get_db(app).dispose()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for arranging and checking data (no app context is pushed, so requests made
    by the test client in the same test get their own); commit what you arrange."""
    s = get_db(app).new_session()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(clock: Clock) -> Context:
    return Context(now=clock.now, tz=TZ)


# --- factories -------------------------------------------------------------
class Factory:
    """make_* helpers that go through the real services and commit."""

    def __init__(self, app: Flask, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.n = 0

    def _tx(self):
        return get_db(self.app).transaction()

    def user(
        self, *roles: str, name: str | None = None, email: str | None = None, locale: str | None = None
    ) -> User:
        self.n += 1
        email = email or f"{'-'.join(roles) or 'user'}{self.n}@example.com"
        with self.app.app_context(), self._tx() as s:
            return create_user(
                s, email, name or f"User {self.n}", roles or ["frontline"], PASSWORD, locale=locale
            )

    def token(self, user: User) -> str:
        with self.app.app_context(), self._tx() as s:
            return create_token(s, s.get(User, user.id))

    def case(self, opener: User | None = None, **fields: Any) -> Case:
        opener = opener or self.user("frontline")
        data = {
            "customer_name": "陈先生",
            "customer_phone": "138 0013 8000",
            "channel": "phone",
            "summary": "电脑无法开机",
            "description": "新买的笔记本电脑按电源键没有反应。",
            "product": "ThinkBook 14",
            "serial_number": "PF3ABC12",
            # Bought three days before: every remedy of the three guarantees is within policy.
            "purchase_date": (Context(now=self.clock.now, tz=TZ).today - timedelta(days=3)).isoformat(),
            "category": "product",
            "severity": "normal",
        }
        data.update(fields)
        with self.app.app_context(), self._tx() as s:
            ctx = Context(now=self.clock.now, tz=TZ)
            return case_ops.open_case(s, s.get(User, opener.id), validate_intake(data, ctx), self.clock.now)

    def claim(self, case: Case, user: User) -> Case:
        with self.app.app_context(), self._tx() as s:
            c = s.get(Case, case.id)
            return case_ops.claim_case(s, c, s.get(User, user.id), self.clock.now)

    def step(self, case: Case, user: User, step: str, evidence: dict[str, Any] | None = None) -> str:
        with self.app.app_context(), self._tx() as s:
            c = s.get(Case, case.id)
            ctx = Context(now=self.clock.now, tz=TZ)
            ev = evidence if evidence is not None else good_evidence(step, self.clock.now)
            return case_ops.complete_step(
                s, c, step, s.get(User, user.id), validate_step(step, ev, ctx), self.clock.now
            )

    def case_in(self, state: str, owner: User | None = None, **fields: Any) -> tuple[Case, User]:
        """A case driven by the real services to the given state."""
        case = self.case(**fields)
        if state == "new":
            return case, owner or self.user("responder")
        owner = owner or self.user("responder")
        self.claim(case, owner)
        from complaints.workflow import STEPS

        for step in STEPS:
            if step == state:
                break
            self.step(case, owner, step)
        if state == "closed":
            pass
        return case, owner


def good_evidence(step: str, now: datetime) -> dict[str, Any]:
    """Valid evidence for each step, taking the forward path."""
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(TZ)
    done = (local - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    due = (local + timedelta(days=3)).date().isoformat()
    return {
        "apologise": {"method": "phone", "apology": "非常抱歉给您带来不便。"},
        "listen": {"account": "开机键无反应,充电灯不亮。", "expectation": "换新机", "temperament": "angry"},
        "confirm": {
            "restatement": "电脑无法开机,您希望换新机。",
            "customer_response": "confirmed",
            "via": "phone",
        },
        "analyse": {"root_cause_category": "product", "root_cause": "主板电源模块虚焊"},
        "agree": {
            # Repair is within the remedy policy whatever the purchase date (remedy_policy.py).
            "remedy": "repair",
            "remedy_detail": "上门维修,更换主板",
            "due_date": due,
            "customer_response": "accepted",
            "via": "phone",
        },
        "act": {"actions": [{"description": "已更换新机", "done_at": done}]},
        "prevent": {"department": "quality", "preventive_action": "加强出厂电源检测"},
        "verify": {"satisfaction": "satisfied", "score": 5, "comment": "满意", "via": "phone"},
    }[step]


@pytest.fixture
def make(app: Flask, clock: Clock) -> Factory:
    return Factory(app, clock)


# --- web helpers -------------------------------------------------------------
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, user: User | str, password: str = PASSWORD):
        email = user if isinstance(user, str) else user.email
        page = self.client.get("/login")
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        )

    def logout(self):
        page = self.client.get("/")
        return self.client.post("/logout", data={"csrf_token": csrf_from(page.text)})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def api_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def case_snapshot(app: Flask, case_id: int) -> tuple[str, int, int | None, int]:
    """State, version, owner and event count: what a refused request must leave unchanged."""
    with app.app_context():
        s = get_db(app).new_session()
        c = s.get(Case, case_id)
        assert c is not None
        snap = (c.state, c.version, c.owner_id, c.event_count)
        s.close()
        return snap

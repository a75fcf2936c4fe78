"""Demo staff for every role and a few cases in different states, for a first look."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.db import utcnow
from complaints.evidence import Context, validate_intake, validate_step
from complaints.models import User
from complaints.services.cases import claim_case, complete_step, open_case
from complaints.services.staff import create_user

DEMO_USERS = [
    ("frontline@example.com", "Fang Li 李芳", ["frontline"], "zh_CN"),
    ("responder@example.com", "Wang Wei 王伟", ["responder"], "zh_CN"),
    ("responder2@example.com", "Sam Taylor", ["responder"], "en"),
    ("quality@example.com", "Zhang Min 张敏", ["quality"], "zh_CN"),
    ("admin@example.com", "Alex Admin", ["admin"], "en"),
]

DEMO_CASES = [
    dict(
        customer_name="陈先生",
        customer_phone="138 0013 8000",
        channel="phone",
        summary="电脑无法开机",
        description="新买的笔记本电脑按电源键没有任何反应,充电灯也不亮。",
        product="ThinkBook 14",
        serial_number="PF3ABC12",
        category="product",
        severity="high",
    ),
    dict(
        customer_name="Maria Gonzalez",
        customer_email="maria@example.org",
        channel="email",
        summary="Washing machine delivered with a dent",
        description="The front panel was dented on delivery; the driver left before I could check.",
        product="WM-800",
        serial_number="WM800-55121",
        category="delivery",
        severity="normal",
    ),
    dict(
        customer_name="刘女士",
        customer_phone="021-5555 0199",
        channel="walk_in",
        summary="维修后仍然漏水",
        description="空调维修两次后仍然漏水,客户非常不满。",
        product="KFR-35GW",
        serial_number="KF35-0098",
        category="service",
        severity="critical",
    ),
    dict(
        customer_name="John Smith",
        customer_phone="+44 20 7946 0958",
        channel="web",
        summary="Invoice charged twice",
        description="My card was charged twice for one order.",
        category="billing",
        severity="low",
    ),
]


def logins_path(instance: Path) -> Path:
    return instance / "demo-logins.txt"


def load_demo(s: Session, instance: Path) -> list[tuple[str, str, str]]:
    """Create the demo users and cases once; return (email, password, roles) to print."""
    path = logins_path(instance)
    if s.scalars(select(User).where(User.email == DEMO_USERS[0][0])).first() is not None:
        if path.exists():
            return [tuple(line.split("\t")) for line in path.read_text().splitlines()]  # type: ignore[misc]
        return []
    logins = []
    users: dict[str, User] = {}
    for email, name, roles, locale in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        users[email] = create_user(s, email, name, roles, password, locale=locale)
        logins.append((email, password, ",".join(roles)))
    now = utcnow()
    ctx = Context(now=now, tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    front, resp = users["frontline@example.com"], users["responder@example.com"]
    cases = [
        open_case(s, front, validate_intake(d, ctx), now - timedelta(hours=3 - i))
        for i, d in enumerate(DEMO_CASES)
    ]
    # One case a few steps in, so the case page shows history and evidence.
    c = cases[0]
    claim_case(s, c, resp, now - timedelta(hours=2))
    for step, ev in [
        ("apologise", {"method": "phone", "apology": "陈先生,非常抱歉给您带来不便。"}),
        (
            "listen",
            {
                "account": "开机键无反应,充电灯不亮,已试过换插座。",
                "expectation": "尽快换一台新机",
                "temperament": "excited",
            },
        ),
    ]:
        complete_step(s, c, step, resp, validate_step(step, ev, ctx), now - timedelta(hours=1))
    claim_case(s, cases[2], resp, now - timedelta(minutes=30))
    instance.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(row) for row in logins))
    path.chmod(0o600)
    return logins

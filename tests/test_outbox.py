"""The email outbox against a real SMTP server (aiosmtpd on a loopback port) and a real database."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from sqlalchemy import func, select

from complaints.config import ROOT
from complaints.db import get_db
from complaints.mail import SmtpSettings
from complaints.models import Case, OutboxMessage, User
from complaints.services import cases as case_ops
from complaints.services.outbox import (
    RetryPolicy,
    case_outbox,
    deliver_pending,
    enqueue_email,
    outbox_counts,
    retry_failed,
)

SUBJECT = "您的投诉 CP-2026-0001 有新进展"
BODY = "陈先生您好:\n\n我们已为您更换新机,请查收。\n\n——客户服务中心"
RETRY = RetryPolicy(max_attempts=6, backoff_base=60, backoff_max=3600, lease=300)


# --- a real SMTP server ----------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class Recorder:
    """An aiosmtpd handler that keeps every accepted message; can refuse or hold messages."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.refuse: set[str] = set()
        self.hold: threading.Event | None = None  # when set up, DATA waits until released
        self.in_data = threading.Event()
        self.delay = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_data.set()
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 10)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Message accepted for delivery"

    def message_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.message_id for r in self.received)


class SmtpServer:
    """A real SMTP server on a fixed loopback port that a test can stop and start again."""

    def __init__(self, **kwargs: Any) -> None:
        self.recorder = Recorder()
        self.kwargs = kwargs
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self, **kw: Any) -> SmtpSettings:
        return SmtpSettings(
            host="127.0.0.1",
            port=self.port,
            timeout=5,
            mail_from="客户服务中心 <complaints@example.com>",
            **kw,
        )

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


# --- helpers -----------------------------------------------------------------------------------
def enqueue(app: Flask, clock: Any, n: int = 1, **kw: Any) -> list[OutboxMessage]:
    """Write n emails and commit them (each in the caller's transaction, as services do)."""
    with app.app_context(), get_db(app).transaction() as s:
        return [
            enqueue_email(
                s,
                to=kw.get("to", f"customer{i}@example.com"),
                subject=kw.get("subject", f"{SUBJECT} #{i}"),
                body_text=kw.get("body_text", BODY),
                body_html=kw.get("body_html"),
                kind=kw.get("kind", "progress_update"),
                case_id=kw.get("case_id"),
                now=clock.now,
            )
            for i in range(n)
        ]


def rows(app: Flask) -> list[OutboxMessage]:
    """The outbox as committed right now (a fresh transaction, so other sessions' work shows)."""
    with get_db(app).transaction(write=False) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def deliver(app: Flask, clock: Any, server: SmtpServer, **kw: Any):
    kw.setdefault("smtp_settings", server.settings())
    kw.setdefault("retry", RETRY)
    return deliver_pending(get_db(app), now=clock, **kw)


# --- written with the change, or not at all --------------------------------------------------
def test_email_of_a_rolled_back_change_is_never_sent(app, clock, make, smtp):
    case = make.case()
    responder = make.user("responder")
    with pytest.raises(RuntimeError), app.app_context(), get_db(app).transaction() as s:
        c = s.get(Case, case.id)
        case_ops.claim_case(s, c, s.get(User, responder.id), clock.now)
        enqueue_email(
            s,
            to="chen@example.com",
            subject=SUBJECT,
            body_text=BODY,
            kind="customer_link",
            case_id=c.id,
            now=clock.now,
        )
        raise RuntimeError("the change failed after the email was written")

    report = deliver(app, clock, smtp)
    assert (report.sent, report.attempted) == (0, 0)
    assert rows(app) == []
    assert smtp.received == []
    with get_db(app).transaction(write=False) as s:
        assert s.get(Case, case.id).state == "new"  # the change and its email went together


def test_committed_email_arrives_once_with_chinese_text_and_message_id(app, clock, make, smtp):
    case = make.case()
    responder = make.user("responder")
    with app.app_context(), get_db(app).transaction() as s:
        c = s.get(Case, case.id)
        case_ops.claim_case(s, c, s.get(User, responder.id), clock.now)
        enqueue_email(
            s,
            to="陈先生 <chen@example.com>",
            subject=SUBJECT,
            body_text=BODY,
            body_html="<p>陈先生您好:我们已为您更换新机。</p>",
            kind="progress_update",
            case_id=c.id,
            now=clock.now,
        )
    [queued] = rows(app)
    assert (
        queued.status == "pending" and queued.message_id.startswith("<") and queued.message_id.endswith(">")
    )
    clock.advance(seconds=5)

    report = deliver(app, clock, smtp)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    assert deliver(app, clock, smtp).attempted == 0  # a second pass sends nothing more

    [got] = smtp.received
    msg = got.message
    assert got.rcpt_tos == ["chen@example.com"]
    assert got.mail_from == "complaints@example.com"
    assert msg["Subject"] == SUBJECT
    assert msg["Message-ID"] == queued.message_id
    assert msg["To"] == "陈先生 <chen@example.com>"
    assert msg["From"] == "客户服务中心 <complaints@example.com>"
    assert msg["Date"].datetime.replace(tzinfo=None) == queued.created_at.replace(microsecond=0)
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == BODY
    assert "更换新机" in msg.get_body(("html",)).get_content()
    assert max(len(line) for line in got.raw.splitlines()) <= 998  # valid SMTP line lengths

    [sent] = rows(app)
    assert sent.status == "sent" and sent.sent_at == clock.now and sent.attempts == 1
    assert sent.locked_until is None and sent.last_error is None


def test_message_id_uses_the_mail_from_domain_and_header_injection_is_refused(app, clock):
    app.config["MAIL_FROM"] = "Complaints <noreply@service.example.cn>"
    [m] = enqueue(app, clock, subject="第一行\r\nBcc: victim@example.com")
    assert m.message_id.endswith("@service.example.cn>")
    assert m.subject == "第一行 Bcc: victim@example.com"  # one header line, nothing injected
    with app.app_context(), get_db(app).transaction() as s:
        for bad in ("", "no-at-sign", "a@example.com\r\nBcc: b@example.com"):
            with pytest.raises(ValueError):
                enqueue_email(s, to=bad, subject="s", body_text="b", kind="progress_update", now=clock.now)
        with pytest.raises(ValueError):
            enqueue_email(s, to="a@example.com", subject="s", body_text="b", kind="newsletter", now=clock.now)


# --- outages, back-off and giving up -----------------------------------------------------------
def test_outage_keeps_messages_queued_with_exponential_backoff_then_each_arrives_once(app, clock, smtp):
    smtp.stop()
    enqueue(app, clock, 3)

    waits = []
    for failures in range(1, 5):
        report = deliver(app, clock, smtp)
        assert (report.sent, report.retrying, report.failed) == (0, 3, 0)
        assert report.errors  # the connection error is reported
        queued = rows(app)
        assert {m.status for m in queued} == {"pending"}
        assert {m.attempts for m in queued} == {failures}
        assert all(m.last_error and m.locked_until is None for m in queued)
        expected = RETRY.backoff_base * 2 ** (failures - 1)
        for m in queued:
            wait = (m.next_attempt_at - clock.now).total_seconds()
            assert expected <= wait <= expected * 1.1 + 0.001  # base × 2^(n-1), plus ≤10% jitter
        waits.append(min((m.next_attempt_at - clock.now).total_seconds() for m in queued))
        # Nothing is retried before it is due ...
        clock.advance(seconds=expected * 0.9)
        assert deliver(app, clock, smtp).attempted == 0
        # ... and everything is once it is.
        clock.now = max(m.next_attempt_at for m in queued)
    assert all(later > 1.8 * earlier for earlier, later in zip(waits, waits[1:], strict=False))
    assert smtp.received == []

    smtp.start()
    report = deliver(app, clock, smtp)
    assert (report.sent, report.retrying, report.failed) == (3, 0, 0)
    assert deliver(app, clock, smtp).attempted == 0
    clock.advance(days=1)
    assert deliver(app, clock, smtp).attempted == 0
    ids = smtp.recorder.message_ids()
    assert sorted(ids) == sorted(m.message_id for m in rows(app))
    assert set(ids.values()) == {1}  # each exactly once
    assert {(m.status, m.attempts) for m in rows(app)} == {("sent", 5)}


def test_backoff_is_capped():
    policy = RetryPolicy(backoff_base=60, backoff_max=3600)
    assert [policy.delay(n).total_seconds() // 60 for n in (1, 2, 3)] == [1, 2, 4]
    assert 3600 <= policy.delay(30).total_seconds() <= 3960


def test_after_max_attempts_the_message_is_kept_as_failed_and_can_be_queued_again(app, clock, make, smtp):
    case = make.case()
    smtp.stop()
    policy = RetryPolicy(max_attempts=3, backoff_base=60, backoff_max=3600)
    enqueue(app, clock, 1, case_id=case.id)
    for _ in range(3):
        deliver(app, clock, smtp, retry=policy)
        clock.advance(hours=2)
    [m] = rows(app)
    assert (m.status, m.attempts, m.sent_at) == ("failed", 3, None)
    assert "Connection" in m.last_error or "refused" in m.last_error.lower()

    # Staff see it on the case; it is not retried by itself.
    with get_db(app).transaction(write=False) as s:
        assert [x.id for x in case_outbox(s, case.id)] == [m.id]
        assert outbox_counts(s) == {"pending": 0, "sent": 0, "failed": 1}
    smtp.start()
    assert deliver(app, clock, smtp, retry=policy).attempted == 0

    with get_db(app).transaction() as s:
        assert retry_failed(s, now=clock.now) == 1
    assert deliver(app, clock, smtp, retry=policy).sent == 1
    assert len(smtp.received) == 1
    with get_db(app).transaction(write=False) as s:
        assert case_outbox(s, case.id) == []  # delivered: no longer listed as undelivered
        assert [x.status for x in case_outbox(s, case.id, include_sent=True)] == ["sent"]


def test_a_refused_recipient_fails_at_once_and_does_not_hold_up_the_others(app, clock, smtp):
    smtp.recorder.refuse.add("nobody@example.com")
    enqueue(app, clock, 1, to="nobody@example.com")
    enqueue(app, clock, 2)
    report = deliver(app, clock, smtp)
    assert (report.sent, report.retrying, report.failed) == (2, 0, 1)
    bad = rows(app)[0]
    assert (bad.status, bad.attempts) == ("failed", 1)
    assert "550" in bad.last_error
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["customer0@example.com", "customer1@example.com"]


def test_credentials_are_used(app, clock):
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"mailer",
            b"s3cret",
        )
        return AuthResult(success=ok, handled=False)

    server = SmtpServer(authenticator=authenticator, auth_require_tls=False)
    server.start()
    try:
        enqueue(app, clock, 1)
        report = deliver(
            app, clock, server, smtp_settings=server.settings(username="mailer", password="wrong")
        )
        assert (report.sent, report.retrying) == (0, 1)
        assert "535" in rows(app)[0].last_error
        clock.advance(hours=1)
        report = deliver(
            app, clock, server, smtp_settings=server.settings(username="mailer", password="s3cret")
        )
        assert report.sent == 1 and len(server.received) == 1
    finally:
        server.stop()


# --- crashes and concurrent workers ------------------------------------------------------------
CRASHING_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from sqlalchemy import event
    from complaints.db import Database
    from complaints.mail import SmtpSettings
    from complaints.services.outbox import deliver_pending

    url, port, now, mail_from = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), sys.argv[4]
    db = Database(url)

    @event.listens_for(db.engine, "before_cursor_execute")
    def die_before_marking_sent(conn, cursor, statement, params, context, executemany):
        # The server has accepted the message; the worker dies before recording that.
        if statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES") and "sent_at" in statement:
            os.kill(os.getpid(), signal.SIGKILL)

    settings = SmtpSettings(host="127.0.0.1", port=port, timeout=5, mail_from=mail_from)
    deliver_pending(db, now=now, smtp_settings=settings)
    """
)


def test_worker_killed_after_the_server_accepted_resends_with_the_same_message_id(app, clock, smtp):
    """At-least-once: the resend carries the same Message-ID, so receivers de-duplicate on it."""
    [m] = enqueue(app, clock, 1)
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [
            sys.executable,
            "-c",
            CRASHING_WORKER,
            app.config["DATABASE_URL"],
            str(smtp.port),
            clock.now.isoformat(),
            smtp.settings().mail_from,
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert len(smtp.received) == 1
    [after_crash] = rows(app)
    assert (after_crash.status, after_crash.sent_at) == ("pending", None)  # nothing was lost ...
    assert after_crash.locked_until == clock.now + timedelta(seconds=300)

    # ... and while the dead worker's claim lasts, nobody sends it again,
    assert deliver(app, clock, smtp).attempted == 0
    # after it runs out, another worker does, once, as the very same message.
    clock.advance(seconds=301)
    assert deliver(app, clock, smtp).sent == 1
    assert deliver(app, clock, smtp).attempted == 0
    first, second = smtp.received
    assert first.message_id == second.message_id == m.message_id
    assert first.raw == second.raw  # byte-identical: Date and MIME boundary come from the row
    assert smtp.recorder.message_ids() == Counter({m.message_id: 2})
    [done] = rows(app)
    assert done.status == "sent"


def test_a_claimed_message_is_not_sent_by_a_second_worker(app, clock, smtp):
    [m] = enqueue(app, clock, 1)
    smtp.recorder.hold = threading.Event()
    reports: list[Any] = []
    first = threading.Thread(target=lambda: reports.append(deliver(app, clock, smtp, worker="first")))
    first.start()
    try:
        assert smtp.recorder.in_data.wait(10)  # the first worker is mid-send
        second = deliver(app, clock, smtp, worker="second")
        assert second.attempted == 0
        [claimed] = rows(app)
        assert claimed.claimed_by == "first" and claimed.status == "pending"
    finally:
        smtp.recorder.hold.set()
        first.join(15)
    assert reports[0].sent == 1
    assert smtp.recorder.message_ids() == Counter({m.message_id: 1})


def test_concurrent_workers_never_send_a_message_twice(app, clock, smtp):
    messages = enqueue(app, clock, 40)
    smtp.recorder.delay = 0.005
    start = threading.Barrier(4)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait(10)
            reports.append(deliver(app, clock, smtp, worker=name))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r.sent for r in reports) == 40
    assert smtp.recorder.message_ids() == Counter({m.message_id: 1 for m in messages})
    assert {m.status for m in rows(app)} == {"sent"}
    # The workers really raced for the same rows: they shared the work and lost claims to each other.
    assert sum(1 for r in reports if r.sent) >= 2 and sum(r.skipped for r in reports) > 0


# --- no SMTP configured -------------------------------------------------------------------------
def test_without_smtp_messages_stay_queued_and_the_command_says_so(app, clock, smtp):
    enqueue(app, clock, 2)
    settings = SmtpSettings.from_config(app.config)
    assert not settings.configured
    report = deliver_pending(get_db(app), now=clock, smtp_settings=settings)
    assert not report.configured and report.attempted == 0

    result = app.test_cli_runner().invoke(args=["complaints", "deliver"])
    assert result.exit_code == 0, result.output
    assert "not configured" in result.output and "2 messages stay queued" in result.output
    assert smtp.received == []
    assert {(m.status, m.attempts) for m in rows(app)} == {("pending", 0)}


def test_deliver_command_sends_when_smtp_is_configured(app, clock, smtp):
    enqueue(app, clock, 2)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, MAIL_FROM="complaints@example.com")
    result = app.test_cli_runner().invoke(args=["complaints", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "2 sent, 0 to retry, 0 failed." in result.output
    assert len(smtp.received) == 2
    with get_db(app).transaction(write=False) as s:
        assert s.scalar(select(func.count()).where(OutboxMessage.status == "sent")) == 2

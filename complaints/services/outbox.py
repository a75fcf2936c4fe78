"""The email outbox: enqueue in the caller's transaction; a worker delivers due messages over SMTP.

Delivery is at least once, never silently lost: a message is marked sent only after the SMTP
server accepted it, in a transaction committed right after. A worker killed between the two
sends the message again once its claim runs out, with the same Message-ID header, which
receiving systems use to recognise and drop the duplicate (RFC 5322 §3.6.4).
"""

from __future__ import annotations

import os
import random
import smtplib
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from complaints.db import Database, utcnow
from complaints.mail import DEFAULT_DOMAIN, SmtpConnection, SmtpSettings, build_message, mail_domain
from complaints.models.outbox import KINDS, OutboxMessage

Clock = Callable[[], datetime]
ERROR_MAX_CHARS = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry, and how long a worker's claim on a message lasts."""

    max_attempts: int = 12
    backoff_base: float = 60.0
    backoff_max: float = 6 * 3600.0
    lease: float = 300.0
    jitter: float = 0.1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(config.get("OUTBOX_MAX_ATTEMPTS", cls.max_attempts)),
            backoff_base=float(config.get("OUTBOX_BACKOFF_BASE_SECONDS", cls.backoff_base)),
            backoff_max=float(config.get("OUTBOX_BACKOFF_MAX_SECONDS", cls.backoff_max)),
            lease=float(config.get("OUTBOX_LEASE_SECONDS", cls.lease)),
        )

    def delay(self, failures: int) -> timedelta:
        """The wait after the n-th failure: base × 2^(n-1), capped, plus up to 10% jitter."""
        seconds = min(self.backoff_base * 2 ** max(failures - 1, 0), self.backoff_max)
        return timedelta(seconds=seconds * (1 + self.jitter * random.random()))


@dataclass
class DeliveryReport:
    """What one pass did; `configured` is False when no SMTP server is set (nothing was tried)."""

    configured: bool
    sent: int = 0
    retrying: int = 0  # this attempt failed; the message waits for its next attempt
    failed: int = 0  # given up: retries used up, or the server refused the recipient for good
    skipped: int = 0  # another worker claimed it first
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


# --- writing -------------------------------------------------------------------------------
def new_message_id(domain: str | None = None) -> str:
    """A globally unique RFC 5322 Message-ID, fixed when the email is written."""
    return f"<{uuid.uuid4().hex}@{domain or _default_domain()}>"


def _default_domain() -> str:
    if has_app_context():
        return mail_domain(current_app.config.get("MAIL_FROM"))
    return DEFAULT_DOMAIN


def enqueue_email(
    session: Session,
    *,
    to: str,
    subject: str,
    body_text: str,
    kind: str,
    now: datetime,
    case_id: int | None = None,
    body_html: str | None = None,
    domain: str | None = None,
) -> OutboxMessage:
    """Add an email to the caller's transaction: it is sent only if that transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"Unknown email kind {kind!r}.")
    address = (to or "").strip()
    if not address or "\r" in address or "\n" in address or "@" not in parseaddr(address)[1]:
        raise ValueError(f"Not an email address: {to!r}.")
    message = OutboxMessage(
        case_id=case_id,
        kind=kind,
        to_address=address,
        # A header is one line: folding whitespace (and any newline) becomes one space.
        subject=" ".join(subject.split())[:255],
        body_text=body_text,
        body_html=body_html,
        message_id=new_message_id(domain),
        status="pending",
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    return message


# --- staff views ---------------------------------------------------------------------------
def case_outbox(session: Session, case_id: int, *, include_sent: bool = False) -> list[OutboxMessage]:
    """A case's emails for staff: by default only those not delivered (pending or failed)."""
    query = select(OutboxMessage).where(OutboxMessage.case_id == case_id)
    if not include_sent:
        query = query.where(OutboxMessage.status != "sent")
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def outbox_counts(session: Session) -> dict[str, int]:
    """How many messages are pending, sent and failed: for a staff overview."""
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    counts = dict.fromkeys(("pending", "sent", "failed"), 0)
    counts.update({status: n for status, n in rows})
    return counts


def retry_failed(session: Session, *, now: datetime, ids: Iterable[int] | None = None) -> int:
    """Put failed messages back in the queue with fresh attempts (after fixing the cause)."""
    query = update(OutboxMessage).where(OutboxMessage.status == "failed")
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    result = session.execute(
        query.values(status="pending", attempts=0, next_attempt_at=now, locked_until=None),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount


# --- delivering ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    message_id: str
    created_at: datetime
    attempts: int


def _clock(now: datetime | Clock) -> Clock:
    if isinstance(now, datetime):
        return lambda: now
    return now


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


def due_ids(db: Database, now: datetime, limit: int) -> list[int]:
    """Pending messages whose next attempt is due and that no live claim holds, oldest first."""
    with db.transaction(write=False) as s:
        return list(
            s.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
        )


def _claim(db: Database, message_id: int, now: datetime, worker: str, lease: float) -> _Claimed | None:
    """Take the row for this worker, or None if another worker has it (conditional UPDATE)."""
    with db.transaction() as s:
        result = s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
            )
            .values(locked_until=now + timedelta(seconds=lease), claimed_by=worker),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount != 1:
            return None
        row = s.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.to_address,
                OutboxMessage.subject,
                OutboxMessage.body_text,
                OutboxMessage.body_html,
                OutboxMessage.message_id,
                OutboxMessage.created_at,
                OutboxMessage.attempts,
            ).where(OutboxMessage.id == message_id)
        ).one()
        return _Claimed(*row)


def _mark_sent(db: Database, message: _Claimed, now: datetime) -> None:
    """Record the server's acceptance; committed at once (a crash before it means a resend)."""
    with db.transaction() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.status == "pending")
            .values(
                status="sent",
                sent_at=now,
                attempts=OutboxMessage.attempts + 1,
                locked_until=None,
                last_error=None,
            ),
            execution_options={"synchronize_session": False},
        )


def _mark_failed(
    db: Database,
    message: _Claimed,
    now: datetime,
    worker: str,
    error: str,
    retry: RetryPolicy,
    *,
    permanent: bool,
) -> bool:
    """Count the failed attempt and schedule the next; True when the message is given up."""
    attempts = message.attempts + 1
    give_up = permanent or attempts >= retry.max_attempts
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": error[:ERROR_MAX_CHARS],
        "locked_until": None,
    }
    if give_up:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = now + retry.delay(attempts)
    with db.transaction() as s:
        s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.status == "pending",
                OutboxMessage.claimed_by == worker,
            )
            .values(**values),
            execution_options={"synchronize_session": False},
        )
    return give_up


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _is_permanent(exc: BaseException) -> bool:
    """The server refused the recipient for good (5xx): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, ValueError)  # the message cannot even be built


def deliver_pending(
    db: Database,
    *,
    now: datetime | Clock,
    smtp_settings: SmtpSettings,
    limit: int = 100,
    retry: RetryPolicy | None = None,
    worker: str | None = None,
) -> DeliveryReport:
    """One pass: claim each due message in its own transaction, send it, record the outcome.

    `now` is a datetime or a clock callable (read again for each message, so claims made late
    in a long pass still get a full lease). With no SMTP host configured nothing is touched.
    """
    report = DeliveryReport(configured=smtp_settings.configured)
    if not smtp_settings.configured:
        return report
    clock = _clock(now)
    retry = retry or RetryPolicy()
    worker = worker or worker_name()
    # Once connecting fails, the rest of this pass's messages fail with the same error
    # instead of each waiting for its own connection timeout.
    unreachable: str | None = None
    with SmtpConnection(smtp_settings) as conn:
        for message_id in due_ids(db, clock(), limit):
            message = _claim(db, message_id, clock(), worker, retry.lease)
            if message is None:
                report.skipped += 1
                continue
            error: str | None = unreachable
            permanent = False
            if error is None:
                try:
                    conn.connect()
                except Exception as exc:  # any failure to reach the server is retried later
                    error = unreachable = _describe(exc)
            if error is None:
                try:
                    conn.send(
                        build_message(
                            mail_from=smtp_settings.mail_from,
                            to=message.to_address,
                            subject=message.subject,
                            body_text=message.body_text,
                            body_html=message.body_html,
                            message_id=message.message_id,
                            date=message.created_at,
                        )
                    )
                except Exception as exc:  # one bad message must not stop the queue
                    error = _describe(exc)
                    permanent = _is_permanent(exc)
            if error is None:
                _mark_sent(db, message, clock())
                report.sent += 1
                continue
            if _mark_failed(db, message, clock(), worker, error, retry, permanent=permanent):
                report.failed += 1
            else:
                report.retrying += 1
            if error not in report.errors:
                report.errors.append(error)
    return report


def delivery_loop(
    db: Database,
    *,
    smtp_settings: SmtpSettings,
    retry: RetryPolicy | None = None,
    limit: int = 100,
    interval: float = 30.0,
    stop: threading.Event,
    clock: Clock = utcnow,
    on_pass: Callable[[DeliveryReport], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> None:
    """Deliver until `stop` is set (the CLI's --loop, or a background thread of the server)."""
    worker = worker_name()
    while not stop.is_set():
        try:
            report = deliver_pending(
                db, now=clock, smtp_settings=smtp_settings, limit=limit, retry=retry, worker=worker
            )
        except Exception as exc:  # e.g. the database restarting: try again next interval
            if on_error is not None:
                on_error(exc)
        else:
            if on_pass is not None:
                on_pass(report)
            if report.attempted >= limit:
                continue  # more may be due right now
        stop.wait(interval)

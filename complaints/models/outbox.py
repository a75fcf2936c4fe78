"""The email outbox: each email is a row written with the change that caused it, sent later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from complaints.db import Base, utcnow

# Why an email was written; one per kind of customer-facing message.
KINDS = ("customer_link", "progress_update", "remedy_offer", "satisfaction_question")
# pending: waiting to be (re)tried; sent: the SMTP server accepted it; failed: retries used up.
STATUSES = ("pending", "sent", "failed")

_KIND_LIST = ", ".join(f"'{k}'" for k in KINDS)
_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)


class OutboxMessage(Base):
    """One email; a worker claims it (locked_until), sends it, and only then marks it sent."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_KIND_LIST})", name="kind_known"),
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="status_known"),
        CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_at_iff_sent"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The worker's query: pending rows whose next attempt is due, oldest first.
        Index("ix_outbox_messages_due", "status", "next_attempt_at", "id"),
        # Staff views: the messages of one case.
        Index("ix_outbox_messages_case", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # RFC 5322 Message-ID fixed at enqueue time: a resend after a crash carries the same one,
    # so the receiving side can recognise (and drop) the duplicate.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A worker's claim: no other worker takes the row until the lease runs out.
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))

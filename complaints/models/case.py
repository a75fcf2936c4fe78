"""The complaint case, the evidence of its steps, its assistants and internal notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from complaints.db import Base, utcnow
from complaints.models.customer import Customer
from complaints.models.staff import User
from complaints.workflow import STATES, TERMINAL_STATES

_STATE_LIST = ", ".join(f"'{s}'" for s in STATES)
_TERMINAL_LIST = ", ".join(f"'{s}'" for s in TERMINAL_STATES)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"state IN ({_STATE_LIST})", name="state_known"),
        # Closed or withdrawn exactly when closed_at is set.
        CheckConstraint(
            f"(state IN ({_TERMINAL_LIST})) = (closed_at IS NOT NULL)", name="closed_at_iff_terminal"
        ),
        # Unclaimed exactly while new (a case withdrawn before claim has no owner).
        CheckConstraint("state <> 'new' OR owner_id IS NULL", name="new_is_unowned"),
        CheckConstraint("state IN ('new', 'withdrawn') OR owner_id IS NOT NULL", name="owned_after_claim"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_cases_state_opened", "state", "opened_at", "id"),
        Index("ix_cases_owner_state", "owner_id", "state", "id"),
        Index("ix_cases_opened_by", "opened_by_id", "id"),
        Index("ix_cases_due", "due_at"),
        Index("ix_cases_state_closed", "state", "closed_at"),
        Index("ix_cases_opened_at", "opened_at", "id"),
        # Reports: claims in a period, with the opening they end (time unclaimed), from the index alone.
        Index("ix_cases_claimed", "claimed_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="new")
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)

    channel: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(String(200))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    purchase_date: Mapped[date | None] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20), default="normal")

    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    state_entered_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    awaiting_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # Number of events appended so far; the row is the lock that keeps the chain linear.
    event_count: Mapped[int] = mapped_column(Integer, default=0)

    # The question waiting for the customer (step and what they are asked to answer).
    pending_step: Mapped[str | None] = mapped_column(String(20))
    pending_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # While awaiting the customer the owner's clock is paused (recorded as events too).
    clock_paused_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When the breach of the current state's deadline was recorded (once per state entry).
    breach_recorded_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_update_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Facts from the history kept on the row for lists, queues and reports.
    root_cause_category: Mapped[str | None] = mapped_column(String(40))
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    satisfaction_score: Mapped[int | None] = mapped_column(Integer)
    # Something happened that puts the case in the audit queue whatever the sample says.
    must_audit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The closure last audited (equal to closed_at when the current closure is audited).
    audited_closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id], lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    steps: Mapped[list[StepRecord]] = relationship(
        back_populates="case", order_by="StepRecord.id", lazy="select"
    )
    assistants: Mapped[list[Assistant]] = relationship(
        back_populates="case", lazy="selectin", order_by="Assistant.created_at"
    )
    notes: WriteOnlyMapped[Note] = relationship(order_by="Note.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.state not in TERMINAL_STATES

    @property
    def assistant_ids(self) -> frozenset[int]:
        return frozenset(a.user_id for a in self.assistants)


class StepRecord(Base):
    """The evidence given to complete one step (a step done twice in a loop has two)."""

    __tablename__ = "step_records"
    __table_args__ = (
        Index("ix_step_records_case", "case_id", "id"),
        # Reports: the steps completed in a period (by step), from the index alone.
        Index("ix_step_records_step_recorded", "step", "recorded_at", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))  # the state the step led to
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    # True when a customer's answer was recorded by staff on the customer's word.
    staff_recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="steps")
    recorded_by: Mapped[User | None] = relationship(lazy="joined")


class Assistant(Base):
    """A colleague the owner invited to help: may add notes, never owns."""

    __tablename__ = "assistants"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="assistants")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class Note(Base):
    """An internal note: never shown to the customer."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class ReferenceCounter(Base):
    """The last number given out per year, for references like C-2026-000123."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)

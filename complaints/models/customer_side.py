"""What the customer sees and answers, and what protects them: links, updates, interim measures,
remedy approvals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from complaints.db import Base, utcnow
from complaints.models.staff import User


class CustomerLink(Base):
    """An unguessable, expiring link for one case; only the token's SHA-256 is stored."""

    __tablename__ = "customer_links"
    __table_args__ = (Index("ix_customer_links_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    # Set when a newer link replaces this one, or staff revoke it.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class ProgressUpdate(Base):
    """A customer-facing message from the owner (checked against the forbidden phrases)."""

    __tablename__ = "progress_updates"
    __table_args__ = (Index("ix_progress_updates_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class InterimMeasure(Base):
    """Containment while the real fix is under way (a loaner device, 备用机)."""

    __tablename__ = "interim_measures"
    __table_args__ = (Index("ix_interim_measures_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    given_at: Mapped[datetime] = mapped_column(DateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    made_permanent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def is_open(self) -> bool:
        return self.withdrawn_at is None and self.made_permanent_at is None


class RemedyApproval(Base):
    """A quality manager's decision on a remedy beyond policy, before it is offered."""

    __tablename__ = "remedy_approvals"
    __table_args__ = (Index("ix_remedy_approvals_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    remedy: Mapped[str] = mapped_column(String(40))
    remedy_detail: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    reason: Mapped[str] = mapped_column(Text)  # why the owner asks for more than policy
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved: Mapped[bool | None] = mapped_column(Boolean)
    decision_note: Mapped[str | None] = mapped_column(Text)
    # The evidence the owner will offer once approved (remedy, detail, due date …).
    proposal: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

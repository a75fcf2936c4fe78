"""Audits of closed and withdrawn cases by quality managers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from complaints.db import Base, utcnow
from complaints.models.staff import User


class Audit(Base):
    """A verdict on one closure of a case; a reopened case is audited again when it closes."""

    __tablename__ = "audits"
    __table_args__ = (
        CheckConstraint("verdict IN ('compliant', 'findings')", name="verdict_known"),
        Index("ix_audits_case", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    auditor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    # [{"item": checklist item code, "text": the finding}]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The checklist as computed when the verdict was given.
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reopen_to: Mapped[str | None] = mapped_column(String(20))
    # The closure this audit covers (the case's closed_at then).
    case_closed_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    auditor: Mapped[User] = relationship(lazy="joined")

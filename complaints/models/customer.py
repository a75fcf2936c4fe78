"""Customers, found again at intake by phone or email."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from complaints.db import Base, utcnow


def phone_digits(phone: str | None) -> str | None:
    """The digits of a phone number, for matching '138-0013 8000' with '13800138000'."""
    digits = re.sub(r"\D", "", phone or "")
    return digits or None


def normal_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_digits: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when the customer's personal data was erased (anonymised) on request or by retention.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime)

"""Settings quality managers edit in the UI, and the forbidden-phrase list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from complaints.db import Base, utcnow


class Setting(Base):
    """One edited setting (time limits, working calendar, remedy policy …) as JSON.

    A key that has no row uses the default defined in code.
    """

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ForbiddenPhrase(Base):
    """A phrase staff must not say to a customer (服务禁语). Built-in ones are deactivated,
    never deleted, so they are not added back."""

    __tablename__ = "forbidden_phrases"

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

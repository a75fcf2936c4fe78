"""The search index's source rows: one per case, rebuilt whenever the case or its customer changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from complaints.db import Base


class CaseSearch(Base):
    """Normalised text of a case (fields joined by newlines) and the grams its index is built on.

    ``grams`` is a ``bigint[]`` of characters, pairs and triples (as integers) under a GIN index on
    PostgreSQL, and a string of encoded pair tokens read by an FTS5 index on SQLite
    (``case_search_fts``, kept in step by triggers). complaints.search writes both.
    """

    __tablename__ = "case_search"
    # The GIN index exists on PostgreSQL only (SQLite reads case_search_fts instead).
    __table_args__ = (
        Index(
            "ix_case_search_grams", "grams", postgresql_using="gin", postgresql_with={"fastupdate": "off"}
        ).ddl_if(dialect="postgresql"),
    )

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    doc: Mapped[str] = mapped_column(Text)
    grams: Mapped[Any] = mapped_column(Text().with_variant(ARRAY(BigInteger), "postgresql"))

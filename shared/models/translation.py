"""Approved translations: one row per (project, string key, target language)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, TimestampMixin


class Translation(TimestampMixin, Base):
    """A bulk table: a sequence id (shown as `tr_<n>`) instead of a random string id, so a million
    rows load in seconds and the primary key doubles as the per-project list index.

    No foreign key to `projects`: Postgres checks one per inserted row, which cost 40% of a COPY here.
    Rows are only written for a live project held under the import's lock, and projects are never
    hard-deleted (soft delete keeps their translations for datasets)."""

    __tablename__ = "translations"
    __table_args__ = (UniqueConstraint("project_id", "key", "target_language"),)
    id_prefix = "tr"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    source_language: Mapped[str] = mapped_column(String(35), nullable=False)
    target_language: Mapped[str] = mapped_column(String(35), nullable=False)
    source_text: Mapped[str] = mapped_column(Text, nullable=False)
    target_text: Mapped[str] = mapped_column(Text, nullable=False)
    context: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

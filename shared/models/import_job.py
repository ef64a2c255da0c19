"""Imports: an uploaded file, where it goes (a project or a TM), and how reading it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class ImportJob(RecordBase):
    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint("(project_id IS NULL) <> (translation_memory_id IS NULL)", name="one_destination"),
        Index("ix_imports_due", "updated_at", postgresql_where="status IN ('queued', 'running')"),
    )
    id_prefix = "imp"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    translation_memory_id: Mapped[str | None] = mapped_column(
        ForeignKey("translation_memories.id", ondelete="CASCADE")
    )
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    file_name: Mapped[str | None] = mapped_column(String(255))
    byte_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(500), nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    # queued -> running -> succeeded | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'queued'"))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

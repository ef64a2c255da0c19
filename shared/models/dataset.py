"""A dataset: an immutable recipe and, once built, its training and validation files and report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class Dataset(RecordBase):
    __tablename__ = "datasets"
    __table_args__ = (
        Index("ix_datasets_organization_id_id", "organization_id", "id"),
        # The `datasets` sweep reads only unfinished builds.
        Index("ix_datasets_building", "updated_at", postgresql_where="status = 'building'"),
    )
    id_prefix: ClassVar[str] = "ds"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    # `building` -> `ready` | `failed`; nothing of a dataset changes after that.
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    recipe: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    provider_kind: Mapped[str] = mapped_column(String(40), nullable=False)
    # Files the build wrote; a file is never deleted while a job uses it (RESTRICT on the job side).
    training_file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    validation_file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # `since_job`, resolved when the dataset is created: only rows approved after this time.
    approved_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest approval among the rows read: `since_job` recipes start after it.
    data_cutoff: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    build_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

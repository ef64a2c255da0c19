"""Projects: a source language, target languages, and the approved translations pushed into them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class Project(RecordBase):
    __tablename__ = "projects"
    id_prefix = "proj"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    source_language: Mapped[str] = mapped_column(String(35), nullable=False)
    target_languages: Mapped[list[str]] = mapped_column(ARRAY(String(35)), nullable=False)
    # Soft delete: datasets built from a project keep pointing at its translations.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

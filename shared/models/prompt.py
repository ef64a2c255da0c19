"""Pre-translate prompts: system text and a user template with named placeholders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class Prompt(RecordBase):
    __tablename__ = "prompts"
    id_prefix = "prm"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    system: Mapped[str] = mapped_column(Text, nullable=False)
    user_template: Mapped[str] = mapped_column(Text, nullable=False)
    # Soft delete: datasets and jobs name the prompt they were built with.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

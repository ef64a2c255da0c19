"""Translation memories: named collections of TM units; their languages come from what is imported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class TranslationMemory(RecordBase):
    __tablename__ = "translation_memories"
    id_prefix = "tm"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(String(35)), nullable=False, server_default=text("'{}'")
    )
    unit_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    # Soft delete, as for projects: datasets keep referring to the units.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

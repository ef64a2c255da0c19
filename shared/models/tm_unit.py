"""TM units: one row per TMX `tu` and target language, identified by `tuid` or by content."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, TimestampMixin


class TmUnit(TimestampMixin, Base):
    """A bulk table like `translations`: sequence ids shown as `tmu_<n>`, and no per-row foreign key
    check (TMs are soft-deleted; units are written only for a live TM locked by the import)."""

    __tablename__ = "tm_units"
    __table_args__ = (UniqueConstraint("translation_memory_id", "unit_key", "target_language"),)
    id_prefix = "tmu"

    translation_memory_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The unit's tuid, or `#` + an md5 of its languages and texts when it has none.
    unit_key: Mapped[str] = mapped_column(Text, nullable=False)
    source_language: Mapped[str] = mapped_column(String(35), nullable=False)
    target_language: Mapped[str] = mapped_column(String(35), nullable=False)
    source_text: Mapped[str] = mapped_column(Text, nullable=False)
    target_text: Mapped[str] = mapped_column(Text, nullable=False)
    context: Mapped[str | None] = mapped_column(Text)
    creation_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The approval time dataset windows use (falling back to creation_date).
    change_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    markup: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    @property
    def tuid(self) -> str | None:
        return None if self.unit_key.startswith("#") else self.unit_key

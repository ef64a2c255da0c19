"""The organization's event log and outbox: one row per thing that happened, written in its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_organization_id_id", "organization_id", "id"),
        Index("ix_events_subject_id_id", "subject_id", "id"),
        Index("ix_events_unpublished", "id", postgresql_where="published_at IS NULL"),
    )

    # A sequence, not a random id: SSE `Last-Event-ID` replay needs a total order.
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    subject_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # The organization's event just before this one; a per-organization lock taken on insert makes
    # commit order equal id order, so a reader that sees `previous_id` jump knows exactly what it missed.
    previous_id: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

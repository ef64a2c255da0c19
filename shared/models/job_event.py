"""A job's event as OpenAI shows it: a message or a metrics line, ours or copied from the provider."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class FineTuningJobEvent(RecordBase):
    __tablename__ = "fine_tuning_job_events"
    __table_args__ = (
        # Polling the same provider page twice stores nothing twice.
        UniqueConstraint("job_id", "provider_event_id"),
        Index("ix_fine_tuning_job_events_job_id_sequence", "job_id", "sequence"),
    )
    id_prefix: ClassVar[str] = "ftevent"

    # Insertion order: ids made in the same millisecond do not sort reliably, this does.
    sequence: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), nullable=False)
    provider_event_id: Mapped[str | None] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(10), nullable=False, default="info")
    type: Mapped[str] = mapped_column(String(40), nullable=False, default="message")
    message: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # When it happened (the provider's time for provider events), not when we stored it.
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

"""A usable model the provider saved during a job (usually one per epoch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class FineTuningJobCheckpoint(RecordBase):
    __tablename__ = "fine_tuning_job_checkpoints"
    __table_args__ = (UniqueConstraint("job_id", "provider_checkpoint_id"),)
    id_prefix: ClassVar[str] = "ftckpt"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), nullable=False)
    provider_checkpoint_id: Mapped[str] = mapped_column(String(255), nullable=False)
    fine_tuned_model_checkpoint: Mapped[str] = mapped_column(String(512), nullable=False)
    step_number: Mapped[int] = mapped_column(Integer, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

"""One training step of a job: losses and token accuracies, merged from whatever the provider reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Double, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base

METRIC_NAMES = (
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


class FineTuningJobMetric(Base):
    __tablename__ = "fine_tuning_job_metrics"

    # (job, step) is the key: ingesting the same step again merges instead of duplicating.
    job_id: Mapped[str] = mapped_column(
        ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    total_steps: Mapped[int | None] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Double)
    train_mean_token_accuracy: Mapped[float | None] = mapped_column(Double)
    valid_loss: Mapped[float | None] = mapped_column(Double)
    valid_mean_token_accuracy: Mapped[float | None] = mapped_column(Double)
    full_valid_loss: Mapped[float | None] = mapped_column(Double)
    full_valid_mean_token_accuracy: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(40), nullable=False)  # events, checkpoints, metrics
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

"""A fine-tuning job: what was asked, where it runs, and every state it went through."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class FineTuningJob(RecordBase):
    __tablename__ = "fine_tuning_jobs"
    __table_args__ = (
        Index("ix_fine_tuning_jobs_organization_id_id", "organization_id", "id"),
        Index("ix_fine_tuning_jobs_organization_id_status", "organization_id", "status"),
        # The `providers` sweep reads only active jobs whose next step is due.
        Index(
            "ix_fine_tuning_jobs_next_poll_at", "next_poll_at", postgresql_where="next_poll_at IS NOT NULL"
        ),
        Index("ix_fine_tuning_jobs_metadata", "metadata", postgresql_using="gin"),
    )
    id_prefix: ClassVar[str] = "ftjob"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    # What was asked.
    provider: Mapped[str] = mapped_column(String(64), nullable=False)  # `local` or a credential id
    provider_kind: Mapped[str] = mapped_column(String(40), nullable=False)
    model: Mapped[str] = mapped_column(String(256), nullable=False)
    parent_model_id: Mapped[str | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    training_file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="RESTRICT"))
    validation_file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="RESTRICT"))
    # A dataset is never deleted while a job uses it.
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    suffix: Mapped[str | None] = mapped_column(String(64))
    job_metadata: Mapped[dict[str, str] | None] = mapped_column("metadata", JSONB(none_as_null=True))
    auto_start: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    # Where it stands, ours and the provider's.
    status: Mapped[str] = mapped_column(String(40), nullable=False)
    provider_status: Mapped[str | None] = mapped_column(String(64))
    provider_job_id: Mapped[str | None] = mapped_column(String(255))
    provider_training_file_id: Mapped[str | None] = mapped_column(String(255))
    provider_validation_file_id: Mapped[str | None] = mapped_column(String(255))
    resolved_hyperparameters: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    estimated_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    actual_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    cost_currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    estimated_finish: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(512))
    result_files: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_param: Mapped[str | None] = mapped_column(String(100))
    # Every transition, in order: [{"status", "at" (unix s), "provider_status", "reason"}].
    transitions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Provider work, driven from here: the next step is due at `next_poll_at` (NULL once final).
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    poll_sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    polls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    submit_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    events_cursor: Mapped[str | None] = mapped_column(String(255))
    last_metric_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_provider_error: Mapped[str | None] = mapped_column(Text)

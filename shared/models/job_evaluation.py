"""An evaluation of a succeeded job: base model against fine-tuned model on the job's validation set."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class JobEvaluation(RecordBase):
    __tablename__ = "job_evaluations"
    __table_args__ = (
        Index("ix_job_evaluations_job_id_id", "job_id", "id"),
        # The `providers` sweep reads only unfinished evaluations whose run is due (or whose lease ran out).
        Index("ix_job_evaluations_due_at", "due_at", postgresql_where="status IN ('queued', 'running')"),
    )
    id_prefix: ClassVar[str] = "fteval"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), nullable=False)
    # `queued -> running -> succeeded | failed`; a transient failure puts a run back to `queued`.
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)  # `job_succeeded` or `request`
    base_model: Mapped[str] = mapped_column(String(512), nullable=False)
    fine_tuned_model: Mapped[str] = mapped_column(String(512), nullable=False)
    segment_count: Mapped[int | None] = mapped_column(Integer)
    # {base: {chrf_pp, bleu, ter, placeholder_errors, placeholder_checked}, fine_tuned: {...}, delta: {...}}
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # One entry per segment: source, reference, both outputs, their chrF++ and placeholder check.
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Queued: when the next run may start. Running: when its lease ends (a crashed run is taken over).
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

"""What a job tells the world: outbox events (`fine_tuning.job.*`) and its own OpenAI-shaped event list.

Outbox payloads stay small (ids, statuses, the few fields a receiver acts on); a receiver that wants
more GETs the job. Metrics are batched: one `fine_tuning.job.metrics` event per poll and 100 steps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.service import record_event
from shared.models import FineTuningJob, FineTuningJobEvent

JOB_CREATED = "fine_tuning.job.created"
JOB_STATUS_CHANGED = "fine_tuning.job.status_changed"
JOB_METRICS = "fine_tuning.job.metrics"
JOB_SUCCEEDED = "fine_tuning.job.succeeded"
JOB_FAILED = "fine_tuning.job.failed"
JOB_CANCELLED = "fine_tuning.job.cancelled"
FINAL_EVENT_TYPES = {"succeeded": JOB_SUCCEEDED, "failed": JOB_FAILED, "cancelled": JOB_CANCELLED}
METRICS_PER_EVENT = 100


def job_summary(job: FineTuningJob) -> dict[str, Any]:
    """The fields every job event carries."""
    summary: dict[str, Any] = {
        "id": job.id,
        "object": "fine_tuning.job",
        "status": job.status,
        "provider": job.provider,
        "provider_status": job.provider_status,
        "provider_job_id": job.provider_job_id,
        "model": job.model,
        "fine_tuned_model": job.fine_tuned_model,
        "metadata": job.job_metadata,
    }
    if job.error_code:
        summary["error"] = {"code": job.error_code, "message": job.error_message, "param": job.error_param}
    return summary


async def add_job_event(
    session: AsyncSession,
    job: FineTuningJob,
    message: str,
    *,
    level: str = "info",
    type: str = "message",
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    """Append one of our own messages to the job's `/events` list."""
    session.add(
        FineTuningJobEvent(
            organization_id=job.organization_id,
            job_id=job.id,
            level=level,
            type=type,
            message=message,
            data=data,
            occurred_at=occurred_at or datetime.now(UTC),
        )
    )
    await session.flush()


async def emit_created(session: AsyncSession, job: FineTuningJob) -> None:
    data = job_summary(job) | {
        "training_file": job.training_file_id,
        "validation_file": job.validation_file_id,
    }
    await record_event(session, job.organization_id, JOB_CREATED, data, subject_id=job.id)


async def emit_status_changed(session: AsyncSession, job: FineTuningJob, previous_status: str) -> None:
    """`status_changed` for every transition, plus `succeeded|failed|cancelled` when it is final."""
    data = job_summary(job) | {"previous_status": previous_status}
    await record_event(session, job.organization_id, JOB_STATUS_CHANGED, data, subject_id=job.id)
    if job.status in FINAL_EVENT_TYPES:
        await record_event(
            session, job.organization_id, FINAL_EVENT_TYPES[job.status], data, subject_id=job.id
        )


async def emit_metrics(session: AsyncSession, job: FineTuningJob, rows: list[dict[str, Any]]) -> None:
    """New step metrics (only steps not stored before), oldest first, in batches."""
    for start in range(0, len(rows), METRICS_PER_EVENT):
        batch = rows[start : start + METRICS_PER_EVENT]
        data = {"id": job.id, "object": "fine_tuning.job", "status": job.status, "metrics": batch}
        await record_event(session, job.organization_id, JOB_METRICS, data, subject_id=job.id)

"""Folding what a provider reports into the job record: status, events, step metrics, checkpoints.

Everything here is idempotent: events and checkpoints are keyed by the provider's ids, metrics by
(job, step), the output model by job; reading the same provider page twice stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.evaluations.service import on_job_succeeded
from shared.files.repository import FileRepository
from shared.fine_tuning_jobs.costs import actual_cost
from shared.fine_tuning_jobs.events import emit_metrics
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.state import FINAL, JobStatus, can_transition, transition
from shared.models import Dataset, FineTunedModel, FineTuningJob
from shared.models.job_metric import METRIC_NAMES
from shared.providers.base import EventsPage, ProviderCheckpoint, ProviderJob, StepMetrics
from shared.providers.status import map_status

log = structlog.get_logger()
LEVELS = {"info", "warn", "error"}


def metric_row(data: dict[str, Any], step: Any) -> dict[str, Any] | None:
    """Our metric columns from a provider's `data`/`metrics` dict; None without a usable step."""
    try:
        step_number = int(step)
    except (TypeError, ValueError):
        return None
    row: dict[str, Any] = {"step": step_number}
    for name in METRIC_NAMES:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            row[name] = float(value)
    if isinstance(data.get("total_steps"), int):
        row["total_steps"] = data["total_steps"]
    return row if len(row) > 1 else None


async def ingest_metrics(
    session: AsyncSession, job: FineTuningJob, rows: Sequence[dict[str, Any]], source: str
) -> int:
    """Upsert step rows; emits `fine_tuning.job.metrics` for the steps that are new. Returns how many."""
    if not rows:
        return 0
    repository = JobRepository(session)
    stored = await repository.upsert_metrics(job, rows, source)
    job.last_metric_step = max(job.last_metric_step, *(row["step"] for row in rows))
    if stored:
        payload = [
            {"step": m.step, "total_steps": m.total_steps}
            | {n: getattr(m, n) for n in METRIC_NAMES if getattr(m, n) is not None}
            for m in stored
        ]
        await emit_metrics(session, job, payload)
    return len(stored)


async def ingest_events(session: AsyncSession, job: FineTuningJob, page: EventsPage) -> int:
    """Store the provider's new events (and the metrics inside `metrics` events); returns how many."""
    events = [
        {
            "provider_event_id": event.id,
            "level": event.level if event.level in LEVELS else "info",
            "type": event.type,
            "message": event.message[:10_000],
            "data": event.data,
            "occurred_at": event.created_at,
        }
        for event in page.events
    ]
    stored = await JobRepository(session).add_provider_events(job, events)
    metrics = [
        row
        for event in page.events
        if event.type == "metrics" and event.data
        if (row := metric_row(event.data, event.data.get("step"))) is not None
    ]
    await ingest_metrics(session, job, metrics, "events")
    job.events_cursor = page.cursor
    return stored


async def ingest_checkpoints(
    session: AsyncSession, job: FineTuningJob, checkpoints: Sequence[ProviderCheckpoint]
) -> int:
    rows = [
        {
            "provider_checkpoint_id": checkpoint.id,
            "fine_tuned_model_checkpoint": checkpoint.fine_tuned_model_checkpoint,
            "step_number": checkpoint.step_number,
            "metrics": checkpoint.metrics,
            "occurred_at": checkpoint.created_at,
        }
        for checkpoint in checkpoints
    ]
    stored = await JobRepository(session).add_checkpoints(job, rows)
    metrics = [
        row
        for checkpoint in checkpoints
        if (row := metric_row(checkpoint.metrics, checkpoint.metrics.get("step", checkpoint.step_number)))
    ]
    await ingest_metrics(session, job, metrics, "checkpoints")
    return stored


async def ingest_step_metrics(session: AsyncSession, job: FineTuningJob, steps: Sequence[StepMetrics]) -> int:
    rows = [
        {"step": s.step, **s.values} | ({"total_steps": s.total_steps} if s.total_steps else {})
        for s in steps
    ]
    return await ingest_metrics(session, job, [row for row in rows if len(row) > 1], "metrics")


async def _record_model(session: AsyncSession, job: FineTuningJob) -> None:
    """The output model with its lineage: base model, job, training data hash, parent model."""
    if not job.fine_tuned_model:
        return
    repository = JobRepository(session)
    parent = await session.get(FineTunedModel, job.parent_model_id) if job.parent_model_id else None
    training = await FileRepository(session).get_any(job.training_file_id) if job.training_file_id else None
    dataset = await session.get(Dataset, job.dataset_id) if job.dataset_id else None
    # The dataset's content hash when a dataset built the data, else the training file's own.
    data_hash = dataset.content_hash if dataset is not None else training.sha256 if training else None
    await repository.add_model(
        {
            "organization_id": job.organization_id,
            "name": job.fine_tuned_model,
            "base_model": parent.base_model if parent is not None else job.model,
            "job_id": job.id,
            "parent_model_id": job.parent_model_id,
            "provider": job.provider,
            "provider_kind": job.provider_kind,
            "dataset_hash": data_hash,
            "dataset_id": job.dataset_id,
        }
    )


async def apply_provider_job(
    session: AsyncSession, settings: Settings, job: FineTuningJob, remote: ProviderJob
) -> None:
    """Copy the provider's view onto the job and move our status where the provider's maps to."""
    job.provider_job_id = job.provider_job_id or remote.id
    job.provider_status = remote.raw_status
    job.trained_tokens = remote.trained_tokens if remote.trained_tokens is not None else job.trained_tokens
    job.fine_tuned_model = remote.fine_tuned_model or job.fine_tuned_model
    job.estimated_finish = remote.estimated_finish
    job.resolved_hyperparameters = remote.hyperparameters or job.resolved_hyperparameters
    job.result_files = remote.result_files or job.result_files
    mapped = map_status(job.provider_kind, remote.raw_status)
    if mapped is None:
        log.warning(
            "fine_tuning_job.unknown_provider_status", job_id=job.id, provider_status=remote.raw_status
        )
        return
    if mapped == job.status or (job.status == JobStatus.CANCELLING and mapped not in FINAL):
        return
    if not can_transition(job.status, mapped):
        log.warning(
            "fine_tuning_job.ignored_provider_status", job_id=job.id, status=job.status, mapped=mapped
        )
        return
    error = None
    if mapped == JobStatus.FAILED:
        message = remote.error_message or f"The provider reported the job as {remote.raw_status}."
        error = (remote.error_code or "provider_error", message, remote.error_param)
    if mapped == JobStatus.SUCCEEDED:
        base_model = job.model
        if job.parent_model_id and (parent := await session.get(FineTunedModel, job.parent_model_id)):
            base_model = parent.base_model
        job.actual_cost = actual_cost(
            settings, job.provider_kind, base_model, job.trained_tokens, remote.cost
        )
        job.finished_at = remote.finished_at or job.finished_at
        await _record_model(session, job)
    elif remote.cost is not None and job.estimated_cost is None:
        job.estimated_cost = Decimal(str(remote.cost))  # the provider's own estimate (Mistral)
    if remote.cost_currency:
        job.cost_currency = remote.cost_currency[:3]
    await transition(session, job, mapped, reason=f"provider status {remote.raw_status}", error=error)
    if mapped == JobStatus.SUCCEEDED:
        await on_job_succeeded(session, settings, job)  # queues its evaluation when it has a validation file

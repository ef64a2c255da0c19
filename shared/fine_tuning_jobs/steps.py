"""The provider work of one job, one step per task: upload a file, create the job, poll it, or cancel it.

A step holds the job's advisory lock for its whole run (steps of one job never overlap), reads the
job, talks to the provider, then re-reads the job row-locked and applies what it learnt. Each step
makes at most one change at the provider and commits it before the next step is scheduled, and
before creating a provider job it looks for one made by an earlier, interrupted attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.errors import AttuneError
from shared.files.repository import FileRepository
from shared.fine_tuning_jobs.events import add_job_event
from shared.fine_tuning_jobs.ingest import (
    apply_provider_job,
    ingest_checkpoints,
    ingest_events,
    ingest_step_metrics,
)
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.scheduling import POLL_TASK, backoff_delay, poll_interval, poll_job_id, schedule
from shared.fine_tuning_jobs.state import AT_PROVIDER, FINAL, JobStatus, transition
from shared.models import FineTuningJob
from shared.providers.base import (
    JobSpec,
    PermanentProviderError,
    ProviderAdapter,
    RateLimited,
    TransientProviderError,
)
from shared.providers.registry import adapter_for
from shared.providers.status import map_status
from shared.queue import enqueue_job
from shared.storage import get_storage

log = structlog.get_logger()


class StepBusy(Exception):
    """Another step of the same job is running; try again shortly."""


@dataclass
class StepContext:
    session: AsyncSession
    redis: Redis
    settings: Settings
    job_try: int = 1
    client: httpx.AsyncClient | None = None  # tests route provider calls to an in-process fake


async def run_step(ctx: StepContext, job_id: str, sequence: int) -> str:
    """Do the job's next provider step if `sequence` is still current; returns what it did."""
    job, locked = await JobRepository(ctx.session).claim_step(job_id)
    if job is None or job.poll_sequence != sequence or job.next_poll_at is None:
        return "stale"
    if job.status not in AT_PROVIDER:
        return "not_at_provider"
    if not locked:
        raise StepBusy(job_id)
    try:
        adapter = await adapter_for(
            ctx.session, ctx.redis, ctx.settings, job.organization_id, job.provider, client=ctx.client
        )
        if job.status == JobStatus.CANCELLING and job.cancel_sent_at is None:
            return await _cancel(ctx, adapter, job, sequence)
        if job.provider_job_id is None:
            return await _submit(ctx, adapter, job, sequence)
        return await _poll(ctx, adapter, job, sequence)
    except RateLimited as limited:
        if current := await _current(ctx, job_id, sequence):
            schedule(ctx.session, current, limited.wait_seconds)
        return "rate_limited"
    except TransientProviderError as error:
        return await _after_transient(ctx, job_id, sequence, error)
    except (PermanentProviderError, AttuneError) as error:
        return await _after_permanent(ctx, job_id, sequence, error)


async def _current(ctx: StepContext, job_id: str, sequence: int, **provider_ids: str) -> FineTuningJob | None:
    """The job row-locked, or None if the API re-scheduled it meanwhile.

    `provider_ids` (`provider_job_id=...`, `provider_training_file_id=...`) are what this step made
    at the provider: they are recorded even then, so nothing made there is ever forgotten.
    """
    job = await JobRepository(ctx.session).lock(job_id)
    if job is None:
        return None
    for field, value in provider_ids.items():
        if getattr(job, field) is None:
            setattr(job, field, value)
    if job.poll_sequence != sequence:
        # Our lock may have pushed the newer step into a retry: nudge it to run once we commit.
        if job.next_poll_at is not None:
            enqueue_job(
                ctx.session,
                "providers",
                POLL_TASK,
                job.id,
                job.poll_sequence,
                job_id=poll_job_id(job.id, job.poll_sequence),
            )
        return None
    return job


def _after_success(ctx: StepContext, job: FineTuningJob, delay: float | None = None) -> None:
    job.polls += 1
    job.consecutive_failures, job.failing_since, job.last_provider_error = 0, None, None
    if job.status not in FINAL:
        schedule(
            ctx.session,
            job,
            delay if delay is not None else poll_interval(ctx.settings.providers, job.status),
        )


async def _submit(ctx: StepContext, adapter: ProviderAdapter, job: FineTuningJob, sequence: int) -> str:
    for field, provider_field in (
        ("training_file_id", "provider_training_file_id"),
        ("validation_file_id", "provider_validation_file_id"),
    ):
        file_id = getattr(job, field)
        if file_id is None or getattr(job, provider_field) is not None:
            continue
        file = await FileRepository(ctx.session).get_any(file_id)
        assert file is not None
        filename = f"attune-{file.id}.jsonl"
        # A retry may follow an upload that landed but was never recorded: look before uploading again.
        retrying = ctx.job_try > 1 or job.submit_attempts > 0
        uploaded = await adapter.find_file(filename) if retrying else None
        if uploaded is None:
            with get_storage(ctx.settings).open_read(file.storage_key) as content:
                uploaded = await adapter.upload_file(content, filename)
        if current := await _current(ctx, job.id, sequence, **{provider_field: uploaded}):
            await add_job_event(ctx.session, current, f"Uploaded {file.id} to {job.provider} as {uploaded}")
            _after_success(ctx, current, 0)
        return "uploaded"
    assert job.provider_training_file_id is not None
    remote = await adapter.find_job(job.id)
    found = remote is not None
    if remote is None:
        remote = await adapter.create_job(
            JobSpec(
                attune_job_id=job.id,
                model=job.model,
                training_file=job.provider_training_file_id,
                validation_file=job.provider_validation_file_id,
                n_epochs=job.hyperparameters.get("n_epochs", "auto"),
                batch_size=job.hyperparameters.get("batch_size", "auto"),
                learning_rate_multiplier=job.hyperparameters.get("learning_rate_multiplier", "auto"),
                seed=job.seed,
                suffix=job.suffix,
                metadata=job.job_metadata or {},
            )
        )
    current = await _current(ctx, job.id, sequence, provider_job_id=remote.id)
    if current is None:
        return "superseded"
    verb = "Re-attached to" if found else "Created"
    await add_job_event(ctx.session, current, f"{verb} provider job {remote.id} on {job.provider}")
    await apply_provider_job(ctx.session, ctx.settings, current, remote)
    _after_success(ctx, current)
    log.info("fine_tuning_job.submitted", job_id=job.id, provider_job_id=remote.id, reattached=found)
    return "reattached" if found else "created"


async def _poll(ctx: StepContext, adapter: ProviderAdapter, job: FineTuningJob, sequence: int) -> str:
    assert job.provider_job_id is not None
    remote = await adapter.get_job(job.provider_job_id)
    page = await adapter.list_events(job.provider_job_id, job.events_cursor)
    mapped = map_status(job.provider_kind, remote.raw_status)
    ending = mapped in FINAL
    checkpoints = []
    if (
        ending
        or adapter.embeds_progress
        or (mapped == JobStatus.RUNNING and job.polls % ctx.settings.providers.checkpoint_poll_every == 0)
    ):
        checkpoints = list(await adapter.list_checkpoints(job.provider_job_id))
    metrics = []
    if mapped in (JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.CANCELLED, JobStatus.FAILED):
        metrics = list(await adapter.list_metrics(job.provider_job_id, job.last_metric_step))
    current = await _current(ctx, job.id, sequence)
    if current is None:
        return "superseded"
    await ingest_events(ctx.session, current, page)
    await ingest_checkpoints(ctx.session, current, checkpoints)
    await ingest_step_metrics(ctx.session, current, metrics)
    await apply_provider_job(ctx.session, ctx.settings, current, remote)
    _after_success(ctx, current)
    return "polled"


async def _cancel(ctx: StepContext, adapter: ProviderAdapter, job: FineTuningJob, sequence: int) -> str:
    provider_job_id = job.provider_job_id
    if provider_job_id is None:
        found = await adapter.find_job(job.id)  # an interrupted submit may have created it
        if found is None:
            if current := await _current(ctx, job.id, sequence):
                await transition(
                    ctx.session, current, JobStatus.CANCELLED, reason="no provider job was created"
                )
            return "cancelled"
        provider_job_id = found.id
    remote = await adapter.cancel_job(provider_job_id)
    current = await _current(ctx, job.id, sequence, provider_job_id=provider_job_id)
    if current is None:
        return "superseded"
    current.cancel_sent_at = datetime.now(UTC)
    await add_job_event(ctx.session, current, f"Cancellation sent to {job.provider} for {provider_job_id}")
    await apply_provider_job(ctx.session, ctx.settings, current, remote)
    _after_success(ctx, current)
    return "cancel_sent"


async def _after_transient(
    ctx: StepContext, job_id: str, sequence: int, error: TransientProviderError
) -> str:
    job = await _current(ctx, job_id, sequence)
    if job is None:
        return "superseded"
    now = datetime.now(UTC)
    failures = job.consecutive_failures + 1
    failing_since = job.failing_since or now
    job.consecutive_failures, job.failing_since, job.last_provider_error = (
        failures,
        failing_since,
        error.message,
    )
    if job.provider_job_id is None:
        job.submit_attempts += 1
    log.warning("fine_tuning_job.provider_unavailable", job_id=job_id, failures=failures, error=error.message)
    if (now - failing_since).total_seconds() > ctx.settings.providers.give_up_after_seconds:
        message = f"The provider kept failing for {failures} attempts; last error: {error.message}"
        await transition(ctx.session, job, JobStatus.FAILED, error=("provider_unreachable", message, None))
        return "gave_up"
    schedule(ctx.session, job, backoff_delay(ctx.settings.providers, failures, error.retry_after))
    return "backing_off"


async def _after_permanent(
    ctx: StepContext, job_id: str, sequence: int, error: PermanentProviderError | AttuneError
) -> str:
    job = await _current(ctx, job_id, sequence)
    if job is None:
        return "superseded"
    if job.status == JobStatus.CANCELLING and getattr(error, "status_code", None) == 404:
        await transition(ctx.session, job, JobStatus.CANCELLED, reason="the provider no longer has the job")
        return "cancelled"
    if isinstance(error, PermanentProviderError):
        code = error.code or f"provider_http_{error.status_code}"
        details = (code, error.message, error.param)
    else:
        details = (error.code, error.detail, None)
    log.warning("fine_tuning_job.provider_refused", job_id=job_id, code=details[0], message=details[1])
    await transition(ctx.session, job, JobStatus.FAILED, error=details)
    return "failed"

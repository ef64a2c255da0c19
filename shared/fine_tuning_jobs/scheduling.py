"""When a job's next provider step runs: Postgres holds `next_poll_at`, Redis only carries the nudge.

Every (re)schedule bumps `poll_sequence` and enqueues `fine_tuning_job.poll(job_id, sequence)` with
the ARQ job id `ftjob:<id>:poll:<sequence>`, so duplicates of one step collapse and a superseded step
sees that its sequence is stale and does nothing. The `providers` sweep re-enqueues every step that
is overdue, so a flushed Redis or a killed worker loses no job.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import ProviderSettings, get_settings
from shared.fine_tuning_jobs.repository import JobRepository
from shared.models import FineTuningJob
from shared.queue import QueuedJob, enqueue_job, register_sweep

POLL_TASK = "fine_tuning_job.poll"
SWEEP_BATCH = 10_000
DEFAULT_INTERVAL = 30.0


def poll_job_id(job_id: str, sequence: int) -> str:
    """The ARQ job id of one provider step of one job."""
    return f"ftjob:{job_id}:poll:{sequence}"


def poll_interval(settings: ProviderSettings, status: str) -> float:
    """Seconds until the next poll of a job in `status`, with jitter so polls spread out."""
    base: float = settings.poll_interval_seconds.get(status, DEFAULT_INTERVAL)
    return base * (1 + settings.poll_jitter * random.random())


def backoff_delay(settings: ProviderSettings, failures: int, retry_after: float | None) -> float:
    """Capped exponential backoff with jitter, never sooner than the provider's Retry-After."""
    growth = float(2 ** min(max(0, failures - 1), 30))
    exponential = min(settings.backoff_cap_seconds, settings.backoff_base_seconds * growth)
    delay = exponential * (0.5 + random.random() / 2)  # "equal jitter": at least half the step
    return max(delay, retry_after or 0.0)


def schedule(session: AsyncSession, job: FineTuningJob, delay_seconds: float) -> None:
    """Make the job's next step due in `delay_seconds` and send it after the caller commits."""
    job.poll_sequence += 1
    job.next_poll_at = datetime.now(UTC) + timedelta(seconds=delay_seconds)
    enqueue_job(
        session,
        "providers",
        POLL_TASK,
        job.id,
        job.poll_sequence,
        job_id=poll_job_id(job.id, job.poll_sequence),
        defer_seconds=delay_seconds if delay_seconds > 0 else None,
    )


def unschedule(job: FineTuningJob) -> None:
    """No further steps (a final job); a step already queued finds its sequence stale."""
    job.poll_sequence += 1
    job.next_poll_at = None


@register_sweep("providers")
async def overdue_steps(session: AsyncSession) -> list[QueuedJob]:
    """Steps whose time has passed by more than the grace period: re-attach them (after a restart too)."""
    grace = get_settings().providers.overdue_grace_seconds
    overdue = await JobRepository(session).overdue(datetime.now(UTC) - timedelta(seconds=grace), SWEEP_BATCH)
    return [
        QueuedJob("providers", POLL_TASK, (job_id, sequence), poll_job_id(job_id, sequence))
        for job_id, sequence in overdue
    ]

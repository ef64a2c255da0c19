"""The `providers` queue: one task advances one fine-tuning job by one step (submit, poll or cancel)."""

from __future__ import annotations

from arq.worker import Retry

from services.worker.registry import TaskContext, task
from shared.fine_tuning_jobs import scheduling  # registers the `providers` sweep
from shared.fine_tuning_jobs.steps import StepBusy, StepContext, run_step

BUSY_RETRY_SECONDS = 2


@task("providers", scheduling.POLL_TASK)
async def poll(ctx: TaskContext, job_id: str, sequence: int) -> str:
    """Advance job `job_id` if `sequence` is still its current step; a stale duplicate does nothing."""
    try:
        return await run_step(
            StepContext(ctx.session, ctx.redis, ctx.settings, ctx.job_try), job_id, sequence
        )
    except StepBusy:
        # Another step of this job holds its lock (it is talking to the provider): come back soon.
        raise Retry(defer=BUSY_RETRY_SECONDS) from None

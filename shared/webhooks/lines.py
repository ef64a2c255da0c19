"""An endpoint's line of deliveries and the one queue job that drains it.

Every delivery to an endpoint wakes the same job, `webhooks.drain_line(endpoint_id)`, with the ARQ
job id `webhook_line:{endpoint}:{generation}`. ARQ refuses an id that is queued or running, so
while a drain is waiting to start, every new delivery collapses into it.

The generation closes the one gap that leaves: a delivery committed while a drain runs, after its
last read, would collapse into the running job and wait for the sweep. So a drain bumps the
endpoint's generation (a Redis counter) each time it takes the line, *before* it reads the line;
producers read the generation *after* their commit. A producer that read the old value committed
before the bump, so the drain sees its delivery; one that read the new value wakes a new job.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.queue import enqueue_job

LINE_TASK = "webhooks.drain_line"
# Generations outlive any drain by far; an endpoint unused this long starts again from 0.
GENERATION_TTL_SECONDS = 7 * 86400


def line_job_id(endpoint_id: str) -> str:
    """The id prefix of the endpoint's drain jobs (the generation is appended when sent)."""
    return f"webhook_line:{endpoint_id}"


def generation_key(endpoint_id: str) -> str:
    return f"attune:webhooks:line_generation:{endpoint_id}"


def wake_line(session: AsyncSession, endpoint_id: str) -> None:
    """Drain the endpoint's line once this transaction commits (one job however many deliveries)."""
    enqueue_job(
        session,
        "webhooks",
        LINE_TASK,
        endpoint_id,
        job_id=line_job_id(endpoint_id),
        generation_key=generation_key(endpoint_id),
    )


def wake_line_at(session: AsyncSession, endpoint_id: str, reason: str, defer_seconds: float) -> None:
    """Drain the line later (its head's retry is due then); `reason` makes the job id, so repeats collapse."""
    enqueue_job(
        session,
        "webhooks",
        LINE_TASK,
        endpoint_id,
        job_id=f"{line_job_id(endpoint_id)}:{reason}",
        defer_seconds=defer_seconds,
    )


async def advance_generation(redis: Redis, endpoint_id: str) -> int:
    """Called by a drain holding the line, before it reads it: later wake-ups make a new job."""
    key = generation_key(endpoint_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, GENERATION_TTL_SECONDS)
        generation, _ = await pipe.execute()
    return int(generation)


async def current_generation(redis: Redis, endpoint_id: str) -> int:
    return int(await redis.get(generation_key(endpoint_id)) or 0)

"""The job-queue contract: named queues, dotted task names, msgpack messages, enqueue after commit.

Tasks carry ids and plain JSON only. `enqueue_job` records the intent on the session; the edge (API
request or worker task) sends it with `send_committed_jobs` after its commit, and a rollback drops
it. Postgres stays the source of truth: each queue's sweep re-enqueues what the database says is due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack
import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import ConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.db import COMMITTED_JOBS, PENDING_JOBS

# `evaluations` has a queue of its own: its runs take minutes, and ARQ holds a killed task of a worker
# for the longest task timeout among that worker's functions, so on `providers` a crashed poll would
# wait as long as an evaluation may take before it runs again.
QueueName = Literal["datasets", "providers", "webhooks", "evaluations"]
QUEUES: tuple[QueueName, ...] = ("datasets", "providers", "webhooks", "evaluations")

log = structlog.get_logger()


def queue_key(queue: QueueName) -> str:
    """The Redis key of a queue."""
    return f"attune:queue:{queue}"


def serialize(message: dict[str, Any]) -> bytes:
    """msgpack, never pickle: anyone who can write to Redis must not run code in a worker."""
    packed: bytes = msgpack.packb(message, datetime=True)
    return packed


def deserialize(payload: bytes) -> dict[str, Any]:
    unpacked: dict[str, Any] = msgpack.unpackb(payload, raw=False, timestamp=3)
    return unpacked


@dataclass(frozen=True)
class QueuedJob:
    queue: QueueName
    task: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None
    defer_seconds: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    # A Redis key whose integer value, read when the job is sent, completes the id (`{job_id}:{value}`):
    # every producer that reads the same value shares one job (a "generation"; see shared/webhooks/lines.py).
    generation_key: str | None = None


def enqueue_job(
    session: AsyncSession,
    queue: QueueName,
    task: str,
    *args: Any,
    job_id: str | None = None,
    defer_seconds: float | None = None,
    generation_key: str | None = None,
) -> None:
    """Record a job to send once the session's transaction commits (dropped on rollback).

    A job whose `job_id` (and `generation_key`) is already recorded in this transaction is recorded
    once: ARQ would refuse the second anyway.
    """
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    kwargs = {"request_id": request_id} if request_id else {}
    if not session.in_transaction():
        # Begin (no I/O yet) so that a rollback before any query still drops the job.
        session.sync_session.begin()
    pending: list[QueuedJob] = session.sync_session.info.setdefault(PENDING_JOBS, [])
    job = QueuedJob(queue, task, tuple(args), job_id, defer_seconds, kwargs, generation_key)
    if job_id is not None and any(
        (queued.job_id, queued.generation_key) == (job_id, generation_key) for queued in pending
    ):
        return
    pending.append(job)


async def send(redis: ArqRedis, job: QueuedJob) -> bool:
    """Put one job on its queue; False when a job with the same id is already queued."""
    job_id = job.job_id
    if job.generation_key is not None:
        generation = await redis.get(job.generation_key)
        job_id = f"{job_id}:{int(generation or 0)}"
    sent = await redis.enqueue_job(
        job.task,
        *job.args,
        _queue_name=queue_key(job.queue),
        _job_id=job_id,
        _defer_by=job.defer_seconds,
        **job.kwargs,
    )
    return sent is not None


async def send_committed_jobs(session: AsyncSession, redis: ArqRedis) -> int:
    """Send what the committed transaction recorded. A failure here loses nothing: the sweep re-sends."""
    jobs: list[QueuedJob] = session.sync_session.info.pop(COMMITTED_JOBS, [])
    sent = 0
    for job in jobs:
        try:
            sent += await send(redis, job)
        except Exception:
            log.warning("queue.send_failed", task=job.task, queue=job.queue, exc_info=True)
    return sent


def redis_settings(settings: Settings) -> RedisSettings:
    """ARQ's connection settings from ATTUNE_REDIS_URL."""
    return RedisSettings.from_dsn(settings.redis_url)


async def create_redis(settings: Settings, *, wait: bool = False) -> ArqRedis:
    """A Redis client that serialises jobs with msgpack; connects lazily unless `wait` (retry until up)."""
    if wait:
        return await create_pool(
            redis_settings(settings),
            job_serializer=serialize,
            job_deserializer=deserialize,
            default_queue_name=queue_key("datasets"),
        )
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis.connect_timeout,
        socket_timeout=settings.redis.connect_timeout,
    )
    return ArqRedis(
        pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=queue_key("datasets"),
    )


# A sweep looks at the database and returns the jobs that are due; each queue runs its own.
Sweep = Callable[[AsyncSession], Awaitable[list[QueuedJob]]]
SWEEPS: dict[QueueName, list[Sweep]] = {queue: [] for queue in QUEUES}


def register_sweep(queue: QueueName) -> Callable[[Sweep], Sweep]:
    """Decorator: run this function in the queue's periodic sweep."""

    def register(sweep: Sweep) -> Sweep:
        SWEEPS[queue].append(sweep)
        return sweep

    return register

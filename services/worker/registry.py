"""Task registration: each task module declares its tasks with `@task(queue, "domain.action")`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog
from arq.connections import ArqRedis
from arq.cron import CronJob, cron
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import transaction
from shared.queue import QUEUES, QueueName, send_committed_jobs

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class TaskContext:
    """What a task gets: its own session (committed after it returns), Redis, settings, attempt."""

    session: AsyncSession
    redis: ArqRedis
    settings: Settings
    job_try: int


TaskFunction = Callable[Concatenate[TaskContext, P], Awaitable[R]]
TASKS: dict[QueueName, list[Function]] = {queue: [] for queue in QUEUES}
CRONS: dict[QueueName, list[CronJob]] = {queue: [] for queue in QUEUES}
# Run when a worker process stops (close the pools a task module keeps per process).
SHUTDOWN_HOOKS: list[Callable[[], Awaitable[None]]] = []


def on_shutdown(hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Decorator: await `hook()` when the worker process shuts down."""
    SHUTDOWN_HOOKS.append(hook)
    return hook


async def run_in_transaction(
    ctx: dict[str, Any], function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> Any:
    """Run a task function in one transaction, then send the jobs it enqueued."""
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    async with transaction(sessionmaker) as session:
        result = await function(
            TaskContext(session, ctx["redis"], ctx["settings"], ctx.get("job_try", 1)), *args, **kwargs
        )
    await send_committed_jobs(session, ctx["redis"])
    return result


def task(
    queue: QueueName, name: str, *, timeout_seconds: int | None = None, max_tries: int | None = None
) -> Callable[[TaskFunction[P, R]], TaskFunction[P, R]]:
    """Register `function(ctx, *ids)` as ARQ task `name` on `queue`; the function stays callable in tests."""

    def register(function: TaskFunction[P, R]) -> TaskFunction[P, R]:
        async def run(ctx: dict[str, Any], *args: Any, request_id: str | None = None, **kwargs: Any) -> Any:
            structlog.contextvars.bind_contextvars(
                request_id=request_id, task=name, job_id=ctx.get("job_id"), job_try=ctx.get("job_try")
            )
            try:
                return await run_in_transaction(ctx, function, *args, **kwargs)
            finally:
                structlog.contextvars.clear_contextvars()

        TASKS[queue].append(func(run, name=name, timeout=timeout_seconds, max_tries=max_tries))
        return function

    return register


def periodic(
    queue: QueueName, name: str, **schedule: Any
) -> Callable[[TaskFunction[[], R]], TaskFunction[[], R]]:
    """Register `function(ctx)` as a cron job on `queue` (arq.cron schedule keywords)."""

    def register(function: TaskFunction[[], R]) -> TaskFunction[[], R]:
        async def run(ctx: dict[str, Any]) -> Any:
            structlog.contextvars.bind_contextvars(task=name)
            try:
                return await run_in_transaction(ctx, function)
            finally:
                structlog.contextvars.clear_contextvars()

        CRONS[queue].append(cron(run, name=name, **schedule))
        return function

    return register

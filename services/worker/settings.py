"""One ARQ WorkerSettings per queue, built from the registered tasks, crons and sweeps."""

from __future__ import annotations

import importlib
from typing import Any

import structlog

from services.worker.registry import CRONS, SHUTDOWN_HOOKS, TASKS, TaskContext, periodic
from shared.config import Settings, get_settings
from shared.db import create_engine, create_sessionmaker
from shared.events.relay import relay
from shared.logging import configure_logging
from shared.queue import (
    QUEUES,
    SWEEPS,
    QueueName,
    deserialize,
    queue_key,
    redis_settings,
    send,
    serialize,
)

log = structlog.get_logger()

# Modules whose import registers tasks; each domain adds its `services.worker.<domain>.tasks` here.
TASK_MODULES = (
    "services.worker.maintenance.tasks",
    "services.worker.webhooks.tasks",
    "services.worker.events.tasks",
    "services.worker.fine_tuning_jobs.tasks",
    "services.worker.evaluations.tasks",
    "services.worker.datasets.tasks",
    "services.worker.imports.tasks",
)


def _load_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def _register_sweep(queue: QueueName, interval_seconds: int) -> None:
    async def sweep(ctx: TaskContext) -> int:
        sent = 0
        for due in SWEEPS[queue]:
            for job in await due(ctx.session):
                sent += await send(ctx.redis, job)
        if sent:
            log.info("queue.sweep_reenqueued", queue=queue, sent=sent)
        return sent

    if not any(job.name == f"{queue}.sweep" for job in CRONS[queue]):
        periodic(queue, f"{queue}.sweep", second=set(range(0, 60, max(1, min(interval_seconds, 59)))))(sweep)


async def _startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    configure_logging(settings)
    ctx["engine"] = create_engine(settings)
    ctx["sessionmaker"] = create_sessionmaker(ctx["engine"])
    # Events recorded by tasks are published right after their commit (the sweep catches the rest).
    ctx["event_relay"] = relay.configure(ctx["redis"], ctx["sessionmaker"])
    log.info("worker.started", queue=ctx["queue"])


async def _shutdown(ctx: dict[str, Any]) -> None:
    for hook in SHUTDOWN_HOOKS:
        await hook()
    await relay.release(ctx.get("event_relay"))
    await ctx["engine"].dispose()
    log.info("worker.stopped", queue=ctx["queue"])


def worker_settings(queue: QueueName, settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` serving one queue."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    settings = settings or get_settings()
    _load_tasks()
    _register_sweep(queue, settings.worker.sweep_interval_seconds)
    return {
        "functions": TASKS[queue],
        "cron_jobs": CRONS[queue],
        "queue_name": queue_key(queue),
        "redis_settings": redis_settings(settings),
        "on_startup": _startup,
        "on_shutdown": _shutdown,
        "ctx": {"settings": settings, "queue": queue},
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "max_jobs": settings.worker.max_jobs,
        "job_timeout": settings.worker.job_timeout_seconds,
        "max_tries": settings.worker.max_tries,
        "keep_result": 0,
        "health_check_interval": settings.worker.health_check_interval_seconds,
        "job_completion_wait": settings.worker.shutdown_wait_seconds,
    }

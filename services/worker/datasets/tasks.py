"""The `datasets` queue: build a dataset, move on the jobs waiting for it, remove a deleted one's files."""

from __future__ import annotations

import structlog

from services.dataset_builder.build import build_dataset
from services.worker.registry import TaskContext, task
from shared.config import get_settings
from shared.datasets import service  # registers the `datasets` sweep
from shared.storage import get_storage

log = structlog.get_logger()


@task("datasets", service.BUILD_TASK, timeout_seconds=get_settings().datasets.timeout_seconds)
async def build(ctx: TaskContext, dataset_id: str) -> str:
    """Build dataset `dataset_id`; a crash is counted and the sweep tries again, up to the limit."""
    try:
        return await build_dataset(ctx.session, ctx.settings, dataset_id)
    except Exception as error:
        log.exception("dataset.build_crashed", dataset_id=dataset_id)
        await ctx.session.rollback()
        return await service.record_crash(ctx.session, ctx.settings, dataset_id, error)


@task("datasets", service.ADVANCE_JOBS_TASK)
async def advance_jobs(ctx: TaskContext, dataset_id: str) -> int:
    """Move on the fine-tuning jobs still waiting on finished dataset `dataset_id`."""
    return await service.advance_waiting_jobs(ctx.session, ctx.settings, dataset_id)


@task("datasets", service.DELETE_FILES_TASK)
async def delete_files(ctx: TaskContext, storage_keys: list[str]) -> int:
    """Remove the stored objects of a deleted dataset's files (after its deletion committed)."""
    storage = get_storage(ctx.settings)
    for key in storage_keys:
        await storage.delete(key)
    return len(storage_keys)

"""Running imports on the `datasets` queue."""

from __future__ import annotations

import structlog

from services.worker.registry import TaskContext, task
from shared.config import get_settings
from shared.imports.service import MAX_ATTEMPTS, TASK, give_up, mark_running, run_import
from shared.storage import get_storage

log = structlog.get_logger()


@task("datasets", TASK, timeout_seconds=get_settings().imports.timeout_seconds, max_tries=3)
async def run(ctx: TaskContext, import_id: str) -> str | None:
    """Claim the import (committed, so `running` shows), then read, load and report it in one transaction."""
    job = await mark_running(ctx.session, import_id)
    if job is None or job.status != "running":
        return job.status if job is not None else None  # finished already: a retry changes nothing
    if job.attempts > MAX_ATTEMPTS:
        await give_up(ctx.session, import_id)
        return "failed"
    await ctx.session.commit()
    finished = await run_import(ctx.session, ctx.settings, get_storage(ctx.settings), import_id)
    return finished.status if finished is not None else None

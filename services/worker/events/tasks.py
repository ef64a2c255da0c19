"""The relay sweep: publish committed events that the after-commit relay missed."""

from __future__ import annotations

from services.worker.registry import TaskContext, periodic
from shared.events.relay import republish_unpublished


@periodic("webhooks", "events.relay_sweep", second=set(range(0, 60, 5)), run_at_startup=True)
async def relay_sweep(ctx: TaskContext) -> int:
    """Every five seconds: publish events older than the grace period that are still unpublished."""
    return await republish_unpublished(
        ctx.session, ctx.redis, older_than_seconds=ctx.settings.events.relay_grace_seconds
    )

"""Housekeeping: expired Idempotency-Keys are purged."""

from __future__ import annotations

import structlog

from services.worker.registry import TaskContext, periodic, task
from shared.idempotency import purge_expired_idempotency_keys

log = structlog.get_logger()


@task("datasets", "maintenance.purge_idempotency_keys")
async def purge_idempotency_keys(ctx: TaskContext) -> int:
    """Delete stored idempotent responses older than the configured retention."""
    purged = await purge_expired_idempotency_keys(ctx.session, ctx.settings.api.idempotency_ttl_hours)
    log.info("maintenance.idempotency_keys_purged", purged=purged)
    return purged


@periodic("datasets", "maintenance.purge_idempotency_keys.hourly", minute=17, second=0)
async def purge_idempotency_keys_hourly(ctx: TaskContext) -> int:
    """The hourly run of `purge_idempotency_keys`."""
    return await purge_idempotency_keys(ctx)

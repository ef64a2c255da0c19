"""The `webhooks` queue: drain each endpoint's line in order, and re-drive due lines from Postgres."""

from __future__ import annotations

import time
from datetime import timedelta

import structlog
from arq.worker import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from services.worker.registry import TaskContext, on_shutdown, task
from shared.config import WebhookSettings, get_settings
from shared.queue import QueuedJob, register_sweep
from shared.webhooks.delivery import drain_line, utcnow
from shared.webhooks.lines import LINE_TASK, line_job_id
from shared.webhooks.repository import WebhookDeliveryRepository
from shared.webhooks.sender import WebhookSender

log = structlog.get_logger()
SWEEP_BATCH = 500
# One pooled HTTP client per worker process, made on first use.
_senders: dict[int, WebhookSender] = {}


def sender_for(settings: WebhookSettings) -> WebhookSender:
    key = id(settings)
    if key not in _senders:
        _senders[key] = WebhookSender(settings)
    return _senders[key]


@on_shutdown
async def close_senders() -> None:
    for sender in _senders.values():
        await sender.aclose()
    _senders.clear()


# A drain waits up to its budget for a line another drain holds, then retries: allow a few.
@task("webhooks", LINE_TASK, timeout_seconds=120, max_tries=20)
async def drain(ctx: TaskContext, endpoint_id: str) -> int:
    """Send the endpoint's due deliveries, head of the line first, in batches."""
    result = await drain_line(
        ctx.session, ctx.settings, sender_for(ctx.settings.webhooks), endpoint_id, redis=ctx.redis
    )
    if result.busy:
        raise Retry(defer=min(ctx.job_try, 5))
    if result.sent:
        log.info(
            "webhooks.line_drained", endpoint_id=endpoint_id, sent=result.sent, succeeded=result.succeeded
        )
    return result.sent


@register_sweep("webhooks")
async def due_lines(session: AsyncSession) -> list[QueuedJob]:
    """Each endpoint whose head delivery is overdue: its job may have died with Redis or a killed worker."""
    grace = get_settings().worker.sweep_interval_seconds
    # Only heads overdue by a sweep interval: fresher ones still have their own job in flight.
    endpoint_ids = await WebhookDeliveryRepository(session).due_endpoints(
        utcnow() - timedelta(seconds=grace), SWEEP_BATCH
    )
    bucket = int(time.time() // max(grace, 1))
    # A fresh id per sweep round: the line's own job id may still be held by a killed worker.
    return [
        QueuedJob("webhooks", LINE_TASK, (endpoint_id,), job_id=f"{line_job_id(endpoint_id)}:sweep:{bucket}")
        for endpoint_id in endpoint_ids
    ]

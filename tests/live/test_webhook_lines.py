"""An endpoint's line: every delivery wakes one drain job (duplicates collapse), a drain that took the
line makes later wake-ups a new job, and two drains of one line send each delivery once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.events.service import record_event
from shared.models import WebhookDelivery
from shared.queue import create_redis, queue_key, send_committed_jobs
from shared.webhooks.delivery import drain_line
from shared.webhooks.lines import advance_generation, line_job_id
from shared.webhooks.sender import WebhookSender
from tests.fixtures.live import WebhookReceiver, create_webhook_endpoint, serve, with_private_webhooks
from tests.fixtures.organizations import create_org


@pytest.fixture
async def arq_redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    redis = await create_redis(settings)
    yield redis
    await redis.aclose(close_connection_pool=True)


async def _queued(redis: ArqRedis, endpoint_id: str) -> list[str]:
    ids = await redis.zrange(queue_key("webhooks"), 0, -1)
    return sorted(i.decode() for i in ids if i.decode().startswith(line_job_id(endpoint_id)))


async def test_deliveries_to_one_endpoint_wake_one_job_until_a_drain_takes_the_line(
    engine: AsyncEngine, settings: Settings, arq_redis: ArqRedis
) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Lines Co")
        endpoint, _ = await create_webhook_endpoint(session, settings, org.id, "http://127.0.0.1:9/")
    for step in range(5):
        async with transaction(sessionmaker) as session:
            await record_event(session, org.id, "fine_tuning.job.metrics", {"step": step})
            await record_event(session, org.id, "fine_tuning.job.metrics", {"step": step, "again": True})
        await send_committed_jobs(session, arq_redis)
    assert await _queued(arq_redis, endpoint.id) == [f"{line_job_id(endpoint.id)}:0"]
    # A drain took the line (and read it): the next delivery needs a job of its own.
    await advance_generation(arq_redis, endpoint.id)
    async with transaction(sessionmaker) as session:
        await record_event(session, org.id, "fine_tuning.job.metrics", {"step": 5})
    await send_committed_jobs(session, arq_redis)
    assert await _queued(arq_redis, endpoint.id) == [f"{line_job_id(endpoint.id)}:{n}" for n in (0, 1)]


async def test_two_drains_of_one_line_send_each_delivery_once_in_order(
    engine: AsyncEngine, settings: Settings, arq_redis: ArqRedis
) -> None:
    private = with_private_webhooks(settings)
    hooks = private.webhooks.model_copy(update={"drain_batch_size": 3})
    private = private.model_copy(update={"webhooks": hooks})
    receiver = WebhookReceiver()
    sessionmaker = create_sessionmaker(engine)
    sender = WebhookSender(private.webhooks)
    try:
        async with serve(receiver.app()) as url:
            async with transaction(sessionmaker) as session:
                org = await create_org(session, "Two Drains Co")
                endpoint, secret = await create_webhook_endpoint(session, settings, org.id, url)
                events = [
                    await record_event(session, org.id, "fine_tuning.job.metrics", {"step": step})
                    for step in range(10)
                ]

            async def drain() -> int:
                async with sessionmaker() as session:
                    result = await drain_line(session, private, sender, endpoint.id, redis=arq_redis)
                return result.sent

            sent = await asyncio.gather(drain(), drain())
    finally:
        await sender.aclose()
    assert sum(sent) == 10
    assert receiver.ids() == [f"evt_{event.id}" for event in events]  # once each, in event order
    Webhook(secret).verify(receiver.received[-1].body, receiver.received[-1].headers)
    async with sessionmaker() as session:
        statuses = (
            await session.scalars(
                select(WebhookDelivery.status).where(WebhookDelivery.endpoint_id == endpoint.id)
            )
        ).all()
    assert statuses == ["succeeded"] * 10

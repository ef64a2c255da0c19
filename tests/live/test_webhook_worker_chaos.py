"""A `webhooks` worker killed (SIGKILL) in the middle of a delivery: a new worker delivers it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.events.service import record_event
from shared.models import WebhookDelivery
from shared.queue import create_redis, send_committed_jobs
from tests.conftest import REPO_ROOT
from tests.fixtures.live import WebhookReceiver, create_webhook_endpoint, serve
from tests.fixtures.organizations import create_org

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@contextlib.contextmanager
def _worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker", "webhooks"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_a_worker_killed_mid_delivery_is_followed_by_a_redelivery(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str]
) -> None:
    env = {
        **subprocess_env,
        "ATTUNE_WEBHOOKS__ALLOW_PRIVATE_URLS": "true",
        "ATTUNE_WORKER__SWEEP_INTERVAL_SECONDS": "2",
    }
    hang = asyncio.Event()
    receiver = WebhookReceiver(hang=hang)
    sessionmaker = create_sessionmaker(engine)
    redis = await create_redis(settings)
    try:
        async with serve(receiver.app()) as url:
            async with transaction(sessionmaker) as session:
                org = await create_org(session, "Chaos Co")
                endpoint, secret = await create_webhook_endpoint(session, settings, org.id, url)
                event = await record_event(session, org.id, "fine_tuning.job.succeeded", {"id": "ftjob_k"})
            await send_committed_jobs(session, redis)

            with _worker(env) as first:
                await asyncio.wait_for(receiver.arrived.wait(), 30)  # the worker is inside the POST now
                os.kill(first.pid, signal.SIGKILL)
                first.wait(timeout=10)
            receiver.hang = None
            hang.set()

            async def delivered() -> WebhookDelivery:
                while True:
                    async with sessionmaker() as session:
                        delivery = await session.scalar(
                            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                        )
                    if delivery is not None and delivery.status == "succeeded":
                        return delivery
                    await asyncio.sleep(0.3)

            with _worker(env):
                delivery = await asyncio.wait_for(delivered(), 60)
    finally:
        await redis.aclose(close_connection_pool=True)
    assert receiver.ids().count(f"evt_{event.id}") >= 2  # sent before the kill, and again after
    assert set(receiver.ids()) == {f"evt_{event.id}"}
    Webhook(secret).verify(receiver.received[-1].body, receiver.received[-1].headers)
    # The killed attempt never committed; the attempt that succeeded is in the log.
    assert delivery.attempts[-1]["status_code"] == 200

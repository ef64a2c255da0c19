"""Fixtures for the live-events tests: a served API, the after-commit relay in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.db import create_sessionmaker
from shared.events.relay import relay
from tests.fixtures.live import serve, with_private_webhooks


@pytest.fixture
async def event_relay(engine: AsyncEngine, redis: Redis) -> AsyncIterator[None]:
    """Publish events this test process commits, as the API and workers do."""
    token = relay.configure(redis, create_sessionmaker(engine))
    yield
    await relay.release(token)


@pytest.fixture
async def api_url(live_app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """The live app served over real HTTP (streams need a real server), loopback webhooks allowed."""
    live_app.state.settings = with_private_webhooks(settings)
    async with serve(live_app) as url:
        yield url

"""Per-credential limits in Redis: rate, concurrency and the Retry-After pause, shared by all workers."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import pytest
from redis.asyncio import Redis

from shared.config import Settings
from shared.providers.base import RateLimited, TransientProviderError
from shared.providers.http import ProviderHttp
from shared.providers.limits import CredentialLimiter, Limits
from tests.fixtures.jobs import fake_client, provider_settings
from tests.providers.fakes.openai import FakeOpenAI


def limiter(redis: Redis, **limits: float) -> CredentialLimiter:
    values = {
        "requests_per_second": 0.0,
        "max_concurrent": 100,
        "max_wait_seconds": 0.25,
        "lease_seconds": 30.0,
    }
    return CredentialLimiter(redis, f"test-{uuid.uuid4().hex}", Limits(**(values | limits)))  # type: ignore[arg-type]


async def test_the_rate_reserves_evenly_spaced_slots_and_refuses_a_wait_beyond_the_limit(
    redis: Redis,
) -> None:
    limited = limiter(redis, requests_per_second=10, max_wait_seconds=0.25)  # a slot every 100 ms
    waits = []
    for _ in range(3):
        outcome, wait_ms = await limited._admit(uuid.uuid4().hex, 250)
        assert outcome == 0
        waits.append(wait_ms)
    assert waits[0] == 0 and 150 <= waits[2] <= 200 and waits[1] < waits[2]
    outcome, wait_ms = await limited._admit(uuid.uuid4().hex, 250)
    assert outcome == 3 and wait_ms > 250  # refused: reschedule rather than wait


async def test_concurrency_is_capped_across_holders(redis: Redis) -> None:
    limited = limiter(redis, max_concurrent=2, max_wait_seconds=0.1)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(limited.slot())
        await stack.enter_async_context(limited.slot())
        with pytest.raises(RateLimited):
            async with limited.slot():
                pass
    async with limited.slot():  # both released
        assert await redis.zcard(limited.keys[1]) == 1


async def test_a_block_stops_every_holder_until_it_ends(redis: Redis) -> None:
    limited = limiter(redis, max_wait_seconds=0.1)
    await limited.block(5)
    other_process = CredentialLimiter(redis, limited.keys[0].split(":")[2], limited.limits)
    with pytest.raises(RateLimited) as raised:
        async with other_process.slot():
            pass
    assert 4 < raised.value.wait_seconds <= 5


async def test_retry_after_from_the_provider_pauses_the_credential(redis: Redis, settings: Settings) -> None:
    fake = FakeOpenAI(api_key="sk-test")
    fake.fail(
        "GET /v1/fine_tuning/jobs/",
        429,
        body={"error": {"message": "slow down"}},
        headers={"Retry-After": "3"},
    )
    limited = limiter(redis, max_wait_seconds=0.5)
    http = ProviderHttp(
        base_url="http://api.test/v1",
        headers={"Authorization": "Bearer sk-test"},
        limiter=limited,
        settings=provider_settings(settings).providers,
        client=fake_client(fake.app),
    )
    with pytest.raises(TransientProviderError) as raised:
        await http.json("GET", "/fine_tuning/jobs/ftjob-1")
    assert raised.value.retry_after == 3
    sent = len(fake.requests)
    with pytest.raises(RateLimited):
        await http.json("GET", "/fine_tuning/jobs/ftjob-1")
    assert len(fake.requests) == sent  # nothing was sent before Retry-After

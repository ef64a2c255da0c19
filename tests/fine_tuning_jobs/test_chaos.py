"""Fault injection against real `providers` workers: SIGKILL mid-submit and mid-poll, Redis flushed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from tests.fine_tuning_jobs.workers import (
    ProviderWorker,
    committed_job,
    eventually,
    finished,
    job_state,
    metric_counts,
    worker_env,
)
from tests.providers.fakes.core import serve
from tests.providers.fakes.openai import FakeOpenAI

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.e2e]
API_KEY = "chaos-trainer-key"


@pytest.fixture
def provider() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(api_key=API_KEY, total_steps=6, steps_per_epoch=3)
    with serve(fake.app) as url:
        yield fake, f"{url}/v1"
    fake.release.set()


async def test_sigkill_while_submitting_leaves_exactly_one_provider_job(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str], tmp_path: Path,
    provider: tuple[FakeOpenAI, str],
) -> None:  # fmt: skip
    fake, url = provider
    env = worker_env(subprocess_env, url, API_KEY)
    fake.hold_pattern = r"POST /v1/fine_tuning/jobs$"  # the job is made, the answer never arrives
    job_id = await committed_job(engine, settings)
    first = ProviderWorker(env, tmp_path / "worker.log").start()
    try:
        await asyncio.to_thread(fake.held.wait, 60)
        first.kill()
    finally:
        first.stop()
    fake.hold_pattern = None
    fake.release.set()
    assert len(fake.jobs) == 1 and (await job_state(engine, job_id)).provider_job_id is None

    second = ProviderWorker(env, tmp_path / "worker.log").start()
    try:
        job = await finished(engine, job_id)
    finally:
        second.stop()
    assert job.status == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
    assert len(fake.jobs) == 1 and job.provider_job_id == next(iter(fake.jobs))
    assert fake.count("POST", r"/fine_tuning/jobs$") == 1
    assert await metric_counts(engine, job_id) == (6, 6)


async def test_sigkill_while_polling_stores_no_metric_twice(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str], tmp_path: Path,
    provider: tuple[FakeOpenAI, str],
) -> None:  # fmt: skip
    fake, url = provider
    env = worker_env(subprocess_env, url, API_KEY)
    job_id = await committed_job(engine, settings)
    first = ProviderWorker(env, tmp_path / "worker.log").start()
    try:
        await eventually(lambda: _running_with_metrics(engine, job_id), 60, "metrics to arrive")
        fake.hold_pattern = r"GET /v1/fine_tuning/jobs/[^/]+/events$"
        await asyncio.to_thread(fake.held.wait, 60)
        first.kill()  # killed with a poll's events in flight: the step's transaction never commits
    finally:
        first.stop()
    fake.hold_pattern = None
    fake.release.set()

    second = ProviderWorker(env, tmp_path / "worker.log").start()
    try:
        job = await finished(engine, job_id)
    finally:
        second.stop()
    assert job.status == "succeeded"
    assert len(fake.jobs) == 1
    assert await metric_counts(engine, job_id) == (6, 6)


async def _running_with_metrics(engine: AsyncEngine, job_id: str) -> bool:
    rows, _ = await metric_counts(engine, job_id)
    return rows >= 1 and (await job_state(engine, job_id)).status == "running"


async def test_flushed_redis_is_rebuilt_from_postgres_by_the_sweep(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str], tmp_path: Path, redis: Redis,
) -> None:  # fmt: skip
    fake = FakeOpenAI(api_key=API_KEY, total_steps=30, steps_per_epoch=10)
    with serve(fake.app) as base:
        env = worker_env(subprocess_env, f"{base}/v1", API_KEY)
        job_id = await committed_job(engine, settings)
        worker = ProviderWorker(env, tmp_path / "worker.log").start()
        try:
            await eventually(lambda: _running_with_metrics(engine, job_id), 60, "the job to run")
            await redis.flushdb()  # every queued poll and deferred message is gone
            polls_at_flush = fake.count("GET", r"/fine_tuning/jobs/[^/]+$")
            await eventually(
                lambda: _more_polls(fake, polls_at_flush + 2), 120, "polling to resume after the flush"
            )
            job = await finished(engine, job_id)
        finally:
            worker.stop()
    assert job.status == "succeeded" and await metric_counts(engine, job_id) == (30, 30)


async def _more_polls(fake: FakeOpenAI, count: int) -> bool:
    return fake.count("GET", r"/fine_tuning/jobs/[^/]+$") >= count

"""A provider outage, time compressed: 429 with Retry-After, then 500s, then timeouts; the job survives.

The "minute" of 429s lasts `THROTTLED` seconds here; Retry-After stays the real 2 s, and the fake's
request log proves no request left before the Retry-After of the 429 before it had passed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.config import Settings
from tests.fine_tuning_jobs.workers import ProviderWorker, committed_job, finished, metric_counts, worker_env
from tests.providers.fakes.core import serve
from tests.providers.fakes.openai import FakeOpenAI

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.e2e]
API_KEY = "outage-trainer-key"
THROTTLED, FAILING, HANGING = 10.0, 4.0, 4.0  # seconds of each phase
RETRY_AFTER = 2.0
TIMEOUT = 0.5  # the worker's request timeout; the fake hangs longer


async def test_the_job_survives_throttling_errors_and_timeouts_and_honours_retry_after(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    fake = FakeOpenAI(api_key=API_KEY, total_steps=4, steps_per_epoch=2)
    started = time.time()

    async def outage(request: Request) -> Response | None:
        elapsed = time.time() - started
        if elapsed < THROTTLED:
            body = {
                "error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
            }
            return JSONResponse(body, 429, headers={"Retry-After": str(int(RETRY_AFTER))})
        if elapsed < THROTTLED + FAILING:
            return JSONResponse(
                {"error": {"message": "The server had an error", "type": "server_error"}}, 500
            )
        if elapsed < THROTTLED + FAILING + HANGING:
            await asyncio.sleep(TIMEOUT * 3)
            return JSONResponse({"error": {"message": "too late"}}, 504)
        return None

    fake.respond = outage
    with serve(fake.app) as base:
        env = worker_env(
            subprocess_env, f"{base}/v1", API_KEY,
            ATTUNE_PROVIDERS__REQUEST_TIMEOUT_SECONDS=str(TIMEOUT),
            ATTUNE_PROVIDERS__MAX_RATE_WAIT_SECONDS="0.5",
            ATTUNE_PROVIDERS__GIVE_UP_AFTER_SECONDS="600",
        )  # fmt: skip
        job_id = await committed_job(engine, settings)
        worker = ProviderWorker(env, tmp_path / "worker.log").start()
        try:
            job = await finished(engine, job_id, timeout=180)
        finally:
            worker.stop()

    assert job.status == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
    assert len(fake.jobs) == 1 and await metric_counts(engine, job_id) == (4, 4)
    statuses = [r.status for r in fake.requests]
    assert statuses.count(429) >= 2 and statuses.count(500) >= 1 and 504 in statuses
    # The Retry-After rule, checked on the fake's clock: after a 429 at t, nothing arrives before t + 2 s.
    throttled_at = [r.at for r in fake.requests if r.status == 429]
    for earlier, later in zip(fake.requests, fake.requests[1:], strict=False):
        if earlier.status == 429:
            assert later.at >= earlier.at + RETRY_AFTER - 0.05, (earlier, later)
    assert max(throttled_at) < started + THROTTLED + 0.5

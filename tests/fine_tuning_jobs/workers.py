"""Real `providers` worker processes for the end-to-end and chaos tests, and committed test data."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.models import FineTuningJob, FineTuningJobMetric
from shared.queue import create_redis, send_committed_jobs
from tests.conftest import REPO_ROOT
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.organizations import create_org

T = TypeVar("T")
STATUSES = ("validating_files", "queued", "running", "paused", "cancelling")


def worker_env(base: dict[str, str], trainer_url: str, api_key: str, **extra: str) -> dict[str, str]:
    """Environment of a `providers` worker with fast polls, a 1 s sweep and short task timeouts."""
    intervals = json.dumps(dict.fromkeys(STATUSES, 0.2))
    return (
        base
        | {
            "ATTUNE_TRAINER__URL": trainer_url,
            "ATTUNE_TRAINER__API_KEY": api_key,
            "ATTUNE_WORKER__SWEEP_INTERVAL_SECONDS": "1",
            "ATTUNE_WORKER__JOB_TIMEOUT_SECONDS": "8",  # a killed task runs again after 8 + 10 s
            "ATTUNE_WORKER__SHUTDOWN_WAIT_SECONDS": "1",
            "ATTUNE_PROVIDERS__POLL_INTERVAL_SECONDS": intervals,
            "ATTUNE_PROVIDERS__OVERDUE_GRACE_SECONDS": "1",
            "ATTUNE_PROVIDERS__BACKOFF_BASE_SECONDS": "0.2",
            "ATTUNE_PROVIDERS__BACKOFF_CAP_SECONDS": "2",
            "ATTUNE_PROVIDERS__CHECKPOINT_POLL_EVERY": "1",
        }
        | extra
    )


class ProviderWorker:
    """`attune worker providers` (or another queue's worker) as a child process, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, queue: str = "providers") -> None:
        self.env, self.log, self.queue = env, log, queue
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ProviderWorker:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", self.queue],
                cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or an OOM kill."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def committed_job(engine: AsyncEngine, settings: Settings, **request: Any) -> str:
    """An organization, a training file and a job, committed and handed to the queue as the API would."""
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Chaos Localization")
        training = await create_file(session, settings, org.id)
        job = await create_job(session, settings, org.id, training_file=training.id, **request)
    redis = await create_redis(settings)
    try:
        await send_committed_jobs(session, redis)
    finally:
        await redis.aclose(close_connection_pool=True)
    return job.id


async def job_state(engine: AsyncEngine, job_id: str) -> FineTuningJob:
    async with create_sessionmaker(engine)() as session:
        job = await session.get(FineTuningJob, job_id)
        assert job is not None
        return job


async def metric_counts(engine: AsyncEngine, job_id: str) -> tuple[int, int]:
    """(rows, distinct steps) of a job's metrics."""
    async with create_sessionmaker(engine)() as session:
        statement = select(func.count(), func.count(func.distinct(FineTuningJobMetric.step)))
        rows, steps = (await session.execute(statement.where(FineTuningJobMetric.job_id == job_id))).one()
        return int(rows), int(steps)


async def finished(engine: AsyncEngine, job_id: str, timeout: float = 120) -> FineTuningJob:
    async def done() -> FineTuningJob | None:
        job = await job_state(engine, job_id)
        return job if job.status in ("succeeded", "failed", "cancelled") else None

    return await eventually(done, timeout, f"job {job_id} to finish")

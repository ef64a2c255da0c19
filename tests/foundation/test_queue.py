"""Jobs are sent only after their transaction commits, in msgpack, and a real worker process runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from fastapi import APIRouter, FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.deps import SessionDep
from services.api.routing import AttuneRoute
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.errors import Conflict
from shared.models import IdempotencyKey
from shared.queue import create_redis, deserialize, enqueue_job, queue_key, send_committed_jobs
from tests.conftest import REPO_ROOT
from tests.fixtures.organizations import create_org

QUEUE = queue_key("datasets")


async def _queued_tasks(redis: Redis) -> list[str]:
    job_ids = await redis.zrange(QUEUE, 0, -1)
    tasks = []
    for job_id in job_ids:
        payload = await redis.get(f"arq:job:{job_id.decode()}")
        if payload is not None:
            tasks.append(deserialize(payload)["f"])
    return tasks


async def test_enqueue_waits_for_commit_and_a_rollback_drops_it(
    sessionmaker: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings
) -> None:
    await redis.delete(QUEUE)
    arq = await create_redis(settings)
    try:
        async with sessionmaker() as session:
            enqueue_job(session, "datasets", "test.rolled_back", "id-1", job_id="rolled-back")
            await session.rollback()
            enqueue_job(session, "datasets", "test.committed", "id-2", job_id="committed")
            assert await _queued_tasks(redis) == []  # recorded, not sent
            await session.commit()
            assert await send_committed_jobs(session, arq) == 1
        assert await _queued_tasks(redis) == ["test.committed"]
        message = deserialize(await redis.get("arq:job:committed") or b"")
        assert message["a"] == ["id-2"]  # ids only, msgpack not pickle
    finally:
        await redis.delete(QUEUE, "arq:job:committed")
        await arq.aclose(close_connection_pool=True)


async def test_a_rolled_back_request_enqueues_nothing(
    app: FastAPI, client: AsyncClient, redis: Redis, db: AsyncSession
) -> None:
    org = await create_org(db)
    router = APIRouter(route_class=AttuneRoute)

    @router.post("/test/enqueue/{outcome}", operation_id="test_enqueue")
    async def enqueue(outcome: str, session: SessionDep) -> dict[str, str]:
        enqueue_job(session, "datasets", f"test.{outcome}", outcome, job_id=f"request-{outcome}")
        if outcome == "fails":
            raise Conflict("the request fails after enqueueing")
        return {"ok": outcome}

    app.include_router(router)
    await redis.delete(QUEUE)
    assert (await client.post("/test/enqueue/fails", headers=org.headers)).status_code == 409
    assert await _queued_tasks(redis) == []
    succeeded = await client.post(
        "/test/enqueue/succeeds", headers={**org.headers, "X-Request-ID": "req-trace-7"}
    )
    assert succeeded.status_code == 200
    assert await _queued_tasks(redis) == ["test.succeeds"]
    # The request id travels into the job, so the worker's log lines carry it too.
    message = deserialize(await redis.get("arq:job:request-succeeds") or b"")
    assert message["k"] == {"request_id": "req-trace-7"}
    await redis.delete(QUEUE, "arq:job:request-succeeds")


async def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


async def test_a_real_worker_process_runs_a_committed_job_and_stops_on_sigterm(
    engine: AsyncEngine, redis: Redis, settings: Settings, subprocess_env: dict[str, str]
) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Worker Co")
        session.add(
            IdempotencyKey(
                organization_id=org.id,
                key="stale",
                method="POST",
                path="/v1/x",
                request_hash="0" * 64,
                status_code=201,
                content_type="application/json",
                response_body=b"{}",
            )
        )
        await session.flush()
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.organization_id == org.id)
            .values(created_at=func.now() - text("interval '2 days'"))
        )
        enqueue_job(session, "datasets", "maintenance.purge_idempotency_keys", job_id=f"purge-{org.id}")
    arq = await create_redis(settings)
    await send_committed_jobs(session, arq)
    await arq.aclose(close_connection_pool=True)

    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker", "datasets"],
        cwd=REPO_ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        async def purged() -> bool:
            async with sessionmaker() as check:
                count = await check.scalar(
                    select(func.count())
                    .select_from(IdempotencyKey)
                    .where(IdempotencyKey.organization_id == org.id)
                )
            return count == 0

        await _wait_for(purged)
        health = subprocess.run(
            [sys.executable, "-m", "services.cli", "worker", "datasets", "--check"],
            check=False,
            cwd=REPO_ROOT,
            env=subprocess_env,
            capture_output=True,
            timeout=30,
        )
        assert health.returncode == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "maintenance.idempotency_keys_purged" in output
    assert "worker.stopped" in output


def test_orgs_create_prints_a_key_that_works(subprocess_env: dict[str, str], database: str) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "services.cli", "orgs", "create", "CLI Co", "--quiet"],
        cwd=REPO_ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = created.stdout.strip()
    assert key.startswith("atn_") and "\n" not in key

    async def whoami() -> str:
        from services.api.app import create_app
        from tests.conftest import _client

        app = create_app()
        # The lifespan ends (pools closed) before asyncio.run closes its loop: a connection left to
        # the loop's shutdown is collected later, in another test, as an unawaited asyncpg cancel.
        async with app.router.lifespan_context(app), _client(app) as client:
            response = await client.get("/v1/organization", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200
            return str(response.json()["name"])

    assert asyncio.run(whoami()) == "CLI Co"
    assert os.environ["ATTUNE_DATABASE_URL"].endswith(database)

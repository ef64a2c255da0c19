"""End to end on the built-in trainer: the openai SDK → Attune → a real `providers` worker → real training."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.trainer import synthetic
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.providers.base import ChatMessage
from shared.providers.registry import adapter_for
from tests.fine_tuning_jobs.workers import ProviderWorker, eventually, metric_counts, worker_env
from tests.fixtures.jobs import provider_settings
from tests.fixtures.organizations import create_org
from tests.fixtures.trainer import RunningTrainer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
async def sdk(live_app: FastAPI, engine: AsyncEngine) -> AsyncIterator[openai.AsyncOpenAI]:
    async with transaction(create_sessionmaker(engine)) as session:
        org = await create_org(session, "Trainer E2E")
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(transport=transport, timeout=30) as http:
        yield openai.AsyncOpenAI(base_url="http://attune.test/v1", api_key=org.key, http_client=http)


async def until_status(
    client: openai.AsyncOpenAI, job_id: str, statuses: set[str], timeout: float = 300
) -> object:
    async def reached() -> object | None:
        job = await client.fine_tuning.jobs.retrieve(job_id)
        return job if job.status in statuses else None

    return await eventually(reached, timeout, f"{job_id} to reach {statuses}")


async def test_a_job_trains_on_the_built_in_trainer_and_a_second_is_cancelled_there(
    sdk: openai.AsyncOpenAI, engine: AsyncEngine, redis: Redis, settings: Settings,
    subprocess_env: dict[str, str], trainer: RunningTrainer, tmp_path: Path,
) -> None:  # fmt: skip
    url, model = trainer.url, trainer.model
    worker = ProviderWorker(worker_env(subprocess_env, url, trainer.api_key), tmp_path / "worker.log").start()
    try:
        train = await sdk.files.create(
            file=("train.jsonl", synthetic.to_jsonl(synthetic.chat_examples("orcish", 24, seed=1))),
            purpose="fine-tune",
        )
        valid = await sdk.files.create(
            file=("valid.jsonl", synthetic.to_jsonl(synthetic.chat_examples("orcish", 8, seed=2))),
            purpose="fine-tune",
        )
        job = await sdk.fine_tuning.jobs.create(
            model=model, training_file=train.id, validation_file=valid.id, suffix="orcish", seed=3,
            hyperparameters={"n_epochs": 2, "batch_size": 8}, extra_body={"provider": "local"},
        )  # fmt: skip
        done = await until_status(sdk, job.id, {"succeeded", "failed", "cancelled"})
        assert done.status == "succeeded", (done, (tmp_path / "worker.log").read_text()[-3000:])  # type: ignore[attr-defined]
        assert done.fine_tuned_model.startswith(f"ft:{model}:")  # type: ignore[attr-defined]

        events = [e async for e in sdk.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert any(e.message == "The job has successfully completed." for e in events)
        metric_events = [e for e in events if e.type == "metrics"]
        rows, steps = await metric_counts(engine, job.id)
        assert rows == steps == len({e.data["step"] for e in metric_events if e.data}) == 6
        checkpoints = [c async for c in sdk.fine_tuning.jobs.checkpoints.list(job.id)]
        assert [c.step_number for c in checkpoints] == [6, 3]
        models = [m async for m in await sdk.models.list()]
        assert [m.id for m in models] == [done.fine_tuned_model]  # type: ignore[attr-defined]

        # Evaluation's way in: the provider's chat API, through the same adapter and limits.
        trainer_settings = provider_settings(settings, trainer_url=url, trainer_key=trainer.api_key)
        async with create_sessionmaker(engine)() as session:
            adapter = await adapter_for(session, redis, trainer_settings, done.organization_id, "local")  # type: ignore[attr-defined]
            answer = await adapter.chat_completion(
                done.fine_tuned_model, [ChatMessage(role="user", content="the cat sees a bird")],  # type: ignore[attr-defined]
                max_tokens=8, temperature=0,
            )  # fmt: skip
        assert answer.content

        second = await sdk.fine_tuning.jobs.create(
            model=model, training_file=train.id, hyperparameters={"n_epochs": 50, "batch_size": 1},
            extra_body={"provider": "local"},
        )  # fmt: skip
        await until_status(sdk, second.id, {"running"})
        cancelling = await sdk.fine_tuning.jobs.cancel(second.id)
        assert cancelling.status in ("cancelling", "cancelled")  # type: ignore[comparison-overlap]
        cancelled = await until_status(sdk, second.id, {"cancelled", "succeeded", "failed"}, timeout=120)
        assert cancelled.status == "cancelled"  # type: ignore[attr-defined]
        remote = httpx.get(f"{url}/fine_tuning/jobs/{cancelled.provider_job_id}",  # type: ignore[attr-defined]
                           headers={"Authorization": f"Bearer {trainer.api_key}"}).json()  # fmt: skip
        assert remote["status"] == "cancelled"
    finally:
        worker.stop()

"""End to end on the built-in trainer: a job with a validation file trains, then a worker evaluates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.trainer import synthetic
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.models import Event
from shared.queue import create_redis, send_committed_jobs
from tests.fine_tuning_jobs.workers import ProviderWorker, eventually, worker_env
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.organizations import OrgWithKey, create_org
from tests.fixtures.trainer import RunningTrainer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def lines(count: int, seed: int) -> list[str]:
    return synthetic.to_jsonl(synthetic.chat_examples("elvish", count, seed=seed)).decode().splitlines()


async def committed_job(engine: AsyncEngine, settings: Settings, model: str) -> tuple[OrgWithKey, str]:
    """An organization and a small job with a validation file on the trainer, committed and sent."""
    async with transaction(create_sessionmaker(engine)) as session:
        org = await create_org(session, "Evaluation E2E")
        training = await create_file(session, settings, org.id, lines=lines(16, seed=1))
        validation = await create_file(session, settings, org.id, lines=lines(6, seed=2))
        job = await create_job(
            session, settings, org.id, model=model, training_file=training.id, validation_file=validation.id,
            hyperparameters={"n_epochs": 1, "batch_size": 8}, seed=5,
        )  # fmt: skip
    redis = await create_redis(settings)
    try:
        await send_committed_jobs(session, redis)
    finally:
        await redis.aclose(close_connection_pool=True)
    return org, job.id


async def test_a_succeeded_job_is_evaluated_through_the_trainers_chat_api(
    live_client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings,
    subprocess_env: dict[str, str], trainer: RunningTrainer, tmp_path: Path,
) -> None:  # fmt: skip
    env = worker_env(subprocess_env, trainer.url, trainer.api_key)
    workers = [
        ProviderWorker(env, tmp_path / f"{queue}.log", queue).start()
        for queue in ("providers", "evaluations")
    ]
    try:
        org, job_id = await committed_job(engine, settings, trainer.model)

        async def evaluated() -> dict[str, Any] | None:
            response = await live_client.get(f"/v1/fine_tuning/jobs/{job_id}/evaluation", headers=org.headers)
            body: dict[str, Any] = response.json()
            return body if response.status_code == 200 and body["status"] in ("succeeded", "failed") else None

        evaluation = await eventually(evaluated, 240, f"the evaluation of {job_id}")
    finally:
        for worker in workers:
            worker.stop()
    log = (tmp_path / "evaluations.log").read_text()[-3000:]
    assert evaluation["status"] == "succeeded", (evaluation, log)
    job = (await live_client.get(f"/v1/fine_tuning/jobs/{job_id}", headers=org.headers)).json()
    assert job["status"] == "succeeded"
    assert (evaluation["base_model"], evaluation["fine_tuned_model"]) == (
        trainer.model,
        job["fine_tuned_model"],
    )
    assert evaluation["trigger"] == "job_succeeded" and evaluation["attempts"] == 1
    assert evaluation["segment_count"] == len(evaluation["segments"]) == 6
    for side in ("base", "fine_tuned"):
        scores = evaluation["summary"][side]
        assert 0 <= scores["chrf_pp"] <= 100 and 0 <= scores["bleu"] <= 100 and scores["ter"] >= 0
    segment = evaluation["segments"][0]
    assert segment["source"] and segment["reference"] and segment["line"] == 1
    assert 0 <= segment["base_chrf_pp"] <= 100 and 0 <= segment["fine_tuned_chrf_pp"] <= 100

    async with create_sessionmaker(engine)() as session:
        event = await session.scalar(
            select(Event).where(Event.subject_id == job_id, Event.type == "fine_tuning.job.evaluated")
        )
    assert event is not None and event.data["evaluation_id"] == evaluation["id"]
    assert event.data["summary"] == evaluation["summary"]

"""The official `openai` SDK pointed at Attune: every call it makes parses."""

from __future__ import annotations

import httpx
import openai
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from tests.fixtures.jobs import chat_lines, drive, jsonl
from tests.fixtures.organizations import create_org


def sdk(app: FastAPI, key: str) -> openai.AsyncOpenAI:
    transport = httpx.ASGITransport(app=app)
    return openai.AsyncOpenAI(
        base_url="http://attune.test/v1", api_key=key, http_client=httpx.AsyncClient(transport=transport)
    )


async def test_the_openai_sdk_uploads_creates_lists_retrieves_and_cancels(
    app: FastAPI, db: AsyncSession, redis: Redis, job_settings: Settings, fake_http: httpx.AsyncClient
) -> None:
    org = await create_org(db)
    client = sdk(app, org.key)

    uploaded = await client.files.create(file=("train.jsonl", jsonl(chat_lines(12))), purpose="fine-tune")
    assert uploaded.status == "processed" and uploaded.bytes > 0
    assert (await client.files.retrieve(uploaded.id)).filename == "train.jsonl"
    assert uploaded.id in [f.id async for f in client.files.list()]
    content = await client.files.content(uploaded.id)
    assert content.content == jsonl(chat_lines(12))

    job = await client.fine_tuning.jobs.create(
        model="tiny-base",
        training_file=uploaded.id,
        hyperparameters={"n_epochs": 2},
        suffix="fr",
        seed=42,
        metadata={"ticket": "L10N-1"},
        extra_body={"provider": "local"},
    )
    assert job.status == "validating_files" and job.seed == 42 and job.hyperparameters.n_epochs == 2
    await drive(db, redis, job_settings, job.id, client=fake_http)

    retrieved = await client.fine_tuning.jobs.retrieve(job.id)
    assert retrieved.status == "succeeded" and retrieved.fine_tuned_model
    listed = [j.id async for j in client.fine_tuning.jobs.list(metadata={"ticket": "L10N-1"})]
    assert listed == [job.id]
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=5)]
    assert events[0].message == "The job has successfully completed"
    assert len(events) > 5  # the SDK followed the cursor
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and metrics[0].data is not None and "train_loss" in metrics[0].data
    checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert [c.step_number for c in checkpoints] == [6, 3]
    one_by_one = [c.step_number async for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=1)]
    assert one_by_one == [6, 3]  # the SDK follows the `after` cursor
    assert checkpoints[0].fine_tuning_job_id == job.id

    second = await client.fine_tuning.jobs.create(
        model="tiny-base", training_file=uploaded.id, extra_body={"provider": "local", "auto_start": False}
    )
    assert second.status == "awaiting_confirmation"  # type: ignore[comparison-overlap]
    cancelled = await client.fine_tuning.jobs.cancel(second.id)
    assert cancelled.status == "cancelled"
    assert (await client.fine_tuning.jobs.cancel(second.id)).status == "cancelled"  # idempotent
    models = await client.models.list()
    assert [m.id async for m in models] == [retrieved.fine_tuned_model]

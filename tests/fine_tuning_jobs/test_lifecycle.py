"""A job from upload to output model, against the OpenAI-compatible fake, steps run in-process."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import Event, FineTunedModel, FineTuningJobMetric
from tests.fixtures.jobs import chat_lines, drive, jsonl
from tests.fixtures.organizations import create_org
from tests.providers.fakes.openai import FakeOpenAI


async def upload(client: httpx.AsyncClient, headers: dict[str, str], lines: list[str]) -> dict[str, object]:
    response = await client.post(
        "/v1/files",
        headers=headers,
        files={"file": ("train.jsonl", jsonl(lines), "application/jsonl")},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_job_runs_to_an_output_model_with_metrics_checkpoints_and_events(
    client: httpx.AsyncClient,
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: FakeOpenAI,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await upload(client, org.headers, chat_lines(12))
    validation = await upload(client, org.headers, chat_lines(10))
    response = await client.post(
        "/v1/fine_tuning/jobs",
        headers=org.headers,
        json={
            "model": "tiny-base",
            "training_file": training["id"],
            "validation_file": validation["id"],
            "suffix": "fr",
            "metadata": {"project": "p1"},
        },
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "validating_files"
    assert created["estimated_cost"] == 0.0

    job, outcomes = await drive(db, redis, job_settings, created["id"], client=fake_http)

    assert job.status == "succeeded", (outcomes, job.error_message)
    assert outcomes[:3] == ["uploaded", "uploaded", "created"]
    assert len(fake.jobs) == 1
    remote = next(iter(fake.jobs.values()))
    assert remote.metadata == {"project": "p1", "attune_job_id": job.id}
    steps = await db.scalar(select(func.count()).where(FineTuningJobMetric.job_id == job.id))
    assert steps == 6
    model = await db.scalar(select(FineTunedModel).where(FineTunedModel.job_id == job.id))
    assert model is not None and model.name == job.fine_tuned_model and model.base_model == "tiny-base"
    assert model.dataset_hash is not None

    body = (await client.get(f"/v1/fine_tuning/jobs/{job.id}", headers=org.headers)).json()
    assert [t["status"] for t in body["transitions"]] == [
        "created",
        "validating_files",
        "queued",
        "running",
        "succeeded",
    ]
    assert body["provider_status"] == "succeeded" and body["trained_tokens"] == 1234 * 6
    events = (await client.get(f"/v1/fine_tuning/jobs/{job.id}/events?limit=100", headers=org.headers)).json()
    messages = [e["message"] for e in events["data"]]
    assert messages[0] == "The job has successfully completed"
    assert sum(1 for e in events["data"] if e["type"] == "metrics") == 6
    checkpoints = (await client.get(f"/v1/fine_tuning/jobs/{job.id}/checkpoints", headers=org.headers)).json()
    assert [c["step_number"] for c in checkpoints["data"]] == [6, 3]
    types = (await db.scalars(select(Event.type).where(Event.subject_id == job.id).order_by(Event.id))).all()
    assert types[0] == "fine_tuning.job.created"
    assert types[-2:] == ["fine_tuning.job.status_changed", "fine_tuning.job.succeeded"]
    assert "fine_tuning.job.metrics" in types

"""Together AI end to end through the provider steps, against its documented API (the fake)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import FineTuningJobCheckpoint, FineTuningJobEvent, FineTuningJobMetric
from shared.providers.base import (
    JobSpec,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    job_tag,
)
from tests.fixtures.jobs import (
    create_credential,
    create_file,
    create_job,
    drive,
    fake_client,
    provider_settings,
)
from tests.fixtures.organizations import create_org
from tests.providers.conftest import adapter
from tests.providers.fakes.together import FakeTogether


async def test_a_together_job_runs_with_metrics_from_its_metrics_endpoint(
    db: AsyncSession, redis: Redis, settings: Settings
) -> None:
    fake = FakeTogether(api_key="tg-key")
    config = provider_settings(settings, requests_per_second=0)
    org = await create_org(db)
    credential = await create_credential(
        db, settings, org.id, "together", "http://together.test/v1", "tg-key"
    )
    training = await create_file(db, settings, org.id)
    validation = await create_file(db, settings, org.id)
    job = await create_job(
        db, config, org.id, provider=credential, model="meta-llama/Meta-Llama-3.1-8B-Instruct",
        training_file=training.id, validation_file=validation.id, suffix="a-long-suffix-for-together-models",
        hyperparameters={"learning_rate_multiplier": 2},
    )  # fmt: skip

    job, outcomes = await drive(db, redis, config, job.id, client=fake_client(fake.app))

    assert job.status == "succeeded", (outcomes, job.error_message)
    assert job.provider_status == "completed" and job.provider_kind == "together"
    remote = fake.jobs[job.provider_job_id or ""]
    assert remote.suffix is not None and len(remote.suffix) <= 40 and remote.suffix.endswith(job_tag(job.id))
    assert job.fine_tuned_model == f"fake-user/{remote.model}-{remote.suffix}-{remote.id[-6:]}"
    assert job.trained_tokens == 900 * 4
    metrics = (
        await db.scalars(
            select(FineTuningJobMetric)
            .where(FineTuningJobMetric.job_id == job.id)
            .order_by(FineTuningJobMetric.step)
        )
    ).all()
    assert [m.step for m in metrics] == [1, 2, 3, 4]
    assert all(m.train_loss is not None and m.valid_loss is not None for m in metrics)
    assert all(body["global_step_from"] >= 1 for body in fake.metrics_bodies)
    checkpoints = (
        await db.scalars(
            select(FineTuningJobCheckpoint.step_number).where(FineTuningJobCheckpoint.job_id == job.id)
        )
    ).all()
    assert sorted(checkpoints) == [2, 4]
    events = (
        await db.scalars(
            select(FineTuningJobEvent.provider_event_id).where(
                FineTuningJobEvent.job_id == job.id, FineTuningJobEvent.provider_event_id.is_not(None)
            )
        )
    ).all()
    assert len(events) == len(remote.events)


async def test_a_retried_submit_reattaches_to_the_together_job_it_made(
    db: AsyncSession, redis: Redis, settings: Settings
) -> None:
    fake = FakeTogether(api_key="tg-key")
    config = provider_settings(settings, requests_per_second=0)
    org = await create_org(db)
    credential = await create_credential(
        db, settings, org.id, "together", "http://together.test/v1", "tg-key"
    )
    training = await create_file(db, settings, org.id)
    job = await create_job(db, config, org.id, provider=credential, model="m", training_file=training.id)
    client = fake_client(fake.app)
    job, outcomes = await drive(db, redis, config, job.id, client=client, until=(), max_steps=1)
    assert outcomes == ["uploaded"]
    # As if an earlier attempt created the job and died before recording it:
    await client.post(
        "http://together.test/v1/fine-tunes",
        headers={"Authorization": "Bearer tg-key"},
        json={"model": "m", "training_file": job.provider_training_file_id, "suffix": job_tag(job.id)},
    )
    job, outcomes = await drive(db, redis, config, job.id, client=client)
    assert outcomes[0] == "reattached" and len(fake.jobs) == 1 and job.status == "succeeded"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "message"),
    [
        (401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}}, {},
         PermanentProviderError, "Invalid API key"),
        (400, {"error": {"message": "Model not supported", "type": "invalid_request_error"}}, {},
         PermanentProviderError, "Model not supported"),
        (429, {"message": "Slow down"}, {"Retry-After": "4"}, TransientProviderError, "Slow down"),
        (503, {"message": "Service unavailable"}, {}, TransientProviderError, "Service unavailable"),
    ],
)  # fmt: skip
async def test_together_failure_modes(
    settings: Settings,
    status: int,
    body: dict[str, object],
    headers: dict[str, str],
    error: type[ProviderError],
    message: str,
) -> None:
    fake = FakeTogether(api_key="tg-key")
    fake.fail("POST /v1/fine-tunes$", status, body=body, headers=headers)
    together = adapter(settings, "together", "http://together.test/v1", "tg-key", fake.app)
    with pytest.raises(error) as raised:
        await together.create_job(JobSpec(attune_job_id="ftjob_1", model="m", training_file="file-1"))
    assert raised.value.message == message and raised.value.status_code == status
    if isinstance(raised.value, TransientProviderError) and "Retry-After" in headers:
        assert raised.value.retry_after == 4

"""Mistral end to end through the provider steps: one GET per poll carries events and checkpoints."""

from __future__ import annotations

from decimal import Decimal

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import FineTuningJobMetric
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
from tests.providers.fakes.mistral import FakeMistral


async def test_a_mistral_job_runs_with_cost_and_checkpoint_metrics(
    db: AsyncSession, redis: Redis, settings: Settings
) -> None:
    fake = FakeMistral(api_key="ms-key")
    config = provider_settings(settings, requests_per_second=0)
    org = await create_org(db)
    credential = await create_credential(db, settings, org.id, "mistral", "http://mistral.test/v1", "ms-key")
    training = await create_file(db, settings, org.id)
    validation = await create_file(db, settings, org.id)
    job = await create_job(
        db, config, org.id, provider=credential, model="open-mistral-7b", training_file=training.id,
        validation_file=validation.id, suffix="fr", hyperparameters={"n_epochs": 3},
    )  # fmt: skip

    job, outcomes = await drive(db, redis, config, job.id, client=fake_client(fake.app))

    assert job.status == "succeeded", (outcomes, job.error_message)
    assert (
        job.provider_status == "SUCCESS" and job.actual_cost == Decimal("1.25") and job.cost_currency == "EUR"
    )
    body = fake.created_bodies[0]
    assert body["hyperparameters"]["epochs"] == 3 and body["suffix"] == f"fr-{job_tag(job.id)}"
    assert body["training_files"][0]["weight"] == 1 and body["auto_start"] is True
    steps = await db.scalar(select(func.count()).where(FineTuningJobMetric.job_id == job.id))
    assert steps == 2  # Mistral reports metrics at its checkpoints only
    polls = fake.count("GET", r"/fine_tuning/jobs/\w+$")
    # Besides the one look-up before creating, polling read nothing but the job detail.
    assert fake.count("GET", r"/fine_tuning/jobs$") == 1 and fake.count("GET", r".") == polls + 1


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"message": "Unauthorized"}, PermanentProviderError, "Unauthorized"),
        (422, {"detail": [{"loc": ["body", "hyperparameters"], "msg": "Field required"}]},
         PermanentProviderError, "hyperparameters: Field required"),
        (404, {"message": "File 1 not found"}, PermanentProviderError, "File 1 not found"),
        (429, {"message": "Rate limit exceeded"}, TransientProviderError, "Rate limit exceeded"),
        (502, {"message": "Bad gateway"}, TransientProviderError, "Bad gateway"),
    ],
)  # fmt: skip
async def test_mistral_failure_modes(
    settings: Settings, status: int, body: dict[str, object], error: type[ProviderError], message: str
) -> None:
    fake = FakeMistral(api_key="ms-key")
    fake.fail("POST /v1/fine_tuning/jobs$", status, body=body)
    mistral = adapter(settings, "mistral", "http://mistral.test/v1", "ms-key", fake.app)
    with pytest.raises(error) as raised:
        await mistral.create_job(JobSpec(attune_job_id="ftjob_1", model="open-mistral-7b", training_file="f"))
    assert raised.value.message == message and raised.value.status_code == status


async def test_a_validation_failure_at_mistral_fails_the_job_with_its_reason(
    db: AsyncSession, redis: Redis, settings: Settings
) -> None:
    fake = FakeMistral(api_key="ms-key")
    config = provider_settings(settings, requests_per_second=0)
    org = await create_org(db)
    credential = await create_credential(db, settings, org.id, "mistral", "http://mistral.test/v1", "ms-key")
    training = await create_file(db, settings, org.id)
    job = await create_job(
        db, config, org.id, provider=credential, model="open-mistral-7b", training_file=training.id
    )
    client = fake_client(fake.app)
    job, outcomes = await drive(db, redis, config, job.id, client=client, until=(), max_steps=2)
    assert outcomes == ["uploaded", "created"]
    remote = fake.jobs[job.provider_job_id or ""]
    remote.stage = "failed"
    remote.add_event("validation", data={"error": "Line 3: no assistant message"})
    job, _ = await drive(db, redis, config, job.id, client=client)
    assert job.status == "failed" and job.provider_status == "FAILED"
    assert job.error_message == "Line 3: no assistant message"

"""Provider steps: permanent and transient failures, backoff, cancel, stale steps, idempotent reads, sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.fine_tuning_jobs.scheduling import overdue_steps, poll_job_id
from shared.fine_tuning_jobs.service import cancel_job
from shared.fine_tuning_jobs.steps import StepContext, run_step
from shared.models import FineTuningJob, FineTuningJobEvent, FineTuningJobMetric
from tests.fixtures.jobs import create_file, create_job, drive, provider_settings
from tests.fixtures.organizations import create_org
from tests.providers.fakes.openai import FakeOpenAI


async def new_job(db: AsyncSession, settings: Settings, **request: object) -> tuple[str, str]:
    org = await create_org(db)
    training = await create_file(db, settings, org.id)
    job = await create_job(db, settings, org.id, training_file=training.id, **request)
    return org.id, job.id


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "invalid_api_key", "Incorrect API key provided."),
        (403, "training_not_available", "OpenAI is winding down the fine-tuning platform."),
        (429, "insufficient_quota", "You exceeded your current quota."),
        (400, "invalid_training_file", "Line 3 has no assistant message."),
    ],
)
async def test_a_permanent_refusal_fails_the_job_with_the_providers_message(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient,
    status: int, code: str, message: str,
) -> None:  # fmt: skip
    _, job_id = await new_job(db, job_settings)
    fake.fail(
        "POST /v1/fine_tuning/jobs$",
        status,
        body={"error": {"message": message, "code": code, "param": None}},
    )
    job, outcomes = await drive(db, redis, job_settings, job_id, client=fake_http)
    assert outcomes[-1] == "failed" and job.status == "failed"
    assert (job.error_code, job.error_message) == (code, message)
    assert fake.jobs == {}


async def test_a_job_the_provider_fails_keeps_its_error(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient
) -> None:
    fake.fail_jobs["doomed"] = {
        "code": "invalid_training_file",
        "message": "Too few examples.",
        "param": "training_file",
    }
    _, job_id = await new_job(db, job_settings, model="doomed")
    job, _ = await drive(db, redis, job_settings, job_id, client=fake_http)
    assert job.status == "failed" and job.provider_status == "failed"
    assert (job.error_code, job.error_message, job.error_param) == (
        "invalid_training_file",
        "Too few examples.",
        "training_file",
    )


async def test_transient_failures_back_off_then_recover_or_give_up(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient
) -> None:
    _, job_id = await new_job(db, job_settings)
    fake.fail(
        "GET /v1/fine_tuning/jobs/",
        503,
        body={"error": {"message": "overloaded"}},
        headers={"Retry-After": "1"},
        times=2,
    )
    job, outcomes = await drive(db, redis, job_settings, job_id, client=fake_http, max_steps=3)
    assert outcomes == ["uploaded", "created", "backing_off"]
    assert job.consecutive_failures == 1 and job.last_provider_error == "overloaded" and job.failing_since
    assert job.next_poll_at is not None and job.next_poll_at >= datetime.now(UTC) + timedelta(seconds=0.5)
    job, outcomes = await drive(db, redis, job_settings, job_id, client=fake_http)
    assert job.status == "succeeded" and job.consecutive_failures == 0 and job.failing_since is None

    impatient = provider_settings(job_settings, give_up_after_seconds=0)
    _, job_id = await new_job(db, impatient)
    fake.fail("POST /v1/files", 500, body={"error": {"message": "boom"}}, times=100)
    job, outcomes = await drive(db, redis, impatient, job_id, client=fake_http)
    assert outcomes[-1] == "gave_up" and job.status == "failed" and job.error_code == "provider_unreachable"


async def test_cancel_reaches_the_provider_and_is_idempotent(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient
) -> None:
    org_id, job_id = await new_job(db, job_settings)
    job, _ = await drive(db, redis, job_settings, job_id, client=fake_http, until=("running",))
    job = await cancel_job(db, org_id, job_id)
    assert job.status == "cancelling" and job.cancel_requested_at is not None
    assert (await cancel_job(db, org_id, job_id)).status == "cancelling"
    job, outcomes = await drive(db, redis, job_settings, job_id, client=fake_http)
    assert outcomes[0] == "cancel_sent" and job.status == "cancelled"
    assert fake.jobs[job.provider_job_id or ""].stage == "cancelled" and fake.count("POST", "/cancel$") == 1
    assert (await cancel_job(db, org_id, job_id)).status == "cancelled"

    org_id, job_id = await new_job(db, job_settings)  # cancelled before any provider job exists
    await cancel_job(db, org_id, job_id)
    job, outcomes = await drive(db, redis, job_settings, job_id, client=fake_http)
    assert outcomes == ["cancelled"] and job.status == "cancelled" and len(fake.jobs) == 1


async def test_a_finished_job_cannot_be_cancelled(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake_http: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await create_file(db, job_settings, org.id)
    job = await create_job(db, job_settings, org.id, training_file=training.id)
    await drive(db, redis, job_settings, job.id, client=fake_http)
    response = await client.post(f"/v1/fine_tuning/jobs/{job.id}/cancel", headers=org.headers)
    assert response.status_code == 409 and response.json()["code"] == "illegal_job_transition"


async def test_stale_and_duplicate_steps_do_nothing(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient
) -> None:
    _, job_id = await new_job(db, job_settings)
    context = StepContext(db, redis, job_settings, client=fake_http)
    assert await run_step(context, job_id, 1) == "uploaded"
    assert await run_step(context, job_id, 1) == "stale"  # a duplicate of the step that ran
    assert await run_step(context, job_id, 99) == "stale"
    assert len(fake.files) == 1


async def test_reading_the_same_provider_pages_again_stores_nothing_twice(
    db: AsyncSession, redis: Redis, job_settings: Settings, fake: FakeOpenAI, fake_http: httpx.AsyncClient
) -> None:
    _, job_id = await new_job(db, job_settings)
    job, _ = await drive(db, redis, job_settings, job_id, client=fake_http, until=("succeeded",))
    rows = await db.scalar(select(func.count()).where(FineTuningJobMetric.job_id == job_id))
    events = await db.scalar(select(func.count()).where(FineTuningJobEvent.job_id == job_id))
    # As if the cursor had been lost: every page is read again, and the poll is repeated.
    job.events_cursor, job.last_metric_step, job.status, job.next_poll_at = (
        None,
        0,
        "running",
        datetime.now(UTC),
    )
    job.finished_at = None
    await db.flush()
    assert (
        await run_step(StepContext(db, redis, job_settings, client=fake_http), job_id, job.poll_sequence)
        == "polled"
    )
    assert await db.scalar(select(func.count()).where(FineTuningJobMetric.job_id == job_id)) == rows == 6
    ours = 1  # the job's own "succeeded" message is written again by the repeated transition
    assert await db.scalar(select(func.count()).where(FineTuningJobEvent.job_id == job_id)) == events + ours


async def test_incremental_fine_tuning_records_the_parent_model(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake_http: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await create_file(db, job_settings, org.id)
    first = await create_job(db, job_settings, org.id, training_file=training.id)
    first, _ = await drive(db, redis, job_settings, first.id, client=fake_http)
    assert first.fine_tuned_model
    second = await create_job(
        db, job_settings, org.id, training_file=training.id, model=first.fine_tuned_model
    )
    second, _ = await drive(db, redis, job_settings, second.id, client=fake_http)
    models = (await client.get("/v1/models", headers=org.headers)).json()["data"]
    child = next(m for m in models if m["fine_tuning_job_id"] == second.id)
    assert child["parent_model"] == first.fine_tuned_model and child["base_model"] == "tiny-base"
    assert child["dataset_hash"] == training.sha256 and child["provider"] == "local"
    one = (await client.get(f"/v1/models/{child['id']}", headers=org.headers)).json()
    assert one == child
    other = await create_org(db, "Other")
    assert (await client.get(f"/v1/models/{child['id']}", headers=other.headers)).status_code == 404


async def test_the_sweep_finds_overdue_steps(db: AsyncSession, job_settings: Settings) -> None:
    _, job_id = await new_job(db, job_settings)
    _, on_time = await new_job(db, job_settings)
    job = await db.get_one(FineTuningJob, job_id)
    job.next_poll_at = datetime.now(UTC) - timedelta(minutes=5)
    await db.flush()
    due = {queued.job_id for queued in await overdue_steps(db)}
    assert poll_job_id(job_id, job.poll_sequence) in due and not any(on_time in d for d in due)

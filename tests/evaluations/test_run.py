"""Running evaluations against an HTTP fake provider: trigger, report, failures, retries, sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.config import Settings
from shared.evaluations.run import EvaluationContext, record_crash, run_evaluation
from shared.evaluations.service import due_evaluations, evaluate_job_id, queue_evaluation
from shared.queue import QueuedJob
from tests.evaluations.helpers import (
    PAIRS,
    TranslatingFake,
    evaluations_of,
    events_of,
    succeeded_job,
    validation_lines,
)
from tests.fixtures.jobs import create_file, create_job, drive
from tests.fixtures.organizations import create_org


def context(
    db: AsyncSession, redis: Redis, settings: Settings, client: httpx.AsyncClient
) -> EvaluationContext:
    return EvaluationContext(db, redis, settings, client=client)


async def test_a_job_that_succeeds_with_a_validation_file_is_evaluated(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await create_file(db, job_settings, org.id)
    validation = await create_file(db, job_settings, org.id, lines=validation_lines())
    job = await create_job(db, job_settings, org.id, training_file=training.id, validation_file=validation.id)
    job, _ = await drive(db, redis, job_settings, job.id, client=fake_http)
    assert job.status == "succeeded" and job.fine_tuned_model

    [evaluation] = await evaluations_of(db, job.id)
    assert (evaluation.status, evaluation.trigger) == ("queued", "job_succeeded")
    assert (evaluation.base_model, evaluation.fine_tuned_model) == ("tiny-base", job.fine_tuned_model)

    assert await run_evaluation(context(db, redis, job_settings, fake_http), evaluation.id) == "succeeded"
    [evaluation] = await evaluations_of(db, job.id)
    assert evaluation.status == "succeeded" and evaluation.attempts == 1
    assert evaluation.segment_count == len(evaluation.segments) == len(PAIRS)
    summary = evaluation.summary
    assert summary is not None
    assert summary["fine_tuned"] == summary["fine_tuned"] | {"chrf_pp": 100.0, "bleu": 100.0, "ter": 0.0}
    assert summary["fine_tuned"]["placeholder_errors"] == 0
    assert summary["base"]["placeholder_errors"] == summary["base"]["placeholder_checked"] - 1 == 3
    assert summary["delta"]["chrf_pp"] > 50 and summary["delta"]["placeholder_errors"] == -3
    second = evaluation.segments[1]
    assert second["line"] == 2 and (second["source"], second["reference"]) == PAIRS[1]
    assert second["fine_tuned_output"] == PAIRS[1][1] and second["fine_tuned_placeholder_ok"] is True
    assert second["base_placeholder_ok"] is False and "{count}" in second["base_placeholder_problem"]

    # What the models were sent: the training prompt, greedy, with a bounded generation.
    assert len(fake.chat_requests) == 2 * len(PAIRS)
    request = fake.chat_requests[0]
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert request["temperature"] == 0 and 16 < request["max_tokens"] <= job_settings.evaluations.max_tokens
    assert {r["model"] for r in fake.chat_requests} == {"tiny-base", job.fine_tuned_model}

    [event] = await events_of(db, job.id, "fine_tuning.job.evaluated")
    assert event.data["evaluation_id"] == evaluation.id and event.data["summary"] == summary
    assert event.data["id"] == job.id and event.data["segment_count"] == len(PAIRS)
    await db.refresh(job)
    assert job.status == "succeeded"

    # Idempotent: the same task again (a duplicate message) changes and sends nothing.
    assert await run_evaluation(context(db, redis, job_settings, fake_http), evaluation.id) == "succeeded"
    assert len(fake.chat_requests) == 2 * len(PAIRS)
    assert len(await events_of(db, job.id, "fine_tuning.job.evaluated")) == 1


async def test_a_job_without_validation_file_or_with_auto_off_is_not_evaluated(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await create_file(db, job_settings, org.id)
    plain = await create_job(db, job_settings, org.id, training_file=training.id)
    assert (await drive(db, redis, job_settings, plain.id, client=fake_http))[0].status == "succeeded"
    assert await evaluations_of(db, plain.id) == []

    manual = job_settings.model_copy(
        update={"evaluations": job_settings.evaluations.model_copy(update={"auto": False})}
    )
    validation = await create_file(db, manual, org.id, lines=validation_lines())
    job = await create_job(db, manual, org.id, training_file=training.id, validation_file=validation.id)
    assert (await drive(db, redis, manual, job.id, client=fake_http))[0].status == "succeeded"
    assert await evaluations_of(db, job.id) == []


async def test_a_refusing_provider_fails_the_evaluation_but_never_the_job(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    evaluation = await queue_evaluation(db, job, "request")
    fake.respond = None
    fake.fail("POST /v1/chat/completions", 404, times=100, body={
        "error": {"message": "The model 'tiny-base' does not exist.", "code": "model_not_found"}
    })  # fmt: skip
    assert await run_evaluation(context(db, redis, job_settings, fake_http), evaluation.id) == "failed"
    [evaluation] = await evaluations_of(db, job.id)
    assert (evaluation.status, evaluation.error_code) == ("failed", "model_not_found")
    assert evaluation.error_message == "The model 'tiny-base' does not exist."
    assert evaluation.summary is None and evaluation.finished_at is not None and evaluation.due_at is None
    [event] = await events_of(db, job.id, "fine_tuning.job.evaluation_failed")
    assert event.data["error"] == {"code": "model_not_found", "message": evaluation.error_message}
    await db.refresh(job)
    assert job.status == "succeeded" and job.error_code is None


async def test_an_outage_queues_another_attempt_that_then_succeeds(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    evaluation = await queue_evaluation(db, job, "request")
    ctx = context(db, redis, job_settings, fake_http)
    left = [1]

    async def outage(request: Request) -> Response | None:
        if request.url.path.endswith("/chat/completions") and left[0] > 0:
            left[0] -= 1
            return JSONResponse({"error": {"message": "overloaded"}}, 503)
        return await fake.translate(request)

    fake.respond = outage
    assert await run_evaluation(ctx, evaluation.id) == "will_retry"
    [evaluation] = await evaluations_of(db, job.id)
    assert (evaluation.status, evaluation.attempts, evaluation.error_code) == (
        "queued",
        1,
        "provider_unavailable",
    )
    assert evaluation.due_at is not None and evaluation.due_at > datetime.now(UTC) + timedelta(seconds=30)

    assert await run_evaluation(ctx, evaluation.id) == "succeeded"
    [evaluation] = await evaluations_of(db, job.id)
    assert (evaluation.status, evaluation.attempts, evaluation.error_code) == ("succeeded", 2, None)


async def test_a_crashed_run_is_taken_over_once_its_lease_ends_and_gives_up_after_max_attempts(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    evaluation = await queue_evaluation(db, job, "job_succeeded")
    ctx = context(db, redis, job_settings, fake_http)
    # A run holds the lease: a duplicate does nothing.
    evaluation.status, evaluation.attempts = "running", 1
    evaluation.due_at = datetime.now(UTC) + timedelta(minutes=5)
    await db.flush()
    assert await run_evaluation(ctx, evaluation.id) == "running"
    assert fake.chat_requests == []
    # Its worker died: once the lease has passed, the sweep enqueues it and the next run takes over.
    evaluation.due_at = datetime.now(UTC) - timedelta(minutes=5)
    await db.flush()
    assert QueuedJob(
        "evaluations", "fine_tuning_job.evaluate", (evaluation.id,), evaluate_job_id(evaluation.id, 1)
    ) in await due_evaluations(db)
    assert await run_evaluation(ctx, evaluation.id) == "succeeded"
    [evaluation] = await evaluations_of(db, job.id)
    assert evaluation.attempts == 2 and evaluation.status == "succeeded"
    assert evaluation.id not in [job.args[0] for job in await due_evaluations(db)]

    # Out of attempts: it fails instead of running again.
    again = await queue_evaluation(db, job, "request")
    again.status, again.attempts = "running", job_settings.evaluations.max_attempts
    again.due_at = datetime.now(UTC) - timedelta(minutes=5)
    await db.flush()
    assert await run_evaluation(ctx, again.id) == "failed"
    assert (again.status, again.error_code) == ("failed", "evaluation_incomplete")


async def test_an_unexpected_crash_uses_up_an_attempt(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    evaluation = await queue_evaluation(db, job, "request")
    ctx = context(db, redis, job_settings, fake_http)
    assert await record_crash(ctx, evaluation.id, RuntimeError("boom")) == "will_retry"
    assert (evaluation.status, evaluation.attempts) == ("queued", 1)
    assert evaluation.error_message == "RuntimeError: boom"


async def test_a_validation_file_without_usable_examples_fails_the_evaluation(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    empty = await create_file(
        db, job_settings, org.id, lines=['{"messages": [{"role": "user", "content": "x"}]}']
    )
    job.validation_file_id = empty.id
    evaluation = await queue_evaluation(db, job, "request")
    assert await run_evaluation(context(db, redis, job_settings, fake_http), evaluation.id) == "failed"
    assert evaluation.error_code == "no_segments"


async def test_max_segments_caps_what_is_translated(
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake: TranslatingFake,
    fake_http: httpx.AsyncClient,
) -> None:
    capped = job_settings.model_copy(
        update={"evaluations": job_settings.evaluations.model_copy(update={"max_segments": 2})}
    )
    org = await create_org(db)
    job = await succeeded_job(db, capped, org.id)
    evaluation = await queue_evaluation(db, job, "request")
    assert await run_evaluation(context(db, redis, capped, fake_http), evaluation.id) == "succeeded"
    assert evaluation.segment_count == 2 and len(fake.chat_requests) == 4

"""`/v1/fine_tuning/jobs/{id}/evaluation`: 202 on request, 409 when it cannot run, 404 elsewhere."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.evaluations.run import EvaluationContext, run_evaluation
from tests.evaluations.helpers import PAIRS, TranslatingFake, evaluations_of, succeeded_job
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.organizations import create_org


def path(job_id: str) -> str:
    return f"/v1/fine_tuning/jobs/{job_id}/evaluation"


async def test_asking_for_an_evaluation_queues_one_and_returns_it_while_it_is_unfinished(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, settings, org.id)
    created = await client.post(path(job.id), headers=org.headers)
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["object"] == "fine_tuning.job.evaluation" and body["id"].startswith("fteval_")
    assert (body["status"], body["trigger"], body["fine_tuning_job_id"]) == ("queued", "request", job.id)
    assert (body["base_model"], body["fine_tuned_model"]) == (job.model, job.fine_tuned_model)
    assert body["summary"] is None and body["segments"] == [] and body["attempts"] == 0
    assert created.headers["location"] == path(job.id)

    again = await client.post(path(job.id), headers=org.headers)
    assert again.status_code == 202 and again.json()["id"] == body["id"]
    latest = await client.get(path(job.id), headers=org.headers)
    assert latest.status_code == 200 and latest.json()["id"] == body["id"]
    assert len(await evaluations_of(db, job.id)) == 1


async def test_a_finished_evaluation_is_served_with_scores_and_segments(
    client: httpx.AsyncClient, db: AsyncSession, redis: Redis, job_settings: Settings,
    fake: TranslatingFake, fake_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    org = await create_org(db)
    job = await succeeded_job(db, job_settings, org.id)
    evaluation_id = (await client.post(path(job.id), headers=org.headers)).json()["id"]
    context = EvaluationContext(db, redis, job_settings, client=fake_http)
    assert await run_evaluation(context, evaluation_id) == "succeeded"

    body = (await client.get(path(job.id), headers=org.headers)).json()
    assert body["status"] == "succeeded" and body["segment_count"] == len(PAIRS)
    assert body["summary"]["fine_tuned"]["chrf_pp"] == 100.0
    assert body["summary"]["base"]["chrf_pp"] < body["summary"]["fine_tuned"]["chrf_pp"]
    assert set(body["summary"]["delta"]) == {"chrf_pp", "bleu", "ter", "placeholder_errors"}
    first = body["segments"][0]
    assert (first["source"], first["reference"], first["fine_tuned_output"]) == (*PAIRS[0], PAIRS[0][1])
    assert body["started_at"] <= body["finished_at"] and body["error"] is None

    # A new request after a finished one evaluates again.
    renewed = await client.post(path(job.id), headers=org.headers)
    assert renewed.status_code == 202 and renewed.json()["id"] != evaluation_id


async def test_a_job_that_has_not_succeeded_or_has_no_validation_file_is_a_409(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    training = await create_file(db, settings, org.id)
    running = await create_job(db, settings, org.id, training_file=training.id)
    refused = await client.post(path(running.id), headers=org.headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "job_not_evaluable" and problem["type"].endswith("/problems/job_not_evaluable")
    assert "only a succeeded job" in problem["detail"] and problem["job_status"] == running.status

    no_validation = await succeeded_job(db, settings, org.id, validation=False)
    refused = await client.post(path(no_validation.id), headers=org.headers)
    assert refused.status_code == 409 and "no validation file" in refused.json()["detail"]


async def test_no_evaluation_yet_is_a_404_and_another_organizations_job_is_a_404(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org, other = await create_org(db), await create_org(db, "Other Localization")
    job = await succeeded_job(db, settings, org.id)
    missing = await client.get(path(job.id), headers=org.headers)
    assert missing.status_code == 404 and "has no evaluation" in missing.json()["detail"]

    await client.post(path(job.id), headers=org.headers)
    for response in (
        await client.get(path(job.id), headers=other.headers),
        await client.post(path(job.id), headers=other.headers),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert len(await evaluations_of(db, job.id)) == 1


async def test_an_idempotency_key_replays_the_first_response(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    job = await succeeded_job(db, settings, org.id)
    headers = org.headers | {"Idempotency-Key": "evaluate-once"}
    first = await client.post(path(job.id), headers=headers)
    replayed = await client.post(path(job.id), headers=headers)
    assert first.status_code == replayed.status_code == 202
    assert replayed.headers.get("idempotent-replayed") == "true" and replayed.json() == first.json()

"""Evaluations of succeeded jobs: queue one (on success or on request), read the latest, sweep what is due.

An evaluation moves `queued -> running -> succeeded | failed` (a transient provider failure puts it
back to `queued` for a later attempt). The run itself is `shared.evaluations.run.run_evaluation`, on
the `evaluations` queue; nothing here calls a provider. An evaluation never changes its job's status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings, get_settings
from shared.errors import Conflict, NotFound, problem_type
from shared.evaluations.repository import EvaluationRepository
from shared.events.service import record_event
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.service import get_job
from shared.fine_tuning_jobs.state import JobStatus
from shared.models import FineTuningJob, JobEvaluation
from shared.queue import QueuedJob, enqueue_job, register_sweep

log = structlog.get_logger()
EVALUATE_TASK = "fine_tuning_job.evaluate"
JOB_EVALUATED = "fine_tuning.job.evaluated"
JOB_EVALUATION_FAILED = "fine_tuning.job.evaluation_failed"
SWEEP_BATCH = 1000
JOB_NOT_EVALUABLE = problem_type(
    "job_not_evaluable",
    "Only a succeeded fine-tuning job with a validation file and an output model can be evaluated.",
)


class JobNotEvaluable(Conflict):
    code = JOB_NOT_EVALUABLE


def evaluate_job_id(evaluation_id: str, attempts: int) -> str:
    """The ARQ job id of an evaluation's next run: duplicates of one attempt collapse.

    The attempt count is part of it because a run that re-queues its own evaluation (a transient
    failure) still holds its own id in ARQ while it finishes.
    """
    return f"fteval:{evaluation_id}:run:{attempts}"


def enqueue_run(session: AsyncSession, evaluation: JobEvaluation, delay_seconds: float = 0) -> None:
    """Make the evaluation due in `delay_seconds` and send its run after the caller commits."""
    evaluation.due_at = datetime.now(UTC) + timedelta(seconds=delay_seconds)
    enqueue_job(
        session,
        "evaluations",
        EVALUATE_TASK,
        evaluation.id,
        job_id=evaluate_job_id(evaluation.id, evaluation.attempts),
        defer_seconds=delay_seconds if delay_seconds > 0 else None,
    )


async def queue_evaluation(session: AsyncSession, job: FineTuningJob, trigger: str) -> JobEvaluation:
    """A queued evaluation of `job` (its unfinished one if there is one), run after the caller commits."""
    repository = EvaluationRepository(session)
    existing = await repository.unfinished(job.id)
    if existing is not None:
        return existing
    assert job.fine_tuned_model is not None
    evaluation = await repository.add(
        JobEvaluation(
            organization_id=job.organization_id,
            job_id=job.id,
            status="queued",
            trigger=trigger,
            base_model=job.model,
            fine_tuned_model=job.fine_tuned_model,
            segments=[],
            attempts=0,
        )
    )
    enqueue_run(session, evaluation)
    log.info("fine_tuning_job.evaluation_queued", job_id=job.id, evaluation_id=evaluation.id, trigger=trigger)
    return evaluation


def why_not_evaluable(job: FineTuningJob) -> str | None:
    """Why the job cannot be evaluated, or None when it can."""
    if job.status != JobStatus.SUCCEEDED:
        return f"Fine-tuning job {job.id} is {job.status}; only a succeeded job can be evaluated."
    if job.validation_file_id is None:
        return f"Fine-tuning job {job.id} has no validation file to evaluate on."
    if not job.fine_tuned_model:
        return f"Fine-tuning job {job.id} reported no output model."
    return None


async def on_job_succeeded(session: AsyncSession, settings: Settings, job: FineTuningJob) -> None:
    """Queue an evaluation of a job that just succeeded, when it has a validation file (and auto is on)."""
    if settings.evaluations.auto and why_not_evaluable(job) is None:
        await queue_evaluation(session, job, "job_succeeded")


async def request_evaluation(session: AsyncSession, organization_id: str, job_id: str) -> JobEvaluation:
    """Evaluate a job on demand: 404 for another organization's job, 409 when it cannot be evaluated."""
    await get_job(session, organization_id, job_id)
    job = await JobRepository(session).lock(job_id)  # two requests at once queue one evaluation
    assert job is not None
    if (reason := why_not_evaluable(job)) is not None:
        raise JobNotEvaluable(reason, job_status=job.status)
    return await queue_evaluation(session, job, "request")


async def latest_evaluation(session: AsyncSession, organization_id: str, job_id: str) -> JobEvaluation:
    """The job's newest evaluation; 404 when the job is not the organization's or has none."""
    await get_job(session, organization_id, job_id)
    evaluation = await EvaluationRepository(session).latest(organization_id, job_id)
    if evaluation is None:
        raise NotFound(
            f"Fine-tuning job {job_id} has no evaluation; POST /v1/fine_tuning/jobs/{job_id}/evaluation "
            "to ask for one."
        )
    return evaluation


def event_data(evaluation: JobEvaluation) -> dict[str, Any]:
    """What `fine_tuning.job.evaluated|evaluation_failed` carry: ids, models and the summary numbers."""
    data: dict[str, Any] = {
        "id": evaluation.job_id,
        "object": "fine_tuning.job",
        "evaluation_id": evaluation.id,
        "status": evaluation.status,
        "base_model": evaluation.base_model,
        "fine_tuned_model": evaluation.fine_tuned_model,
        "segment_count": evaluation.segment_count,
        "summary": evaluation.summary,
    }
    if evaluation.error_code:
        data["error"] = {"code": evaluation.error_code, "message": evaluation.error_message}
    return data


async def emit_finished(session: AsyncSession, evaluation: JobEvaluation) -> None:
    """The outbox event of a finished evaluation, on the job's subject (after the job's final event)."""
    kind = JOB_EVALUATED if evaluation.status == "succeeded" else JOB_EVALUATION_FAILED
    await record_event(
        session, evaluation.organization_id, kind, event_data(evaluation), subject_id=evaluation.job_id
    )


@register_sweep("evaluations")
async def due_evaluations(session: AsyncSession) -> list[QueuedJob]:
    """Queued evaluations overdue and running ones whose lease ran out (a lost message, a killed worker)."""
    grace = get_settings().providers.overdue_grace_seconds
    due = await EvaluationRepository(session).due(datetime.now(UTC) - timedelta(seconds=grace), SWEEP_BATCH)
    return [
        QueuedJob("evaluations", EVALUATE_TASK, (evaluation_id,), evaluate_job_id(evaluation_id, attempts))
        for evaluation_id, attempts in due
    ]

"""The one state machine of a fine-tuning job: every status change goes through `transition`.

`created → building_dataset → awaiting_confirmation? → validating_files → queued → running →
succeeded | failed | cancelled`, plus `paused` (a provider's) and `cancelling` (asked, not yet
confirmed by the provider). Providers may skip states between two polls, so forward jumps between
provider-side states are legal; leaving a final state never is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, problem_type
from shared.fine_tuning_jobs.events import add_job_event, emit_status_changed
from shared.models import FineTuningJob

log = structlog.get_logger()


class JobStatus(StrEnum):
    CREATED = "created"
    BUILDING_DATASET = "building_dataset"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# States in which the provider holds (or is about to hold) the job: the worker polls these.
AT_PROVIDER = frozenset(
    {JobStatus.VALIDATING_FILES, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.CANCELLING}
)
_PROVIDER_SIDE = {
    JobStatus.VALIDATING_FILES,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.PAUSED,
    JobStatus.CANCELLING,
    *FINAL,
}
_BEFORE_PROVIDER = {JobStatus.FAILED, JobStatus.CANCELLED}

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.CREATED: frozenset(
        {
            JobStatus.BUILDING_DATASET,
            JobStatus.AWAITING_CONFIRMATION,
            JobStatus.VALIDATING_FILES,
            *_BEFORE_PROVIDER,
        }
    ),
    JobStatus.BUILDING_DATASET: frozenset(
        {JobStatus.AWAITING_CONFIRMATION, JobStatus.VALIDATING_FILES, *_BEFORE_PROVIDER}
    ),
    JobStatus.AWAITING_CONFIRMATION: frozenset({JobStatus.VALIDATING_FILES, *_BEFORE_PROVIDER}),
    JobStatus.VALIDATING_FILES: frozenset(_PROVIDER_SIDE - {JobStatus.VALIDATING_FILES}),
    JobStatus.QUEUED: frozenset(_PROVIDER_SIDE - {JobStatus.QUEUED}),
    JobStatus.RUNNING: frozenset(_PROVIDER_SIDE - {JobStatus.RUNNING, JobStatus.VALIDATING_FILES}),
    JobStatus.PAUSED: frozenset(_PROVIDER_SIDE - {JobStatus.PAUSED, JobStatus.VALIDATING_FILES}),
    # Once asked to stop, only an outcome may follow (a job may finish before the cancel lands).
    JobStatus.CANCELLING: frozenset(FINAL),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

ILLEGAL_TRANSITION = problem_type(
    "illegal_job_transition", "The fine-tuning job's current status does not allow this action."
)


class IllegalTransition(Conflict):
    code = ILLEGAL_TRANSITION


def can_transition(current: str, target: str) -> bool:
    """Whether `current → target` is a legal move."""
    return JobStatus(target) in TRANSITIONS[JobStatus(current)]


def check_transition(job_id: str, current: str, target: str) -> None:
    """Raise IllegalTransition (409) unless `current → target` is legal."""
    if not can_transition(current, target):
        raise IllegalTransition(
            f"Fine-tuning job {job_id} is {current}; it cannot become {target}.",
            job_status=current,
            requested_status=target,
        )


def transition_record(status: str, *, provider_status: str | None, reason: str | None) -> dict[str, Any]:
    """One entry of a job's `transitions` list."""
    entry: dict[str, Any] = {"status": status, "at": int(time.time())}
    if provider_status is not None:
        entry["provider_status"] = provider_status
    if reason:
        entry["reason"] = reason
    return entry


_MESSAGES = {
    JobStatus.BUILDING_DATASET: "Building the dataset",
    JobStatus.AWAITING_CONFIRMATION: "Waiting for confirmation: POST /v1/fine_tuning/jobs/{id}/start",
    JobStatus.VALIDATING_FILES: "Validating training file: {training_file}",
    JobStatus.QUEUED: "Fine-tuning job queued at {provider}",
    JobStatus.RUNNING: "Fine-tuning job started",
    JobStatus.PAUSED: "Fine-tuning job paused",
    JobStatus.CANCELLING: "Cancellation requested",
    JobStatus.SUCCEEDED: "The job has successfully completed",
    JobStatus.FAILED: "Fine-tuning job failed: {error}",
    JobStatus.CANCELLED: "Fine-tuning job cancelled",
}


async def transition(
    session: AsyncSession,
    job: FineTuningJob,
    target: str,
    *,
    reason: str | None = None,
    error: tuple[str, str, str | None] | None = None,
) -> bool:
    """Move `job` to `target` (409 if illegal), record when, and write its events; False if already there.

    `error` is (code, message, param) for a failure. The job's `/events` get a message and the
    outbox gets `fine_tuning.job.status_changed` (and `.succeeded|.failed|.cancelled`), all in the
    caller's transaction.
    """
    if job.status == target:
        return False
    check_transition(job.id, job.status, target)
    previous = job.status
    job.status = target
    if error is not None:
        job.error_code, job.error_message, job.error_param = error
    job.transitions = [
        *job.transitions,
        transition_record(target, provider_status=job.provider_status, reason=reason),
    ]
    if target in FINAL:
        job.finished_at = job.finished_at or datetime.now(UTC)
        job.next_poll_at = None
        job.estimated_finish = None
    message = _MESSAGES.get(JobStatus(target), f"Status changed to {target}").format(
        id=job.id,
        training_file=job.training_file_id,
        provider=job.provider,
        error=job.error_message or job.error_code or "unknown error",
    )
    level = "error" if target == JobStatus.FAILED else "info"
    await add_job_event(
        session, job, message, level=level, data={"status": target, "previous_status": previous}
    )
    await emit_status_changed(session, job, previous)
    log.info("fine_tuning_job.status_changed", job_id=job.id, previous=previous, status=target, reason=reason)
    return True

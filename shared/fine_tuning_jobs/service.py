"""Creating, starting and cancelling fine-tuning jobs (the API's side; the worker's is in `steps`)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.datasets.repository import DatasetRepository
from shared.errors import NotFound, ValidationFailed
from shared.files.repository import FileRepository
from shared.fine_tuning_jobs.costs import estimate_cost
from shared.fine_tuning_jobs.events import add_job_event, emit_created
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.scheduling import schedule
from shared.fine_tuning_jobs.state import FINAL, JobStatus, check_transition, transition, transition_record
from shared.models import Dataset, File, FineTunedModel, FineTuningJob
from shared.providers.credentials import provider_kind

Hyperparameter = Literal["auto"] | int | float


class JobRequest(BaseModel):
    """A job as asked for, already checked for shape by the API schema."""

    provider: str
    model: str
    training_file: str | None = None
    validation_file: str | None = None
    dataset_id: str | None = None  # train on a dataset's files (waiting while it builds)
    hyperparameters: dict[str, Hyperparameter] = Field(default_factory=dict)
    seed: int | None = None
    suffix: str | None = None
    metadata: dict[str, str] | None = None
    auto_start: bool = True


async def _file(session: AsyncSession, organization_id: str, file_id: str, field: str) -> File:
    file = await FileRepository(session).get(organization_id, file_id)
    if file is None:
        raise ValidationFailed(
            f"{field} {file_id!r} is not a file of your organization.",
            errors=[{"detail": f"no file {file_id!r}", "pointer": f"#/{field}"}],
        )
    if file.purpose != "fine-tune" or file.status != "processed":
        raise ValidationFailed(
            f"{field} {file_id!r} has purpose {file.purpose!r} and status {file.status!r}; "
            "a fine-tuning job needs a processed file uploaded with purpose=fine-tune.",
            errors=[{"detail": "not a processed fine-tune file", "pointer": f"#/{field}"}],
        )
    return file


async def _dataset(session: AsyncSession, organization_id: str, dataset_id: str) -> Dataset:
    dataset = await DatasetRepository(session).get(organization_id, dataset_id)
    if dataset is None:
        raise ValidationFailed(
            f"dataset_id {dataset_id!r} is not a dataset of your organization.",
            errors=[{"detail": f"no dataset {dataset_id!r}", "pointer": "#/dataset_id"}],
        )
    if dataset.status == "failed" or (dataset.status == "ready" and dataset.training_file_id is None):
        reason = (dataset.error or {}).get("detail") or "it has no training file"
        raise ValidationFailed(
            f"Dataset {dataset_id!r} cannot be trained on: {reason}",
            errors=[{"detail": f"dataset is {dataset.status}", "pointer": "#/dataset_id"}],
        )
    return dataset


async def create_job(
    session: AsyncSession, settings: Settings, organization_id: str, request: JobRequest
) -> FineTuningJob:
    """Record a job and, unless `auto_start` is false, hand it to the `providers` queue.

    A job on a dataset still building waits in `building_dataset`; the build moves it on.
    """
    kind = await provider_kind(session, settings, organization_id, request.provider)
    dataset = await _dataset(session, organization_id, request.dataset_id) if request.dataset_id else None
    training_file_id = dataset.training_file_id if dataset is not None else request.training_file
    validation_file_id = dataset.validation_file_id if dataset is not None else request.validation_file
    if training_file_id is None and dataset is None:
        raise ValidationFailed(
            "training_file is required.", errors=[{"detail": "missing", "pointer": "#/training_file"}]
        )
    training = (
        await _file(session, organization_id, training_file_id, "training_file") if training_file_id else None
    )
    if validation_file_id is not None:
        await _file(session, organization_id, validation_file_id, "validation_file")
    parent = await JobRepository(session).model_by_name(organization_id, request.model)
    if parent is not None and parent.provider != request.provider:
        raise ValidationFailed(
            f"Model {request.model!r} was trained on provider {parent.provider!r}; "
            "continue training it there.",
            errors=[{"detail": f"model lives on {parent.provider!r}", "pointer": "#/provider"}],
        )
    base_model = parent.base_model if parent is not None else request.model
    hyperparameters: dict[str, Any] = {
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    } | request.hyperparameters
    job = FineTuningJob(
        organization_id=organization_id,
        provider=request.provider,
        provider_kind=kind,
        model=request.model,
        parent_model_id=parent.id if parent is not None else None,
        training_file_id=training.id if training is not None else None,
        validation_file_id=validation_file_id,
        dataset_id=dataset.id if dataset is not None else None,
        hyperparameters=hyperparameters,
        seed=request.seed if request.seed is not None else secrets.randbelow(2**31),
        suffix=request.suffix,
        job_metadata=request.metadata,
        auto_start=request.auto_start,
        status=JobStatus.CREATED,
        transitions=[transition_record(JobStatus.CREATED, provider_status=None, reason=None)],
        result_files=[],
        cost_currency="USD",
        estimated_cost=_estimate(settings, kind, base_model, training, hyperparameters) if training else None,
    )
    session.add(job)
    await session.flush()
    await add_job_event(session, job, f"Created fine-tuning job: {job.id}")
    await emit_created(session, job)
    if training is None:
        await transition(
            session, job, JobStatus.BUILDING_DATASET, reason=f"dataset {request.dataset_id} is building"
        )
    elif request.auto_start:
        await _hand_to_provider(session, settings, job)
    else:
        await transition(session, job, JobStatus.AWAITING_CONFIRMATION, reason="auto_start is false")
    return job


def _estimate(
    settings: Settings, kind: str, base_model: str, training: File, hyperparameters: dict[str, Any]
) -> Decimal | None:
    return estimate_cost(
        settings,
        kind,
        base_model,
        training_examples=training.example_count,
        training_tokens=training.token_estimate,
        n_epochs=hyperparameters.get("n_epochs", "auto"),
    )


async def _hand_to_provider(session: AsyncSession, settings: Settings, job: FineTuningJob) -> None:
    await transition(session, job, JobStatus.VALIDATING_FILES, reason="submitted to the providers queue")
    schedule(session, job, 0)


async def dataset_built(
    session: AsyncSession,
    settings: Settings,
    job_id: str,
    *,
    training_file_id: str,
    validation_file_id: str | None,
) -> FineTuningJob:
    """A `building_dataset` job's files are ready: estimate its cost and go on (confirmation or provider).

    For the dataset builder (issue 4): call it in the transaction that stores the built files.
    """
    job = await JobRepository(session).lock(job_id)
    if job is None:
        raise NotFound(f"No fine-tuning job {job_id!r}.")
    if job.status not in (JobStatus.CREATED, JobStatus.BUILDING_DATASET):
        return job  # cancelled (or already moved on) while its dataset was building: nothing to do
    training = await _file(session, job.organization_id, training_file_id, "training_file")
    job.training_file_id, job.validation_file_id = training.id, validation_file_id
    base_model = job.model
    if job.parent_model_id and (parent := await session.get(FineTunedModel, job.parent_model_id)):
        base_model = parent.base_model
    job.estimated_cost = _estimate(settings, job.provider_kind, base_model, training, job.hyperparameters)
    if job.auto_start:
        check_transition(job.id, job.status, JobStatus.VALIDATING_FILES)
        await _hand_to_provider(session, settings, job)
    else:
        await transition(session, job, JobStatus.AWAITING_CONFIRMATION, reason="dataset built")
    return job


async def get_job(session: AsyncSession, organization_id: str, job_id: str) -> FineTuningJob:
    job = await JobRepository(session).get(organization_id, job_id)
    if job is None:
        raise NotFound(f"No fine-tuning job {job_id!r} in your organization.")
    return job


async def _locked(session: AsyncSession, organization_id: str, job_id: str) -> FineTuningJob:
    await get_job(session, organization_id, job_id)  # 404 for another organization's job
    job = await JobRepository(session).lock(job_id)
    assert job is not None
    return job


async def start_job(
    session: AsyncSession, settings: Settings, organization_id: str, job_id: str
) -> FineTuningJob:
    """Go on from `awaiting_confirmation` (409 from any other status)."""
    job = await _locked(session, organization_id, job_id)
    check_transition(job.id, job.status, JobStatus.VALIDATING_FILES)
    await _hand_to_provider(session, settings, job)
    return job


async def cancel_job(session: AsyncSession, organization_id: str, job_id: str) -> FineTuningJob:
    """Cancel: at once before the provider has it, else via the provider; repeating it changes nothing."""
    job = await _locked(session, organization_id, job_id)
    if job.status in (JobStatus.CANCELLED, JobStatus.CANCELLING):
        return job
    if job.status in FINAL:
        check_transition(job.id, job.status, JobStatus.CANCELLED)  # raises: 409
    job.cancel_requested_at = datetime.now(UTC)
    if job.status in (JobStatus.CREATED, JobStatus.BUILDING_DATASET, JobStatus.AWAITING_CONFIRMATION):
        await transition(session, job, JobStatus.CANCELLED, reason="cancelled before reaching the provider")
        job.poll_sequence += 1
        return job
    await transition(session, job, JobStatus.CANCELLING, reason="cancel requested")
    schedule(session, job, 0)  # supersedes any queued poll; the cancel step runs next
    return job

"""Datasets: create from a recipe (the build runs on the `datasets` queue), read, estimate, delete.

A dataset moves `building -> ready | failed` once and never changes after that. Its sources must be
the organization's own (another organization's project is a 404, as if it did not exist).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings, get_settings
from shared.datasets.events import emit_deleted, emit_finished
from shared.datasets.recipe import Recipe, SourceSelection
from shared.datasets.repository import DatasetRepository
from shared.errors import Conflict, NotFound, ValidationFailed, problem_type
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.service import dataset_built
from shared.fine_tuning_jobs.state import JobStatus, transition
from shared.models import Dataset
from shared.pricing.catalog import load_catalog
from shared.pricing.estimate import Epochs, Estimate, Throughput, estimate_training
from shared.pricing.repository import ThroughputRepository
from shared.projects.repository import ProjectRepository
from shared.prompts.service import get_prompt
from shared.provider_credentials.service import PROVIDER_KINDS
from shared.providers.credentials import provider_kind
from shared.queue import QueuedJob, enqueue_job, register_sweep
from shared.translation_memories.repository import TranslationMemoryRepository

log = structlog.get_logger()
BUILD_TASK = "dataset.build"
DELETE_FILES_TASK = "dataset.delete_files"
ADVANCE_JOBS_TASK = "dataset.advance_jobs"
SWEEP_BATCH = 1000
DATASET_TOO_SMALL = problem_type(
    "dataset_too_small",
    "The recipe left fewer training examples than its minimum; `rejected` counts what each filter dropped.",
)
DATASET_IN_USE = problem_type("dataset_in_use", "A fine-tuning job uses the dataset or one of its files.")
DATASET_BUILD_FAILED = problem_type("dataset_build_failed", "The dataset could not be built.")


class DatasetInUse(Conflict):
    code = DATASET_IN_USE


def build_job_id(dataset_id: str) -> str:
    """The ARQ job id of a dataset's build: duplicates collapse while one is queued."""
    return f"dataset:{dataset_id}:build"


async def _check_sources(
    session: AsyncSession, organization_id: str, sources: SourceSelection, at: str
) -> None:
    projects, memories = ProjectRepository(session), TranslationMemoryRepository(session)
    for index, project_id in enumerate(sources.project_ids):
        if await projects.get(organization_id, project_id) is None:
            raise NotFound(
                f"Project {project_id!r} not found.",
                errors=[{"detail": "no such project", "pointer": f"#/{at}/project_ids/{index}"}],
            )
    for index, memory_id in enumerate(sources.translation_memory_ids):
        if await memories.get(organization_id, memory_id) is None:
            raise NotFound(
                f"Translation memory {memory_id!r} not found.",
                errors=[
                    {
                        "detail": "no such translation memory",
                        "pointer": f"#/{at}/translation_memory_ids/{index}",
                    }
                ],
            )


async def resolve_provider_kind(
    session: AsyncSession, settings: Settings, organization_id: str, provider: str
) -> str:
    """`openai`, `local`, ... as given, or the kind of one of the organization's provider credentials."""
    if provider in PROVIDER_KINDS:
        return provider
    return await provider_kind(session, settings, organization_id, provider)


async def _since(session: AsyncSession, organization_id: str, job_id: str) -> datetime:
    """The data cutoff of the dataset a fine-tuning job was trained on."""
    job = await JobRepository(session).get(organization_id, job_id)
    if job is None:
        raise NotFound(
            f"Fine-tuning job {job_id!r} not found.",
            errors=[{"detail": "no such job", "pointer": "#/since_job"}],
        )
    dataset = (
        await DatasetRepository(session).get(organization_id, job.dataset_id) if job.dataset_id else None
    )
    if dataset is None or dataset.data_cutoff is None:
        raise ValidationFailed(
            f"Fine-tuning job {job_id!r} was not trained on a built dataset with a data cutoff; "
            "`since_job` needs one.",
            errors=[{"detail": "the job has no dataset data cutoff", "pointer": "#/since_job"}],
        )
    return dataset.data_cutoff


async def create_dataset(
    session: AsyncSession, organization_id: str, recipe: Recipe, settings: Settings | None = None
) -> Dataset:
    """Record a dataset (`building`) and queue its build; 404 for sources that are not the organization's."""
    settings = settings or get_settings()
    await _check_sources(session, organization_id, recipe.sources, "sources")
    if recipe.validation is not None and recipe.validation.sources is not None:
        await _check_sources(session, organization_id, recipe.validation.sources, "validation/sources")
    if recipe.prompt_id is not None:
        await get_prompt(session, organization_id, recipe.prompt_id)
    kind = await resolve_provider_kind(session, settings, organization_id, recipe.provider)
    approved_since = await _since(session, organization_id, recipe.since_job) if recipe.since_job else None
    dataset = await DatasetRepository(session).add(
        Dataset(
            organization_id=organization_id,
            status="building",
            recipe=recipe.canonical(),
            provider_kind=kind,
            approved_since=approved_since,
            build_attempts=0,
        )
    )
    enqueue_job(session, "datasets", BUILD_TASK, dataset.id, job_id=build_job_id(dataset.id))
    log.info("dataset.created", dataset_id=dataset.id, provider_kind=kind)
    return dataset


async def get_dataset(session: AsyncSession, organization_id: str, dataset_id: str) -> Dataset:
    dataset = await DatasetRepository(session).get(organization_id, dataset_id)
    if dataset is None:
        raise NotFound(f"Dataset {dataset_id!r} not found.")
    return dataset


def problem(
    settings: Settings, code: str, title: str, status: int, detail: str, **extra: Any
) -> dict[str, Any]:
    """A stored RFC 9457 problem (a failed dataset's `error`)."""
    return {
        "type": f"{settings.api.public_url}/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


async def finish(
    session: AsyncSession,
    settings: Settings,
    dataset: Dataset,
    status: str,
    error: dict[str, Any] | None = None,
) -> None:
    """Move a building dataset to `ready` or `failed`, move on the jobs waiting for it, tell the world."""
    dataset.status = status
    dataset.error = error
    dataset.finished_at = datetime.now(UTC)
    await session.flush()
    log.info(f"dataset.{status}", dataset_id=dataset.id, error=(error or {}).get("code"))
    await _advance_waiting_jobs(session, settings, dataset)
    await emit_finished(session, dataset)


async def _advance_waiting_jobs(session: AsyncSession, settings: Settings, dataset: Dataset) -> None:
    """Jobs in `building_dataset` on this dataset go on (issue 6's `dataset_built`), or fail with it."""
    for job_id in await DatasetRepository(session).waiting_jobs(dataset.id):
        if dataset.status == "ready" and dataset.training_file_id is not None:
            await dataset_built(
                session, settings, job_id,
                training_file_id=dataset.training_file_id, validation_file_id=dataset.validation_file_id,
            )  # fmt: skip
            continue
        job = await JobRepository(session).lock(job_id)
        if job is not None and job.status == JobStatus.BUILDING_DATASET:
            detail = (dataset.error or {}).get("detail") or f"Dataset {dataset.id} failed."
            code = (dataset.error or {}).get("code") or DATASET_BUILD_FAILED
            await transition(
                session, job, JobStatus.FAILED, reason="dataset failed", error=(code, detail, "dataset")
            )


async def advance_waiting_jobs(session: AsyncSession, settings: Settings, dataset_id: str) -> int:
    """Move on the jobs still waiting on a finished dataset; returns how many waited."""
    dataset = await DatasetRepository(session).claim(dataset_id)
    if dataset is None or dataset.status == "building":
        return 0  # its build holds it or is yet to finish: the build moves the jobs on itself
    waiting = len(await DatasetRepository(session).waiting_jobs(dataset.id))
    await _advance_waiting_jobs(session, settings, dataset)
    return waiting


async def record_crash(
    session: AsyncSession, settings: Settings, dataset_id: str, error: BaseException
) -> str:
    """A build raised: count the attempt; past the limit the dataset fails (the sweep retries otherwise)."""
    dataset = await DatasetRepository(session).claim(dataset_id)
    if dataset is None or dataset.status != "building":
        return "skipped"
    dataset.build_attempts += 1
    if dataset.build_attempts < settings.datasets.max_build_tries:
        await session.flush()
        return "will_retry"
    detail = f"The build failed {dataset.build_attempts} times; last error: {type(error).__name__}."
    await finish(
        session,
        settings,
        dataset,
        "failed",
        problem(settings, DATASET_BUILD_FAILED, "Dataset Build Failed", 500, detail),
    )
    return "failed"


async def estimate_dataset(
    session: AsyncSession,
    settings: Settings,
    dataset: Dataset,
    *,
    provider: str | None = None,
    model: str | None = None,
    n_epochs: Epochs = "auto",
) -> Estimate:
    """Cost (or built-in trainer duration) of training on a ready dataset; defaults from its recipe."""
    if dataset.status != "ready" or not dataset.stats:
        raise Conflict(f"Dataset {dataset.id} is {dataset.status}; estimates need a ready dataset.")
    recipe = dataset.recipe
    kind = (
        await resolve_provider_kind(session, settings, dataset.organization_id, provider)
        if provider
        else dataset.provider_kind
    )
    model = model or recipe.get("model") or ""
    catalog = load_catalog(settings.datasets.pricing_file)
    throughput: Throughput | None = None
    if kind == "local":
        measured = await ThroughputRepository(session).measured_tokens_per_second(model)
        if measured is not None:
            throughput = Throughput(tokens_per_second=measured[0], source="measured", jobs=measured[1])
    training = dataset.stats["training"]
    estimate = estimate_training(
        catalog, provider_kind=kind, model=model, training_examples=training["examples"],
        training_tokens=training["tokens"], n_epochs=n_epochs, throughput=throughput,
    )  # fmt: skip
    tokenizer = dataset.stats.get("tokenizer") or {}
    if kind != dataset.provider_kind or model != (recipe.get("model") or ""):
        estimate.notes.append(
            f"Tokens were counted with {tokenizer.get('name')} for {recipe.get('model')!r}."
        )
    elif not tokenizer.get("exact", True):
        estimate.notes.append(str(tokenizer.get("note")))
    return estimate


async def delete_dataset(session: AsyncSession, organization_id: str, dataset_id: str) -> Dataset:
    """Delete a finished dataset, its rejects and files; 409 while building or while a job uses it."""
    repository = DatasetRepository(session)
    dataset = await get_dataset(session, organization_id, dataset_id)
    if dataset.status == "building":
        raise Conflict(f"Dataset {dataset_id} is still building; delete it once it is ready or failed.")
    dataset = await repository.lock(organization_id, dataset_id) or dataset
    jobs = await repository.jobs_using(dataset)
    if jobs:
        raise DatasetInUse(
            f"Dataset {dataset_id} is used by fine-tuning job(s) {', '.join(jobs)}; it cannot be deleted.",
            jobs=jobs,
        )
    keys = [file.storage_key for file in await repository.files(dataset.id)]
    try:
        async with session.begin_nested():
            await repository.delete(dataset)
    except IntegrityError:  # a job started using it between our check and the delete
        raise DatasetInUse(
            f"Dataset {dataset_id} is used by a fine-tuning job; it cannot be deleted."
        ) from None
    if keys:
        enqueue_job(session, "datasets", DELETE_FILES_TASK, keys)
    await emit_deleted(session, organization_id, dataset_id)
    return dataset


@register_sweep("datasets")
async def stale_builds(session: AsyncSession) -> list[QueuedJob]:
    """Builds nobody finished (a lost message, a killed worker): enqueue them again."""
    settings = get_settings()
    older_than = datetime.now(UTC) - timedelta(seconds=settings.datasets.requeue_after_seconds)
    stale = await DatasetRepository(session).stale_builds(older_than, SWEEP_BATCH)
    return [
        QueuedJob("datasets", BUILD_TASK, (dataset_id,), build_job_id(dataset_id)) for dataset_id in stale
    ]


@register_sweep("datasets")
async def stranded_jobs(session: AsyncSession) -> list[QueuedJob]:
    """Jobs that joined a dataset as its build committed, and so missed being moved on: move them on."""
    finished = await DatasetRepository(session).finished_with_waiting_jobs(SWEEP_BATCH)
    return [
        QueuedJob("datasets", ADVANCE_JOBS_TASK, (dataset_id,), f"dataset:{dataset_id}:advance_jobs")
        for dataset_id in finished
    ]

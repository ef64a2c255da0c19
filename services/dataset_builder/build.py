"""Building one dataset in a transaction: plan from its recipe, run the pipeline, store files and report.

`build_dataset(session, settings, dataset_id)` is what the `dataset.build` task calls; it is idempotent
(a finished dataset is left alone, a build another worker holds is skipped) and never commits.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import IO

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.dataset_builder.models import model_profile
from services.dataset_builder.pipeline import (
    BuildPlan,
    BuildResult,
    BuiltFile,
    DatasetTooSmall,
    Pipeline,
    Row,
    SourceSpec,
)
from services.dataset_builder.tokens import TokenizerUnavailable
from shared.config import Settings
from shared.datasets.recipe import Recipe, SourceSelection
from shared.datasets.repository import DatasetRepository, RejectRepository, SourceRowRepository
from shared.datasets.service import DATASET_BUILD_FAILED, DATASET_TOO_SMALL, estimate_dataset, finish, problem
from shared.files.service import record_file
from shared.files.validation import ValidationReport
from shared.ids import new_id
from shared.models import Dataset, File
from shared.pricing.catalog import load_catalog
from shared.prompts.repository import PromptRepository
from shared.prompts.service import CompiledPrompt, PromptTemplateError, compile_prompt
from shared.storage import StorageWriter, get_storage

log = structlog.get_logger()
# The prompt of a recipe that names none.
DEFAULT_SYSTEM = "Translate the user's text from {source_language} to {target_language}."
DEFAULT_USER_TEMPLATE = "{source_text}"


def _sources(recipe: Recipe) -> list[SourceSpec]:
    specs = [SourceSpec("translations", project_id, "training") for project_id in recipe.sources.project_ids]
    specs += [
        SourceSpec("tm_units", memory_id, "training") for memory_id in recipe.sources.translation_memory_ids
    ]
    if recipe.validation is not None and recipe.validation.sources is not None:
        validation = _validation_selection(recipe)
        specs += [
            SourceSpec("translations", project_id, "validation") for project_id in validation.project_ids
        ]
        specs += [
            SourceSpec("tm_units", memory_id, "validation") for memory_id in validation.translation_memory_ids
        ]
    return specs


def _validation_selection(recipe: Recipe) -> SourceSelection:
    """The validation sources, with what they leave out taken from the training sources."""
    assert recipe.validation is not None and recipe.validation.sources is not None
    given = recipe.validation.sources
    if not given.project_ids and not given.translation_memory_ids:
        given = given.model_copy(
            update={
                "project_ids": recipe.sources.project_ids,
                "translation_memory_ids": recipe.sources.translation_memory_ids,
            }
        )
    if not given.language_pairs:
        given = given.model_copy(update={"language_pairs": recipe.sources.language_pairs})
    return given


async def _prompt(session: AsyncSession, recipe: Recipe) -> CompiledPrompt:
    if recipe.prompt_id is None:
        return compile_prompt(DEFAULT_SYSTEM, DEFAULT_USER_TEMPLATE)
    prompt = await PromptRepository(session).get_any(recipe.prompt_id)
    if prompt is None:
        raise PromptTemplateError("prompt_id", f"prompt {recipe.prompt_id!r} no longer exists")
    return compile_prompt(prompt.system, prompt.user_template)


def _smallest(*limits: int | None) -> int | None:
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


async def _record(session: AsyncSession, dataset: Dataset, name: str, built: BuiltFile) -> File:
    report = ValidationReport(
        line_count=built.examples, example_count=built.examples, token_estimate=built.tokens
    )
    file = await record_file(
        session,
        file_id=new_id(File.id_prefix),
        organization_id=dataset.organization_id,
        filename=f"{dataset.id}-{name}.jsonl",
        purpose="fine-tune",
        stored=built.stored,
        report=report,
    )
    file.dataset_id = dataset.id
    return file


async def build_dataset(session: AsyncSession, settings: Settings, dataset_id: str) -> str:
    """Build a `building` dataset to `ready` (files, report, estimate) or `failed` (a problem detail)."""
    dataset = await DatasetRepository(session).claim(dataset_id)
    if dataset is None:
        return "busy_or_missing"
    if dataset.status != "building":
        return dataset.status
    started = time.monotonic()
    structlog.contextvars.bind_contextvars(dataset_id=dataset.id)
    recipe = Recipe.model_validate(dataset.recipe)
    rejects = RejectRepository(session)
    await rejects.clear(dataset.id)
    try:
        result = await _run(session, settings, dataset, recipe, rejects)
    except DatasetTooSmall as small:
        error = problem(
            settings, DATASET_TOO_SMALL, "Dataset Too Small", 422, small.detail,
            rejected=small.stats["rejected"], training_examples=small.stats["training"]["examples"],
            min_examples=small.stats["min_examples"],
        )  # fmt: skip
        dataset.stats = small.stats
        await finish(session, settings, dataset, "failed", error)
        return "failed"
    except (PromptTemplateError, TokenizerUnavailable) as unusable:
        await finish(
            session,
            settings,
            dataset,
            "failed",
            problem(settings, DATASET_BUILD_FAILED, "Dataset Build Failed", 422, str(unusable)),
        )
        return "failed"
    training = await _record(session, dataset, "training", result.training)
    validation = (
        await _record(session, dataset, "validation", result.validation) if result.validation else None
    )
    dataset.training_file_id = training.id
    dataset.validation_file_id = validation.id if validation else None
    dataset.content_hash = result.content_hash
    dataset.data_cutoff = result.data_cutoff
    dataset.stats = result.stats | {"build_seconds": round(time.monotonic() - started, 3)}
    dataset.status = "ready"
    dataset.estimate = (await estimate_dataset(session, settings, dataset)).model_dump(mode="json")
    await finish(session, settings, dataset, "ready")
    log.info("dataset.built", examples=result.training.examples, seconds=dataset.stats["build_seconds"])
    return "ready"


async def _run(
    session: AsyncSession, settings: Settings, dataset: Dataset, recipe: Recipe, rejects: RejectRepository
) -> BuildResult:
    catalog = load_catalog(settings.datasets.pricing_file)
    profile = model_profile(settings, catalog, dataset.provider_kind, recipe.model)
    plan = BuildPlan(
        recipe=recipe,
        prompt=await _prompt(session, recipe),
        profile=profile,
        sources=_sources(recipe),
        max_file_bytes=_smallest(recipe.limits.max_file_bytes, profile.max_file_bytes),
        min_examples=max(recipe.limits.min_examples or 1, profile.min_examples),
        token_threads=settings.datasets.token_threads,
        spill_dir=settings.datasets.spill_dir,
        excerpt_chars=settings.datasets.reject_excerpt_chars,
        dataset_id=dataset.id,
    )
    rows = SourceRowRepository(session)
    validation = _validation_selection(recipe) if recipe.validation and recipe.validation.sources else None

    async def stream(source: SourceSpec) -> AsyncIterator[Sequence[Row]]:
        window = validation if source.role == "validation" and validation is not None else recipe.sources
        batches = rows.stream(
            source.kind, source.id,
            approved_after=window.approved_after, approved_before=window.approved_before,
            approved_since=dataset.approved_since,
            language_pairs=[(pair.source, pair.target) for pair in window.language_pairs],
            batch_rows=settings.datasets.batch_rows,
        )  # fmt: skip
        async for batch in batches:
            yield batch

    async def sink(csv: IO[bytes]) -> None:
        await rejects.copy_csv(csv)

    storage = get_storage(settings)

    async def open_writer(name: str) -> StorageWriter:
        return await storage.open_writer(f"datasets/{dataset.organization_id}/{dataset.id}/{name}.jsonl")

    return await Pipeline(plan, stream, sink, open_writer).run()

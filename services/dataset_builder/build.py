"""Building one dataset in a transaction: plan from its recipe, run the pipeline, store files and report.

`build_dataset(session, settings, dataset_id)` is what the `dataset.build` task calls; it is idempotent
(a finished dataset is left alone, a build another worker holds is skipped) and never commits.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import IO

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from services.dataset_builder.models import model_profile
from services.dataset_builder.parallel import Parallel, PartRows
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
from shared.datasets.source_rows import SourceQuery, stream_rows
from shared.db import create_engine
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


def _sources(recipe: Recipe, approved_since: datetime | None) -> list[SourceSpec]:
    """The training sources, then the validation sources, each with the rows it reads."""
    selections: list[tuple[str, SourceSelection]] = [("training", recipe.sources)]
    if recipe.validation is not None and recipe.validation.sources is not None:
        selections.append(("validation", _validation_selection(recipe)))
    specs = []
    for role, window in selections:
        kinds = [("translations", window.project_ids), ("tm_units", window.translation_memory_ids)]
        for kind, ids in kinds:
            for source_id in ids:
                query = SourceQuery(
                    kind, source_id,
                    approved_after=window.approved_after, approved_before=window.approved_before,
                    approved_since=approved_since,
                    language_pairs=tuple((pair.source, pair.target) for pair in window.language_pairs),
                )  # fmt: skip
                specs.append(SourceSpec(kind, source_id, role, query))  # type: ignore[arg-type]
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


def _parallel(settings: Settings, rows: SourceRowRepository) -> Parallel:
    """Forked pass-1 workers that read in the build's snapshot, each on a connection of its own."""
    snapshot: list[str] = []

    async def extent(source: SourceSpec) -> tuple[int, int | None, int | None]:
        assert source.query is not None
        return await rows.extent(source.query)

    async def before_fork() -> None:
        snapshot.append(await rows.export_snapshot())

    @asynccontextmanager
    async def part_rows() -> AsyncIterator[PartRows]:
        engine = create_engine(settings, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                adopt = f"SET TRANSACTION SNAPSHOT '{_snapshot_id(snapshot[-1])}'"
                await connection.exec_driver_sql(adopt)  # the transaction's first statement
                driver = (await connection.get_raw_connection()).driver_connection

                def rows_of(source: SourceSpec, id_range: tuple[int, int]) -> AsyncIterator[Sequence[Row]]:
                    assert source.query is not None
                    return stream_rows(
                        driver, replace(source.query, id_range=id_range), settings.datasets.batch_rows
                    )

                yield rows_of
        finally:
            await engine.dispose()

    return Parallel(
        settings.datasets.build_processes, settings.datasets.parallel_min_rows, extent, before_fork, part_rows
    )


def _snapshot_id(value: str) -> str:
    """An exported snapshot id as Postgres writes it (it goes into SQL: nothing else may pass)."""
    if not re.fullmatch(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?", value):
        raise ValueError(f"unexpected snapshot id {value!r}")
    return value


async def _run(
    session: AsyncSession, settings: Settings, dataset: Dataset, recipe: Recipe, rejects: RejectRepository
) -> BuildResult:
    catalog = load_catalog(settings.datasets.pricing_file)
    profile = model_profile(settings, catalog, dataset.provider_kind, recipe.model)
    rows = SourceRowRepository(session)
    plan = BuildPlan(
        recipe=recipe,
        prompt=await _prompt(session, recipe),
        profile=profile,
        sources=_sources(recipe, dataset.approved_since),
        max_file_bytes=_smallest(recipe.limits.max_file_bytes, profile.max_file_bytes),
        min_examples=max(recipe.limits.min_examples or 1, profile.min_examples),
        token_threads=settings.datasets.token_threads,
        spill_dir=settings.datasets.spill_dir,
        excerpt_chars=settings.datasets.reject_excerpt_chars,
        dataset_id=dataset.id,
        parallel=_parallel(settings, rows),
    )
    batch_rows = settings.datasets.batch_rows

    async def stream(source: SourceSpec) -> AsyncIterator[Sequence[Row]]:
        assert source.query is not None
        async for batch in rows.stream(source.query, batch_rows):
            yield batch

    async def sink(csv: IO[bytes]) -> None:
        await rejects.copy_csv(csv)

    storage = get_storage(settings)

    async def open_writer(name: str) -> StorageWriter:
        return await storage.open_writer(f"datasets/{dataset.organization_id}/{dataset.id}/{name}.jsonl")

    return await Pipeline(plan, stream, sink, open_writer).run()

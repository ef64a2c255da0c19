"""`attune import`, `attune datasets` and `attune jobs` against the API served over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.dataset_builder.build import build_dataset
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.fine_tuning_jobs.ingest import ingest_metrics
from shared.models import Dataset, FineTuningJob, ImportJob
from tests.client.conftest import NO_KEY, Cli
from tests.fixtures.datasets import add_translations, clean_pairs
from tests.fixtures.jobs import create_file
from tests.fixtures.organizations import OrgWithKey
from tests.fixtures.sources import (
    create_project,
    create_translation_memory,
    run_import_now,
    tmx_document,
    tmx_unit,
)


async def _run_when_created(
    engine: AsyncEngine, model: type[Any], where: Any, work: Callable[[Any, str], Awaitable[Any]]
) -> None:
    """What a worker would do: wait for the row the command created, then run `work` on it (committed)."""
    sessionmaker = create_sessionmaker(engine)
    for _ in range(200):
        async with sessionmaker() as session:
            row_id = await session.scalar(select(model.id).where(where))
        if row_id is not None:
            async with transaction(sessionmaker) as session:
                await work(session, row_id)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the command created nothing")


async def test_a_missing_key_and_a_problem_are_clear_errors(cli: Cli) -> None:
    missing = await cli("jobs", "list", key=NO_KEY)
    assert missing.exit_code == 2 and "No API key" in missing.stderr and "Traceback" not in missing.output
    unknown = await cli("datasets", "show", "ds_nope")
    assert unknown.exit_code == 1 and unknown.stdout == ""
    assert "Error 404 Not Found" in unknown.stderr and "ds_nope" in unknown.stderr
    invalid = await cli("datasets", "create", "--project", "proj_x", "--validation-fraction", "2")
    assert invalid.exit_code == 1 and "Error 422" in invalid.stderr
    assert "#/validation/fraction" in invalid.stderr  # each field error with its pointer
    wrong_key = await cli("jobs", "list", key="atn_wrong")
    assert wrong_key.exit_code == 1 and "Error 401" in wrong_key.stderr


async def test_import_uploads_waits_and_prints_the_report(
    cli: Cli, org: OrgWithKey, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    async with transaction(create_sessionmaker(engine)) as session:
        memory = await create_translation_memory(session, org.id)
    units = [tmx_unit("a", "One", "Eins"), tmx_unit("b", "Two", "Zwei"), tmx_unit("a", "One", "EINS")]
    path = tmp_path / "memory.tmx"
    path.write_bytes(tmx_document(units))

    async def run(session: Any, import_id: str) -> None:
        await run_import_now(session, settings, import_id)

    command = asyncio.create_task(cli("import", str(path), "--translation-memory", memory.id))
    await _run_when_created(engine, ImportJob, ImportJob.translation_memory_id == memory.id, run)
    result = await command
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout and "memory.tmx" in result.stdout
    report_row = next(line for line in result.stdout.splitlines() if line.count("│") >= 6 and "3" in line)
    assert [cell.strip() for cell in report_row.split("│")[1:7]] == ["3", "2", "0", "0", "1", "0"]
    assert "repeated at line" in result.stdout  # the rejected row and its reason

    again = await cli("import", str(path), "--translation-memory", memory.id, "--no-wait", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "queued"
    neither = await cli("import", str(path))
    assert neither.exit_code == 2 and "exactly one of --project or --translation-memory" in neither.stderr
    gone = await cli("import", str(path), "--project", "proj_nope")
    assert gone.exit_code == 1 and "Error 404" in gone.stderr


async def test_datasets_create_waits_for_the_build_and_show_prints_the_report(
    cli: Cli, org: OrgWithKey, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    async with transaction(create_sessionmaker(engine)) as session:
        project = await create_project(session, org.id)
        await add_translations(session, project, [*clean_pairs(30), ("Close", "")])

    async def build(session: Any, dataset_id: str) -> None:
        await build_dataset(session, settings, dataset_id)

    created = asyncio.create_task(
        cli("datasets", "create", "--project", project.id, "--provider", "openai",
            "--model", "gpt-4o-mini-2024-07-18", "--validation-fraction", "0.2", "--seed", "3")
    )  # fmt: skip
    await _run_when_created(engine, Dataset, Dataset.organization_id == org.id, build)
    result = await created
    assert result.exit_code == 0, result.output
    for expected in ("ready", "training", "validation", "empty_target", "Estimate", "gpt-4o-mini", "USD"):
        assert expected in result.stdout, expected
    async with create_sessionmaker(engine)() as session:
        dataset = await session.scalar(select(Dataset).where(Dataset.organization_id == org.id))
    assert dataset is not None and dataset.stats is not None
    shown = await cli("datasets", "show", dataset.id, "--json")
    assert json.loads(shown.stdout)["stats"]["training"]["examples"] == dataset.stats["training"]["examples"]
    estimate = await cli("datasets", "show", dataset.id, "--model", "gpt-4.1-2025-04-14", "--epochs", "2")
    assert estimate.exit_code == 0 and "gpt-4.1" in estimate.stdout and "2 (requested)" in estimate.stdout

    job = await cli("jobs", "create", "--model", "tiny-base", "--dataset", dataset.id, "--json")
    assert job.exit_code == 0, job.output
    assert json.loads(job.stdout)["training_file"] == dataset.training_file_id

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"sources": {"project_ids": [project.id]}, "limits": {"min_examples": 500}}))
    too_small = asyncio.create_task(cli("datasets", "create", "--recipe", str(recipe)))
    await _run_when_created(engine, Dataset, Dataset.id != dataset.id, build)
    failed = await too_small
    assert failed.exit_code == 1 and "failed" in failed.stdout and "at least 500" in failed.stdout


async def test_jobs_create_list_show_start_cancel_and_metrics(
    cli: Cli, org: OrgWithKey, engine: AsyncEngine, settings: Settings
) -> None:
    async with transaction(create_sessionmaker(engine)) as session:
        training = await create_file(session, settings, org.id)
    created = await cli(
        "jobs", "create", "--model", "tiny-base", "--provider", "local", "--training-file", training.id,
        "--epochs", "2", "--seed", "7", "--suffix", "cli", "--metadata", "team=web", "--no-auto-start",
        "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    job = json.loads(created.stdout)
    assert (job["status"], job["metadata"], job["hyperparameters"]["n_epochs"]) == (
        "awaiting_confirmation", {"team": "web"}, 2,
    )  # fmt: skip

    listed = await cli("jobs", "list", "--status", "awaiting_confirmation")
    assert listed.exit_code == 0 and job["id"] in listed.stdout and "tiny-base" in listed.stdout
    shown = await cli("jobs", "show", job["id"])
    assert shown.exit_code == 0 and "awaiting_confirmation" in shown.stdout and training.id in shown.stdout
    started = await cli("jobs", "start", job["id"], "--json")
    assert started.exit_code == 0 and json.loads(started.stdout)["status"] == "validating_files"

    async with transaction(create_sessionmaker(engine)) as session:
        stored = await session.get(FineTuningJob, job["id"])
        assert stored is not None
        rows = [{"step": step, "total_steps": 3, "train_loss": 2.0 / step} for step in (1, 2, 3)]
        await ingest_metrics(session, stored, rows, "metrics")
    metrics = await cli("jobs", "metrics", job["id"])
    assert metrics.exit_code == 0 and "3/3" in metrics.stdout and "0.6667" in metrics.stdout

    cancelled = await cli("jobs", "cancel", job["id"])
    assert cancelled.exit_code == 0 and "cancelling" in cancelled.stdout  # the worker cancels at the provider
    again = await cli("jobs", "start", job["id"])
    assert again.exit_code == 1 and "Error 409" in again.stderr
    nothing = await cli("jobs", "create", "--model", "tiny-base")
    assert nothing.exit_code == 2 and "--dataset or --training-file" in nothing.stderr

"""Jobs on a dataset: by id (ready or still building) or from an inline recipe built first."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.dataset_builder.build import build_dataset
from shared.config import Settings
from shared.datasets.repository import DatasetRepository
from shared.datasets.service import advance_waiting_jobs, stranded_jobs
from shared.models import Dataset, FineTuningJob
from tests.fixtures.datasets import add_translations, clean_pairs, create_dataset
from tests.fixtures.jobs import post_job
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_project


async def test_a_job_on_a_ready_dataset_trains_on_its_files(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(30))
    dataset = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny-base",
        validation={"fraction": 0.2},
    )  # fmt: skip
    assert dataset.status == "ready" and dataset.validation_file_id is not None

    created = await post_job(client, org.headers, dataset_id=dataset.id, auto_start=False)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["status"] == "awaiting_confirmation" and job["dataset_id"] == dataset.id
    assert job["training_file"] == dataset.training_file_id
    assert job["validation_file"] == dataset.validation_file_id


async def test_an_inline_recipe_builds_first_and_the_job_waits_for_it(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(20))

    created = await post_job(
        client, org.headers, dataset={"sources": {"project_ids": [project.id]}}, auto_start=False
    )
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["status"] == "building_dataset" and job["training_file"] is None
    dataset = await db.get(Dataset, job["dataset_id"])
    assert dataset is not None and dataset.recipe["provider"] == "local"
    assert dataset.recipe["model"] == "tiny-base"  # the job's model picks the tokenizer

    await build_dataset(db, settings, dataset.id)
    moved_on = (await client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=org.headers)).json()
    assert moved_on["status"] == "awaiting_confirmation"
    assert moved_on["training_file"] is not None


async def test_a_job_that_joined_as_the_build_committed_is_moved_on_by_the_sweep(
    db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(12))
    dataset = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny"
    )
    late = FineTuningJob(
        organization_id=org.id, provider="local", provider_kind="local", model="tiny", dataset_id=dataset.id,
        hyperparameters={"n_epochs": "auto"}, seed=1, status="building_dataset", transitions=[],
        result_files=[], auto_start=False,
    )  # fmt: skip
    db.add(late)
    await db.flush()

    assert dataset.id in await DatasetRepository(db).finished_with_waiting_jobs(100)
    assert [queued.args for queued in await stranded_jobs(db)] == [(dataset.id,)]
    assert await advance_waiting_jobs(db, settings, dataset.id) == 1
    await db.refresh(late)
    assert late.status == "awaiting_confirmation" and late.training_file_id == dataset.training_file_id
    assert await stranded_jobs(db) == []


async def test_bad_dataset_references_name_the_field(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    other = await create_org(db, "Other")
    project = await create_project(db, org.id)
    foreign_project = await create_project(db, other.id)
    await add_translations(db, project, clean_pairs(3))
    foreign = await create_dataset(db, settings, other.id, build=False, project_ids=[foreign_project.id])
    too_small = await create_dataset(
        db, settings, org.id, project_ids=[project.id], limits={"min_examples": 50}
    )
    assert too_small.status == "failed"
    cases = [
        ({"dataset_id": foreign.id}, "#/dataset_id", 422),
        ({"dataset_id": too_small.id}, "#/dataset_id", 422),
        ({"dataset_id": too_small.id, "training_file": "file_x"}, "#", 422),
        ({"dataset": {"sources": {"project_ids": [foreign_project.id]}}}, "#/sources/project_ids/0", 404),
        ({}, "#", 422),
    ]
    for body, pointer, status in cases:
        response = await post_job(client, org.headers, **body)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert pointer in [error.get("pointer") for error in problem.get("errors", [])] or (
            pointer == "#" and problem["status"] == 422
        ), (body, problem)

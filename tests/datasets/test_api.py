"""`/v1/datasets` end to end in one transaction: recipe in, files, report, rejects, estimate, delete."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dataset_builder.build import build_dataset
from shared.config import Settings
from shared.fine_tuning_jobs.service import JobRequest, create_job
from shared.models import Dataset, Event, FineTuningJob
from tests.fixtures.datasets import add_tm_units, add_translations, at, clean_pairs, create_dataset
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_project, create_prompt, create_translation_memory

DIRTY = [
    ("Open {0}", "Öffnen"),  # placeholder_mismatch
    ("Close", ""),  # empty_target
    ("Email", "Email"),  # target_equals_source
    ("<b>Bold</b> text", "Fetter Text"),  # tag_mismatch
]


async def build(db: AsyncSession, settings: Settings, dataset_id: str) -> Dataset:
    await build_dataset(db, settings, dataset_id)
    dataset = await db.get(Dataset, dataset_id, populate_existing=True)
    assert dataset is not None
    return dataset


async def test_recipe_builds_files_report_and_rejects(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    prompt = await create_prompt(db, org.id)
    await add_translations(
        db, project, [*clean_pairs(40), *DIRTY, ("Save file number 3", "Neuer Text", at(500))]
    )
    recipe = {
        "sources": {"project_ids": [project.id]},
        "prompt_id": prompt.id,
        "provider": "openai",
        "model": "gpt-4o-mini-2024-07-18",
        "validation": {"fraction": 0.2},
        "seed": 11,
    }
    created = await client.post("/v1/datasets", json=recipe, headers=org.headers)
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "building"
    assert created.headers["location"] == f"/v1/datasets/{created.json()['id']}"
    await build(db, settings, created.json()["id"])

    body = (await client.get(f"/v1/datasets/{created.json()['id']}", headers=org.headers)).json()
    assert body["status"] == "ready", body
    stats = body["stats"]
    assert stats["rows_read"] == 45
    assert stats["rejected"] == {
        "empty_target": 1, "placeholder_mismatch": 1, "superseded": 1, "tag_mismatch": 1,
        "target_equals_source": 1,
    }  # fmt: skip
    assert stats["training"]["examples"] + stats["validation"]["examples"] == 40
    assert stats["tokenizer"] == {"name": "o200k_base", "exact": True, "note": None}
    assert body["estimate"]["model"] == "gpt-4o-mini-2024-07-18" and body["estimate"]["cost"] is not None
    assert body["content_hash"] and body["data_cutoff"]

    download = await client.get(f"/v1/files/{body['training_file']}/content", headers=org.headers)
    assert download.status_code == 200
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert len(lines) == stats["training"]["examples"]
    assert lines[0]["messages"][0]["content"] == "You translate software strings from en-US to de-DE."
    assert lines[0]["messages"][1]["content"].startswith("Context: \nTranslate: ")
    assert (
        "Neuer Text"
        in download.text
        + (await client.get(f"/v1/files/{body['validation_file']}/content", headers=org.headers)).text
    )  # the later approval of "Save file number 3" won
    file = (await client.get(f"/v1/files/{body['training_file']}", headers=org.headers)).json()
    assert (
        file["example_count"] == stats["training"]["examples"] and file["bytes"] == stats["training"]["bytes"]
    )

    rejects = await client.get(f"/v1/datasets/{body['id']}/rejects?limit=2", headers=org.headers)
    page = rejects.json()
    assert len(page["data"]) == 2 and page["has_more"]
    rest = (
        await client.get(f"/v1/datasets/{body['id']}/rejects?after={page['last_id']}", headers=org.headers)
    ).json()
    assert len(page["data"]) + len(rest["data"]) == 5
    only = (
        await client.get(
            f"/v1/datasets/{body['id']}/rejects?reason=placeholder_mismatch", headers=org.headers
        )
    ).json()
    assert [(r["reason"], r["source_excerpt"], r["target_excerpt"]) for r in only["data"]] == [
        ("placeholder_mismatch", "Open {0}", "Öffnen")
    ]
    assert only["data"][0]["row_id"].startswith("tr_") and only["data"][0]["source_id"] == project.id
    bad = await client.get(f"/v1/datasets/{body['id']}/rejects?reason=nonsense", headers=org.headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"

    events = (await db.scalars(select(Event).where(Event.subject_id == body["id"]))).all()
    assert [event.type for event in events] == ["dataset.ready"]
    assert events[0].data["training_file"] == body["training_file"]


async def test_same_recipe_same_data_same_hash(db: AsyncSession, settings: Settings) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(30))
    first = await create_dataset(db, settings, org.id, project_ids=[project.id], validation={"fraction": 0.3})
    second = await create_dataset(
        db, settings, org.id, project_ids=[project.id], validation={"fraction": 0.3}
    )
    assert first.status == second.status == "ready"
    assert first.content_hash == second.content_hash
    assert first.training_file_id != second.training_file_id


async def test_too_few_examples_fail_with_a_problem_that_counts_each_filter(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, [*clean_pairs(3), *DIRTY])
    dataset = await create_dataset(db, settings, org.id, project_ids=[project.id], limits={"min_examples": 5})
    body = (await client.get(f"/v1/datasets/{dataset.id}", headers=org.headers)).json()
    assert body["status"] == "failed" and body["training_file"] is None
    error = body["error"]
    assert error["code"] == "dataset_too_small" and error["status"] == 422
    # The provider's own minimum (10 for OpenAI) wins over a smaller recipe minimum.
    assert error["min_examples"] == 10 and error["training_examples"] == 3
    assert error["rejected"] == {
        "empty_target": 1,
        "placeholder_mismatch": 1,
        "tag_mismatch": 1,
        "target_equals_source": 1,
    }
    assert "placeholder_mismatch: 1" in error["detail"]
    rejects = (await client.get(f"/v1/datasets/{dataset.id}/rejects", headers=org.headers)).json()
    assert len(rejects["data"]) == 4
    events = (await db.scalars(select(Event.type).where(Event.subject_id == dataset.id))).all()
    assert list(events) == ["dataset.failed"]


async def test_a_recipe_with_no_rows_fails(db: AsyncSession, settings: Settings) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    dataset = await create_dataset(db, settings, org.id, project_ids=[project.id])
    assert dataset.status == "failed" and dataset.error is not None
    assert (
        "0 training example(s)" in dataset.error["detail"] and "0 row(s) matched" in dataset.error["detail"]
    )


async def test_another_organizations_sources_are_not_found(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    org, other = await create_org(db), await create_org(db, "Other")
    theirs = await create_project(db, other.id)
    their_tm = await create_translation_memory(db, other.id)
    for sources in ({"project_ids": [theirs.id]}, {"translation_memory_ids": [their_tm.id]}):
        response = await client.post("/v1/datasets", json={"sources": sources}, headers=org.headers)
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["pointer"].startswith("#/sources/")
    mine = await create_project(db, org.id)
    their_prompt = await create_prompt(db, other.id)
    response = await client.post(
        "/v1/datasets",
        json={"sources": {"project_ids": [mine.id]}, "prompt_id": their_prompt.id},
        headers=org.headers,
    )
    assert response.status_code == 404
    dataset = (
        await client.post("/v1/datasets", json={"sources": {"project_ids": [mine.id]}}, headers=org.headers)
    ).json()
    assert (await client.get(f"/v1/datasets/{dataset['id']}", headers=other.headers)).status_code == 404
    assert (
        await client.get(f"/v1/datasets/{dataset['id']}/rejects", headers=other.headers)
    ).status_code == 404


async def test_bad_recipes_are_422_naming_the_field(client: httpx.AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    cases = [
        ({"sources": {}}, "#/sources"),
        ({"sources": {"project_ids": ["p"]}, "validation": {"fraction": 1.5}}, "#/validation/fraction"),
        ({"sources": {"project_ids": ["p"], "language_pairs": [{"source": "??", "target": "de"}]}},
         "#/sources/language_pairs/0/source"),
        ({"sources": {"project_ids": ["p"]}, "limits": {"min_examples": 50, "max_examples": 10}}, "#/limits"),
        ({"sources": {"project_ids": ["p"]}, "provider": "no-such-provider"}, "#/provider"),
    ]  # fmt: skip
    for body, pointer in cases:
        project = await create_project(db, org.id)
        body["sources"] = {**body["sources"], "project_ids": [project.id]} if body["sources"] else {}
        response = await client.post("/v1/datasets", json=body, headers=org.headers)
        assert response.status_code == 422, (body, response.text)
        assert any(error["pointer"].startswith(pointer) for error in response.json()["errors"]), (
            response.json()
        )


async def test_dataset_used_by_a_job_cannot_be_deleted(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(20))
    dataset = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny"
    )
    assert dataset.status == "ready", dataset.error
    job = await create_job(
        db,
        settings,
        org.id,
        JobRequest(provider="local", model="tiny", training_file=dataset.training_file_id),
    )
    refused = await client.delete(f"/v1/datasets/{dataset.id}", headers=org.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "dataset_in_use"
    assert job.id in refused.json()["detail"]

    other = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny"
    )
    db.add(
        FineTuningJob(
            organization_id=org.id, provider="local", provider_kind="local", model="tiny",
            dataset_id=other.id,
            hyperparameters={}, seed=1, status="building_dataset", transitions=[], result_files=[],
        )
    )  # fmt: skip
    await db.flush()
    assert (await client.delete(f"/v1/datasets/{other.id}", headers=org.headers)).status_code == 409


async def test_delete_removes_dataset_files_and_rejects(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, [*clean_pairs(20), ("Close", "")])
    dataset = await create_dataset(db, settings, org.id, project_ids=[project.id])
    deleted = await client.delete(f"/v1/datasets/{dataset.id}", headers=org.headers)
    assert deleted.status_code == 200, deleted.text
    assert (await client.get(f"/v1/datasets/{dataset.id}", headers=org.headers)).status_code == 404
    assert (await client.get(f"/v1/files/{dataset.training_file_id}", headers=org.headers)).status_code == 404
    types = (await db.scalars(select(Event.type).where(Event.subject_id == dataset.id))).all()
    assert list(types) == ["dataset.ready", "dataset.deleted"]


async def test_since_job_reads_only_rows_approved_after_the_jobs_dataset(
    db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(12))
    first = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny"
    )
    job = await create_job(
        db, settings, org.id, JobRequest(provider="local", model="tiny", training_file=first.training_file_id)
    )
    job.dataset_id = first.id
    later = [(s, t, at(10_000 + i)) for i, (s, t) in enumerate(clean_pairs(11, start=100))]
    await add_translations(db, project, later, key_prefix="later")
    second = await create_dataset(
        db, settings, org.id, project_ids=[project.id], provider="local", model="tiny", since_job=job.id
    )
    assert second.status == "ready", second.error
    assert second.stats is not None and second.stats["rows_read"] == 11
    assert second.approved_since == first.data_cutoff


async def test_estimate_for_another_provider_and_epochs(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(20))
    dataset = await create_dataset(db, settings, org.id, project_ids=[project.id])
    tokens = dataset.stats["training"]["tokens"] if dataset.stats else 0
    estimate = (
        await client.get(
            f"/v1/datasets/{dataset.id}/estimate?provider=openai&model=gpt-4.1-2025-04-14&n_epochs=2",
            headers=org.headers,
        )
    ).json()
    assert estimate["trained_tokens"] == tokens * 2 and estimate["n_epochs_source"] == "requested"
    assert float(estimate["cost"]) == round(tokens * 2 * 25 / 1_000_000, 4)
    local = (
        await client.get(f"/v1/datasets/{dataset.id}/estimate?provider=local&model=tiny", headers=org.headers)
    ).json()
    assert (
        local["cost"] == "0" and local["duration_seconds"] > 0 and local["n_epochs"] == 5
    )  # 20 examples: auto 5


async def test_tm_units_language_pairs_and_validation_sources(db: AsyncSession, settings: Settings) -> None:
    org = await create_org(db)
    memory = await create_translation_memory(db, org.id)
    await add_tm_units(db, memory, clean_pairs(15))  # no dates: approved, but outside any date window
    await add_tm_units(db, memory, clean_pairs(5, start=50), target_language="fr-FR")
    project = await create_project(db, org.id)
    await add_translations(db, project, [(s, t, at(100_000)) for s, t in clean_pairs(12, start=200)])
    dataset = await create_dataset(
        db, settings, org.id,
        sources={"translation_memory_ids": [memory.id], "language_pairs": [{"source": "en", "target": "de"}]},
        validation={"sources": {"project_ids": [project.id], "approved_after": "2026-01-02T00:00:00Z"}},
    )  # fmt: skip
    assert dataset.status == "ready", dataset.error
    assert dataset.stats is not None
    assert dataset.stats["training"]["examples"] == 15 and dataset.stats["validation"]["examples"] == 12
    assert dataset.stats["language_pairs"] == {"en-US>de-DE": {"training": 15, "validation": 12}}


async def test_jobs_waiting_for_the_dataset_move_on_or_fail_with_it(
    db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(12))
    jobs = []
    for rows_wanted in (10, 500):  # the second recipe cannot reach its minimum
        dataset = await create_dataset(
            db, settings, org.id, build=False, project_ids=[project.id], provider="local", model="tiny",
            limits={"min_examples": rows_wanted},
        )  # fmt: skip
        job = FineTuningJob(
            organization_id=org.id, provider="local", provider_kind="local", model="tiny",
            dataset_id=dataset.id,
            hyperparameters={"n_epochs": "auto"}, seed=1, status="building_dataset", transitions=[],
            result_files=[],
        )  # fmt: skip
        db.add(job)
        await db.flush()
        await build(db, settings, dataset.id)
        await db.refresh(job)
        jobs.append(job)
    ready, failed = jobs
    assert ready.status == "validating_files" and ready.training_file_id is not None
    assert failed.status == "failed" and failed.error_code == "dataset_too_small"


async def test_deleting_a_project_a_dataset_used_keeps_the_datasets_files(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await add_translations(db, project, clean_pairs(12))
    dataset = await create_dataset(db, settings, org.id, project_ids=[project.id])
    before = await client.get(f"/v1/files/{dataset.training_file_id}/content", headers=org.headers)
    assert before.status_code == 200 and before.text

    assert (await client.delete(f"/v1/projects/{project.id}", headers=org.headers)).status_code == 200
    shown = (await client.get(f"/v1/datasets/{dataset.id}", headers=org.headers)).json()
    assert shown["status"] == "ready" and shown["training_file"] == dataset.training_file_id
    after = await client.get(f"/v1/files/{dataset.training_file_id}/content", headers=org.headers)
    assert after.status_code == 200 and after.text == before.text

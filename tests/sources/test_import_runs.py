"""Imports end to end in one process: upload (202), the worker's function, the report, the stored rows."""

from __future__ import annotations

import json
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import Event, TmUnit, Translation, TranslationMemory
from tests.fixtures.organizations import OrgWithKey, create_org
from tests.fixtures.sources import (
    create_project,
    create_translation_memory,
    run_import_now,
    simple_tmx,
    tmx_document,
    tmx_unit,
    xliff12,
)


async def upload(
    client: AsyncClient, org: OrgWithKey, url: str, content: bytes, name: str = "memory.tmx", **params: Any
) -> Response:
    return await client.post(
        url, files={"file": (name, content, "application/octet-stream")}, params=params, headers=org.headers
    )


async def count_units(db: AsyncSession, translation_memory_id: str) -> int:
    statement = (
        select(func.count()).select_from(TmUnit).where(TmUnit.translation_memory_id == translation_memory_id)
    )
    return int(await db.scalar(statement) or 0)


async def test_tmx_import_reports_and_stores_units(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    content = tmx_document(
        [
            tmx_unit(
                "greeting",
                'Hello <ph x="1">{name}</ph>',
                'Hallo <ph x="1">{name}</ph>',
                props={"x-domain": "ui"},
            ),
            tmx_unit("bye", "Goodbye", "Tschüss", target_language="de_de", note="farewell"),
            '<tu tuid="orphan"><tuv xml:lang="en-US"><seg>Only source</seg></tuv></tu>\n',
        ]
    )
    response = await upload(client, org, f"/v1/translation_memories/{tm.id}/import", content)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and created["format"] == "tmx" and created["report"] is None
    assert created["bytes"] == len(content) and created["file_name"] == "memory.tmx"

    job = await run_import_now(db, settings, created["id"])
    assert job.status == "succeeded", job.error
    fetched = (await client.get(f"/v1/imports/{created['id']}", headers=org.headers)).json()
    report = fetched["report"]
    assert fetched["status"] == "succeeded"
    assert (report["inserted"], report["updated"], report["unchanged"], report["rejected"]) == (2, 0, 0, 1)
    assert report["rejections"] == [
        {"line": 13, "unit": "orphan", "reason": "the unit has no target segment"}
    ]

    units = (await client.get(f"/v1/translation_memories/{tm.id}/units", headers=org.headers)).json()["data"]
    by_tuid = {unit["tuid"]: unit for unit in units}
    assert (
        by_tuid["greeting"]["source_text"] == "Hello ⟦p1⟧"
        and by_tuid["greeting"]["target_text"] == "Hallo ⟦p1⟧"
    )
    assert by_tuid["greeting"]["markup"] == {"source": {"⟦p1⟧": "{name}"}, "target": {"⟦p1⟧": "{name}"}}
    assert by_tuid["greeting"]["properties"] == {"x-domain": "ui", "creationid": "alice"}
    assert by_tuid["bye"]["target_language"] == "de-DE" and by_tuid["bye"]["context"] == "farewell"
    assert by_tuid["bye"]["change_date"] == "2024-01-31T09:30:00Z"
    tm_after = (await client.get(f"/v1/translation_memories/{tm.id}", headers=org.headers)).json()
    assert tm_after["languages"] == ["de-DE", "en-US"] and tm_after["unit_count"] == 2
    events = (await db.scalars(select(Event.type).where(Event.subject_id == created["id"]))).all()
    assert list(events) == ["import.succeeded"]


async def test_reimport_is_unchanged_and_changes_are_updates(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    url = f"/v1/translation_memories/{tm.id}/import"
    first = await upload(client, org, url, simple_tmx(50))
    assert (await run_import_now(db, settings, first.json()["id"])).report["inserted"] == 50  # type: ignore[index]
    again = await upload(client, org, url, simple_tmx(50))
    report = (await run_import_now(db, settings, again.json()["id"])).report
    assert report is not None and (report["inserted"], report["updated"], report["unchanged"]) == (0, 0, 50)
    changed = await upload(client, org, url, simple_tmx(60, target="Servus"))
    report = (await run_import_now(db, settings, changed.json()["id"])).report
    assert report is not None and (report["inserted"], report["updated"], report["unchanged"]) == (10, 50, 0)
    assert await count_units(db, tm.id) == 60


async def test_a_retried_import_does_not_count_twice(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    created = (await upload(client, org, f"/v1/translation_memories/{tm.id}/import", simple_tmx(20))).json()
    first = await run_import_now(db, settings, created["id"])
    report = dict(first.report or {})
    second = await run_import_now(db, settings, created["id"])
    assert second.report == report and second.attempts == 1
    assert await count_units(db, tm.id) == 20


async def test_repeated_units_in_one_file_last_one_wins(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    content = tmx_document(
        [tmx_unit("a", "One", "Eins"), tmx_unit("b", "Two", "Zwei"), tmx_unit("a", "One", "EINS")]
    )
    created = (await upload(client, org, f"/v1/translation_memories/{tm.id}/import", content)).json()
    job = await run_import_now(db, settings, created["id"])
    assert job.report is not None and (job.report["inserted"], job.report["rejected"]) == (2, 1)
    assert job.report["rejections"][0]["reason"].startswith("repeated at line")
    stored = await db.scalar(
        select(TmUnit.target_text).where(TmUnit.translation_memory_id == tm.id, TmUnit.unit_key == "a")
    )
    assert stored == "EINS"


async def test_a_truncated_file_fails_as_a_whole_and_changes_nothing(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    url = f"/v1/translation_memories/{tm.id}/import"
    seeded = (await upload(client, org, url, simple_tmx(5))).json()
    await run_import_now(db, settings, seeded["id"])
    before = (await db.scalars(select(TmUnit.target_text).where(TmUnit.translation_memory_id == tm.id))).all()

    whole = simple_tmx(3000, target="Anders")
    truncated = whole[: len(whole) - 200]  # well past the upload's sniffed head: found by the worker
    created = await upload(client, org, url, truncated)
    assert created.status_code == 202
    job = await run_import_now(db, settings, created.json()["id"])
    assert job.status == "failed" and job.report is None
    assert job.error is not None and job.error["code"] == "invalid_import_file" and job.error["line"] > 3000
    assert "not well-formed" in job.error["detail"] or "no element" in job.error["detail"]
    after = (await db.scalars(select(TmUnit.target_text).where(TmUnit.translation_memory_id == tm.id))).all()
    assert sorted(after) == sorted(before)
    refreshed = await db.get(TranslationMemory, tm.id, populate_existing=True)
    assert refreshed is not None and refreshed.unit_count == 5
    problem = (await client.get(f"/v1/imports/{job.id}", headers=org.headers)).json()["error"]
    assert problem["line"] == job.error["line"] and problem["column"] >= 1


async def test_xliff_into_a_project(db: AsyncSession, client: AsyncClient, settings: Settings) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    content = xliff12(
        [
            ("home.title", "Home", "Startseite", {"approved": "yes"}),
            ("home.draft", "Draft", "Entwurf", {}),
            ("home.cta", "Buy", "Kaufen", {"resname": "cta.buy", "approved": "yes"}),
        ]
    )
    url = f"/v1/projects/{project.id}/translations/import"
    created = await upload(client, org, url, content, name="app.xlf")
    assert created.status_code == 202 and created.json()["format"] == "xliff"
    job = await run_import_now(db, settings, created.json()["id"])
    assert job.report is not None and (job.report["inserted"], job.report["skipped"]) == (2, 1)
    keys = (await db.scalars(select(Translation.key).where(Translation.project_id == project.id))).all()
    assert sorted(keys) == ["cta.buy", "home.title"]
    everything = await upload(client, org, url, content, name="app.xlf", include_unapproved="true")
    job = await run_import_now(db, settings, everything.json()["id"])
    assert job.report is not None and (job.report["inserted"], job.report["unchanged"]) == (1, 2)


async def test_project_rows_must_match_its_languages(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id, target_languages=["fr-FR"])
    row = {"source_text": "Hi", "source_language": "en_US"}
    lines = [
        json.dumps({**row, "key": "a", "target_text": "Salut", "target_language": "FR-fr"}),
        json.dumps({**row, "key": "b", "target_text": "Hallo", "target_language": "de-DE"}),
    ]
    created = await upload(
        client,
        org,
        f"/v1/projects/{project.id}/translations/import",
        "\n".join(lines).encode(),
        name="rows.jsonl",
    )
    job = await run_import_now(db, settings, created.json()["id"])
    assert job.report is not None and (job.report["inserted"], job.report["rejected"]) == (1, 1)
    assert job.report["rejections"] == [
        {"line": 2, "unit": "b", "reason": "de-DE is not one of the project's target languages (fr-FR)"}
    ]


async def test_a_few_thousand_realistic_units(
    db: AsyncSession, client: AsyncClient, settings: Settings
) -> None:
    from tests.fixtures.sources import TMX_FOOTER, TMX_HEADER, realistic_tmx_units

    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    content = (TMX_HEADER.format(srclang="en-US") + "".join(realistic_tmx_units(4000)) + TMX_FOOTER).encode()
    created = await upload(client, org, f"/v1/translation_memories/{tm.id}/import", content)
    job = await run_import_now(db, settings, created.json()["id"])
    assert job.report is not None and (job.report["inserted"], job.report["rejected"]) == (4000, 0)
    with_markup = await db.scalar(
        select(func.count())
        .select_from(TmUnit)
        .where(TmUnit.translation_memory_id == tm.id, TmUnit.markup.is_not(None))
    )
    assert with_markup == 400


async def test_lost_and_crashing_imports(db: AsyncSession, client: AsyncClient, settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from shared.imports.service import MAX_ATTEMPTS, due_imports
    from shared.models import ImportJob

    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    lost = (await upload(client, org, f"/v1/translation_memories/{tm.id}/import", simple_tmx(2))).json()["id"]
    crashing = (await upload(client, org, f"/v1/translation_memories/{tm.id}/import", simple_tmx(2))).json()[
        "id"
    ]
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    await db.execute(update(ImportJob).where(ImportJob.id == lost).values(updated_at=long_ago))
    await db.execute(
        update(ImportJob).where(ImportJob.id == crashing).values(status="running", attempts=MAX_ATTEMPTS)
    )
    due = await due_imports(db)
    assert [(job.task, job.args, job.job_id) for job in due if job.args == (lost,)] == [
        ("import.run", (lost,), f"import:{lost}")
    ]
    job = await run_import_now(db, settings, crashing)
    assert job.status == "failed" and job.error is not None and job.error["code"] == "import_crashed"
    assert await count_units(db, tm.id) == 0

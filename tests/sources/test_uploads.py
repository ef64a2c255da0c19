"""Upload endpoints: streamed to storage, refused at once when plainly wrong, 413 while streaming."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import ImportJob
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import (
    create_project,
    create_translation_memory,
    simple_tmx,
    tmx_document,
    tmx_unit,
)
from tests.sources.test_import_runs import upload


async def imports_of(db: AsyncSession, organization_id: str) -> int:
    statement = (
        select(func.count()).select_from(ImportJob).where(ImportJob.organization_id == organization_id)
    )
    return int(await db.scalar(statement) or 0)


def stored_files(settings: Settings, organization_id: str) -> list[Path]:
    folder = settings.storage.root / "imports" / organization_id
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_an_upload_is_stored_and_queued(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    content = simple_tmx(3)
    response = await client.post(
        f"/v1/translation_memories/{tm.id}/import",
        files={"file": ("legacy.data", content, "application/octet-stream")},
        data={"format": "tmx", "source_language": "en-US"},
        headers={**org.headers, "Idempotency-Key": "upload-1"},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["format"], body["options"], body["status"]) == (
        "tmx",
        {"source_language": "en-US"},
        "queued",
    )
    assert [path.read_bytes() for path in stored_files(settings, org.id)] == [content]
    listed = (
        await client.get("/v1/imports", params={"translation_memory_id": tm.id}, headers=org.headers)
    ).json()
    assert [item["id"] for item in listed["data"]] == [body["id"]]
    other = await create_org(db, "Globex")
    assert (await client.get(f"/v1/imports/{body['id']}", headers=other.headers)).status_code == 404
    replay = await client.post(
        f"/v1/translation_memories/{tm.id}/import",
        files={"file": ("legacy.data", content, "application/octet-stream")},
        data={"format": "tmx", "source_language": "en-US"},
        headers={**org.headers, "Idempotency-Key": "upload-1"},
    )
    assert replay.json()["id"] == body["id"] and await imports_of(db, org.id) == 1


async def test_plainly_wrong_files_get_a_problem_and_store_nothing(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    project = await create_project(db, org.id)
    tm_url = f"/v1/translation_memories/{tm.id}/import"
    cases = [
        (tm_url, b"", "memory.tmx", "the file is empty"),
        (tm_url, b'<?xml version="1.0"?>\n<xliff version="1.2"></xliff>', "memory.tmx", "not <tmx>"),
        (
            tm_url,
            b'<!DOCTYPE tmx [<!ENTITY e SYSTEM "file:///etc/passwd">]><tmx>&e;</tmx>',
            "m.tmx",
            "internal subset",
        ),
        (tm_url, "<tmx>".encode("utf-32"), "memory.tmx", "well-formed"),
        (
            f"/v1/projects/{project.id}/translations/import",
            b"key,source\n\xc3\x28,x\n",
            "rows.csv",
            "not UTF-8",
        ),
    ]
    for url, content, name, message in cases:
        response = await upload(client, org, url, content, name=name)
        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        assert problem["code"] == "invalid_import_file" and message in problem["detail"], problem
        assert problem["errors"][0]["pointer"] == "#/file" and "line" in problem
    assert await imports_of(db, org.id) == 0 and stored_files(settings, org.id) == []


async def test_uploads_must_be_multipart_with_a_file(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    url = f"/v1/translation_memories/{tm.id}/import"
    raw = await client.post(
        url, content=simple_tmx(1), headers={**org.headers, "content-type": "application/xml"}
    )
    assert raw.status_code == 415 and raw.json()["code"] == "unsupported_media_type"
    no_file = await client.post(
        url, data={"format": "tmx"}, files={"other": ("x", b"1")}, headers=org.headers
    )
    assert no_file.status_code == 422 and no_file.json()["errors"][0]["pointer"] == "#/file"
    bad_option = await upload(client, org, url, simple_tmx(1), format="docx")
    assert bad_option.status_code == 422 and bad_option.json()["errors"][0]["pointer"] == "query/format"
    missing = await upload(client, org, "/v1/translation_memories/tm_nope/import", simple_tmx(1))
    assert missing.status_code == 404


async def test_a_declared_oversized_body_is_refused_before_reading(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    response = await client.post(
        f"/v1/translation_memories/{tm.id}/import",
        content=b"x",
        headers={
            **org.headers,
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(settings.storage.max_upload_bytes * 4),
        },
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


async def test_a_2gb_stream_gets_413_while_streaming_with_flat_memory(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    tm = await create_translation_memory(db, org.id)
    block = b"<!-- filler -->" * 65536  # ~1 MB, reused: the test itself holds one block
    total = 2 * 1024**3
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="huge.tmx"\r\n\r\n'
        while sent < total:
            sent += len(block)
            yield block
        yield b"\r\n--b--\r\n"

    tracemalloc.start()
    try:
        response = await client.post(
            f"/v1/translation_memories/{tm.id}/import",
            content=body(),
            headers={**org.headers, "content-type": "multipart/form-data; boundary=b"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    limit = settings.storage.max_upload_bytes
    assert limit < sent <= limit + 4 * len(block), "stopped reading soon after the limit"
    assert peak < 64 * 1024**2, f"peak traced memory {peak / 1024**2:.1f} MiB"
    assert stored_files(settings, org.id) == [] and await imports_of(db, org.id) == 0
    partial = settings.storage.root / ".partial"
    assert not partial.exists() or list(partial.iterdir()) == []


async def test_translation_memories_crud_and_units_listing(
    client: AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    from tests.fixtures.sources import run_import_now

    org = await create_org(db)
    created = await client.post("/v1/translation_memories", json={"name": "Legal"}, headers=org.headers)
    assert created.status_code == 201
    tm = created.json()
    assert (tm["languages"], tm["unit_count"]) == ([], 0)
    units = [
        tmx_unit("a", "Contract", "Vertrag", changedate="20240105T000000Z"),
        tmx_unit("b", "Clause", "Klausel", changedate=None, creationdate="20230105T000000Z"),
        tmx_unit("c", "Party", "Partie", target_language="fr-FR", changedate="20240301T000000Z"),
    ]
    response = await upload(client, org, f"/v1/translation_memories/{tm['id']}/import", tmx_document(units))
    await run_import_now(db, settings, response.json()["id"])
    url = f"/v1/translation_memories/{tm['id']}/units"
    german = (await client.get(url, params={"target_language": "de_de"}, headers=org.headers)).json()["data"]
    assert sorted(unit["tuid"] for unit in german) == ["a", "b"]
    recent = await client.get(url, params={"approved_after": "2024-01-01T00:00:00Z"}, headers=org.headers)
    assert sorted(unit["tuid"] for unit in recent.json()["data"]) == ["a", "c"]
    by_tuid = await client.get(url, params={"tuid": "b", "limit": 1}, headers=org.headers)
    assert by_tuid.json()["data"][0]["creation_date"] == "2023-01-05T00:00:00Z"
    renamed = await client.patch(
        f"/v1/translation_memories/{tm['id']}", json={"name": "Legal EU"}, headers=org.headers
    )
    assert renamed.json()["name"] == "Legal EU" and renamed.json()["languages"] == ["de-DE", "en-US", "fr-FR"]
    assert (
        await client.delete(f"/v1/translation_memories/{tm['id']}", headers=org.headers)
    ).status_code == 200
    assert (await client.get(url, headers=org.headers)).status_code == 404

"""`/v1/files`: streamed upload with line checks and a size limit; list, retrieve, download; org scoping."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.models import File
from tests.fixtures.jobs import chat_lines, jsonl
from tests.fixtures.organizations import create_org


async def post_file(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, purpose: str = "fine-tune"
) -> httpx.Response:
    return await client.post(
        "/v1/files",
        headers=headers,
        files={"file": ("data/train.jsonl", content, "application/jsonl")},
        data={"purpose": purpose},
    )


def partial_uploads(settings: Settings) -> list[str]:
    partial = settings.storage.root / ".partial"
    return [p.name for p in partial.iterdir()] if partial.exists() else []


async def test_upload_list_retrieve_download(client: httpx.AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    content = jsonl(chat_lines(12))
    created = await post_file(client, org.headers, content)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["object"] == "file" and body["filename"] == "train.jsonl" and body["bytes"] == len(content)
    assert body["example_count"] == 12 and body["status"] == "processed" and body["warnings"] == []

    listed = (await client.get("/v1/files?purpose=fine-tune", headers=org.headers)).json()
    assert [f["id"] for f in listed["data"]] == [body["id"]]
    assert (await client.get(f"/v1/files/{body['id']}", headers=org.headers)).json() == body
    download = await client.get(f"/v1/files/{body['id']}/content", headers=org.headers)
    assert download.status_code == 200 and download.content == content

    other = await create_org(db, "Other")
    assert (await client.get(f"/v1/files/{body['id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"/v1/files/{body['id']}/content", headers=other.headers)).status_code == 404
    assert (await client.get("/v1/files", headers=other.headers)).json()["data"] == []


async def test_bad_lines_are_reported_by_number_and_nothing_is_kept(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    lines = chat_lines(12)
    lines[3] = '{"messages": [{"role": "user", "content": "hi"}]}'
    lines[7] = "not json"
    before = partial_uploads(settings)
    response = await post_file(client, org.headers, jsonl(lines))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_training_file" and problem["error_count"] == 2
    assert [(e["line"], e["pointer"]) for e in problem["errors"]] == [(4, "#/file"), (8, "#/file")]
    assert "no assistant message" in problem["errors"][0]["detail"]
    assert "line 4" in problem["detail"]
    assert await db.scalar(select(func.count()).select_from(File).where(File.organization_id == org.id)) == 0
    assert partial_uploads(settings) == before


async def test_size_limit_purpose_and_media_type(
    app: FastAPI, client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    small = settings.storage.model_copy(update={"max_upload_bytes": 2000})
    app.state.settings = settings.model_copy(update={"storage": small})
    try:
        too_big = await post_file(client, org.headers, jsonl(chat_lines(40)))
        assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"

        async def chunked() -> object:  # no Content-Length: the limit is enforced while streaming
            body = jsonl(chat_lines(40))
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        boundary = "xyz"
        disposition = 'Content-Disposition: form-data; name="file"; filename="t.jsonl"'
        head = f"--{boundary}\r\n{disposition}\r\n\r\n".encode()

        async def multipart() -> object:
            yield head
            async for piece in chunked():  # type: ignore[attr-defined]
                yield piece
            yield f"\r\n--{boundary}--\r\n".encode()

        streamed = await client.post(
            "/v1/files",
            headers=org.headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=multipart(),  # type: ignore[arg-type]
        )
        assert streamed.status_code == 413
    finally:
        app.state.settings = settings
    wrong_purpose = await post_file(client, org.headers, jsonl(chat_lines(2)), purpose="batch")
    assert wrong_purpose.status_code == 422 and wrong_purpose.json()["errors"][0]["pointer"] == "#/purpose"
    not_multipart = await client.post("/v1/files", headers=org.headers, json={"file": "x"})
    assert not_multipart.status_code == 415
    no_file = await client.post("/v1/files", headers=org.headers, files={"purpose": (None, "fine-tune")})
    assert no_file.status_code == 400 and no_file.json()["errors"][0]["pointer"] == "#/file"
    assert await db.scalar(select(func.count()).select_from(File).where(File.organization_id == org.id)) == 0

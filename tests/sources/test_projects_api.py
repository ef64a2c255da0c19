"""Projects and the batch upsert / listing of approved translations."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Translation
from shared.projects.repository import TranslationFilters
from shared.projects.translations import stream_translations
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_project


def row(key: str, target: str = "Hallo", **overrides: Any) -> dict[str, Any]:
    values = {"key": key, "source_text": "Hello", "target_text": target, "source_language": "en_us",
              "target_language": "DE-de"}  # fmt: skip
    return {**values, **overrides}


async def test_project_crud_normalises_languages_and_isolates_orgs(
    client: AsyncClient, db: AsyncSession
) -> None:
    org, other = await create_org(db, "Acme"), await create_org(db, "Globex")
    created = await client.post(
        "/v1/projects",
        json={"name": "Web", "source_language": "EN_us", "target_languages": ["de_de", "fr-fr"]},
        headers=org.headers,
    )
    assert created.status_code == 201
    project = created.json()
    assert (project["source_language"], project["target_languages"]) == ("en-US", ["de-DE", "fr-FR"])
    assert (await client.get(f"/v1/projects/{project['id']}", headers=other.headers)).status_code == 404
    assert (await client.get("/v1/projects", headers=other.headers)).json()["data"] == []
    patched = await client.patch(
        f"/v1/projects/{project['id']}", json={"target_languages": ["de-DE", "es-419"]}, headers=org.headers
    )
    assert patched.json()["target_languages"] == ["de-DE", "es-419"]
    bad = await client.post(
        "/v1/projects", json={"name": "x", "source_language": "english", "target_languages": ["de", "DE"]},
        headers=org.headers,
    )  # fmt: skip
    assert bad.status_code == 422
    assert {error["pointer"] for error in bad.json()["errors"]} == {"#/source_language", "#/target_languages"}


async def test_deleting_a_project_keeps_its_translations(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    await client.post(
        f"/v1/projects/{project.id}/translations", json={"translations": [row("a")]}, headers=org.headers
    )
    deleted = await client.delete(f"/v1/projects/{project.id}", headers=org.headers)
    assert deleted.status_code == 200
    assert (await client.get(f"/v1/projects/{project.id}", headers=org.headers)).status_code == 404
    assert (
        await client.get(f"/v1/projects/{project.id}/translations", headers=org.headers)
    ).status_code == 404
    kept = [pair async for batch in stream_translations(db, project.id) for pair in batch]
    assert [(pair.key, pair.target_text) for pair in kept] == [("a", "Hallo")]


async def test_batch_upsert_counts_and_is_idempotent(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    url = f"/v1/projects/{project.id}/translations"
    first = await client.post(url, json={"translations": [row("a"), row("b")]}, headers=org.headers)
    assert first.status_code == 200
    assert {k: first.json()[k] for k in ("inserted", "updated", "unchanged", "rejected")} == {
        "inserted": 2, "updated": 0, "unchanged": 0, "rejected": 0
    }  # fmt: skip
    again = await client.post(
        url,
        json={"translations": [row("a"), row("b", "Servus"), row("c", target_language="fr_fr")]},
        headers=org.headers,
    )
    body = again.json()
    assert (body["inserted"], body["updated"], body["unchanged"], body["rejected"]) == (1, 1, 1, 0)
    count = await db.scalar(
        select(func.count()).select_from(Translation).where(Translation.project_id == project.id)
    )
    assert count == 3


async def test_invalid_rows_are_reported_by_index_and_field(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    rows = [
        row("ok"),
        row("nul", "Hal\u0000lo"),
        {"key": "missing"},
        row("lang", target_language="ja-JP"),
        "not an object",
        row("dup", "first"),
        row("dup", "second"),
        row("tag", source_language="english"),
    ]
    response = await client.post(
        f"/v1/projects/{project.id}/translations", json={"translations": rows}, headers=org.headers
    )
    assert response.status_code == 200
    body = response.json()
    errors = {(error["index"], error["field"]) for error in body["errors"]}
    assert (1, "target_text") in errors and (2, "source_text") in errors and (3, "target_language") in errors
    assert (4, "/") in errors and (5, "key") in errors and (7, "source_language") in errors
    assert {"index": 1, "field": "target_text", "pointer": "#/translations/1/target_text"}.items() <= next(
        error for error in body["errors"] if error["index"] == 1
    ).items()
    assert "NUL" in next(error["detail"] for error in body["errors"] if error["index"] == 1)
    assert (body["inserted"], body["rejected"]) == (2, 6)
    stored = await db.scalar(select(Translation.target_text).where(Translation.key == "dup"))
    assert stored == "second"


async def test_a_batch_over_10000_rows_is_refused(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    response = await client.post(
        f"/v1/projects/{project.id}/translations",
        json={"translations": [row(f"k{i}") for i in range(10_001)]},
        headers=org.headers,
    )
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "#/translations"


async def test_listing_filters_and_cursor_pagination(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    project = await create_project(db, org.id)
    rows = [row(f"k{i}", f"Hallo {i}", approved_at=f"2024-0{1 + i % 3}-15T00:00:00Z") for i in range(9)]
    rows += [row("fr", "Bonjour le monde", target_language="fr-FR", approved_at="2024-02-01T00:00:00+00:00")]
    await client.post(
        f"/v1/projects/{project.id}/translations", json={"translations": rows}, headers=org.headers
    )
    url = f"/v1/projects/{project.id}/translations"
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {
            "limit": 4,
            "target_language": "de_DE",
            **({"after": after} if after else {}),
        }
        page = (await client.get(url, params=params, headers=org.headers)).json()
        seen += [item["key"] for item in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == [f"k{i}" for i in reversed(range(9))]
    window = await client.get(
        url,
        params={"approved_after": "2024-02-01T00:00:00Z", "approved_before": "2024-03-01T00:00:00Z"},
        headers=org.headers,
    )
    assert sorted(item["key"] for item in window.json()["data"]) == ["fr", "k1", "k4", "k7"]
    search = await client.get(url, params={"q": "bonjour"}, headers=org.headers)
    assert [item["key"] for item in search.json()["data"]] == ["fr"]
    assert search.json()["data"][0]["id"].startswith("tr_")
    bad = await client.get(url, params={"after": "nonsense"}, headers=org.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "query/after"
    pairs = [
        pair
        async for batch in stream_translations(db, project.id, TranslationFilters(target_language="fr-FR"))
        for pair in batch
    ]
    assert [(pair.key, pair.source_language, pair.target_language) for pair in pairs] == [
        ("fr", "en-US", "fr-FR")
    ]

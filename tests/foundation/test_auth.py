"""Bearer API keys resolve an organization; anything else is a 401 problem; orgs never see each other."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.organizations import create_org


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Missing API key"),
        ({"Authorization": "Bearer sk-not-ours"}, "Malformed API key"),
        ({"Authorization": "Bearer atn_doesnotexist"}, "Unknown or revoked"),
    ],
)
async def test_requests_without_a_valid_key_get_401_problems(
    client: AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await client.get("/v1/api_keys", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and body["code"] == "unauthorized"
    assert detail in body["detail"]


async def test_a_revoked_key_stops_working(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    created = await client.post("/v1/api_keys", json={"name": "ci"}, headers=org.headers)
    assert created.status_code == 201
    second = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/v1/organization", headers=second)).status_code == 200

    revoked = await client.delete(f"/v1/api_keys/{created.json()['id']}", headers=org.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.get("/v1/organization", headers=second)).status_code == 401
    assert (await client.get("/v1/organization", headers=org.headers)).status_code == 200


async def test_keys_are_shown_once_and_listed_by_prefix(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    created = (await client.post("/v1/api_keys", json={"name": "deploy"}, headers=org.headers)).json()
    assert created["key"].startswith(created["prefix"]) and created["key"].startswith("atn_")
    listed = (await client.get("/v1/api_keys", headers=org.headers)).json()
    assert listed["object"] == "list"
    assert {item["name"] for item in listed["data"]} == {"default", "deploy"}
    assert all("key" not in item for item in listed["data"])


async def test_another_organizations_objects_are_404(client: AsyncClient, db: AsyncSession) -> None:
    acme = await create_org(db, "Acme")
    globex = await create_org(db, "Globex")
    acme_key = (await client.get("/v1/api_keys", headers=acme.headers)).json()["data"][0]

    response = await client.delete(f"/v1/api_keys/{acme_key['id']}", headers=globex.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    globex_keys = (await client.get("/v1/api_keys", headers=globex.headers)).json()["data"]
    assert acme_key["id"] not in {item["id"] for item in globex_keys}
    assert (await client.get("/v1/organization", headers=globex.headers)).json()["id"] == globex.id


async def test_pagination_walks_every_key_once(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    for index in range(4):
        assert (
            await client.post("/v1/api_keys", json={"name": f"k{index}"}, headers=org.headers)
        ).status_code == 201
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await client.get("/v1/api_keys", params=params, headers=org.headers)).json()
        seen += [item["name"] for item in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == ["k3", "k2", "k1", "k0", "default"]

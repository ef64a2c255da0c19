"""Idempotency-Key with Stripe's semantics: replay, mismatch, in flight, per org, retention."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_sessionmaker, transaction
from shared.idempotency import purge_expired_idempotency_keys
from shared.models import ApiKey, IdempotencyKey
from tests.fixtures.organizations import OrgWithKey, create_org


async def _count_keys(session: AsyncSession, organization_id: str, name: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.organization_id == organization_id, ApiKey.name == name)
    )
    return int(count or 0)


async def test_same_key_and_body_replays_the_first_response(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    headers = {**org.headers, "Idempotency-Key": "create-ci-key"}
    first = await client.post("/v1/api_keys", json={"name": "ci"}, headers=headers)
    again = await client.post("/v1/api_keys", json={"name": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count_keys(db, org.id, "ci") == 1
    # The stored response holds a secret shown once: it is encrypted at rest.
    stored = await db.scalar(
        select(IdempotencyKey.response_body).where(IdempotencyKey.key == "create-ci-key")
    )
    assert stored is not None and first.json()["key"].encode() not in stored


async def test_same_key_with_another_body_is_422(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    headers = {**org.headers, "Idempotency-Key": "k1"}
    assert (await client.post("/v1/api_keys", json={"name": "a"}, headers=headers)).status_code == 201
    reused = await client.post("/v1/api_keys", json={"name": "b"}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert await _count_keys(db, org.id, "b") == 0


async def test_keys_are_scoped_to_the_organization(client: AsyncClient, db: AsyncSession) -> None:
    acme, globex = await create_org(db, "Acme"), await create_org(db, "Globex")
    for org in (acme, globex):
        response = await client.post(
            "/v1/api_keys", json={"name": "shared"}, headers={**org.headers, "Idempotency-Key": "same"}
        )
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert await _count_keys(db, acme.id, "shared") == await _count_keys(db, globex.id, "shared") == 1


async def test_a_failed_request_stores_nothing_and_can_be_retried(
    client: AsyncClient, db: AsyncSession
) -> None:
    org = await create_org(db)
    headers = {**org.headers, "Idempotency-Key": "retry-me"}
    assert (await client.post("/v1/api_keys", json={}, headers=headers)).status_code == 422
    assert (await client.post("/v1/api_keys", json={"name": "fixed"}, headers=headers)).status_code == 201


async def test_malformed_keys_are_400(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    response = await client.post(
        "/v1/api_keys", json={"name": "x"}, headers={**org.headers, "Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400 and response.json()["code"] == "bad_request"
    quoted = await client.post(
        "/v1/api_keys", json={"name": "q"}, headers={**org.headers, "Idempotency-Key": '"abc"'}
    )
    unquoted = await client.post(
        "/v1/api_keys", json={"name": "q"}, headers={**org.headers, "Idempotency-Key": "abc"}
    )
    assert quoted.json() == unquoted.json()


async def _live_org(engine: AsyncEngine) -> OrgWithKey:
    async with transaction(create_sessionmaker(engine)) as session:
        return await create_org(session, "Concurrent Co")


async def test_concurrent_identical_posts_make_one_record(
    live_client: AsyncClient, engine: AsyncEngine
) -> None:
    org = await _live_org(engine)
    headers = {**org.headers, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(live_client.post("/v1/api_keys", json={"name": "burst"}, headers=headers) for _ in range(6))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    created_ids = {response.json()["id"] for response in responses if response.status_code == 201}
    assert len(created_ids) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_key_in_flight"
    async with create_sessionmaker(engine)() as session:
        assert await _count_keys(session, org.id, "burst") == 1


async def test_in_flight_key_is_409(live_client: AsyncClient, engine: AsyncEngine) -> None:
    org = await _live_org(engine)
    # Hold the key's advisory lock from another transaction, as a slow first request would.
    async with engine.connect() as holder:
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"), {"lock": f"{org.id}:slow"}
        )
        response = await live_client.post(
            "/v1/api_keys", json={"name": "slow"}, headers={**org.headers, "Idempotency-Key": "slow"}
        )
        assert response.status_code == 409 and response.json()["code"] == "idempotency_key_in_flight"
        await holder.rollback()
    retried = await live_client.post(
        "/v1/api_keys", json={"name": "slow"}, headers={**org.headers, "Idempotency-Key": "slow"}
    )
    assert retried.status_code == 201


async def test_keys_are_kept_a_day_then_purged(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    headers = {**org.headers, "Idempotency-Key": "old"}
    first = await client.post("/v1/api_keys", json={"name": "old"}, headers=headers)
    assert await purge_expired_idempotency_keys(db, 24) == 0
    await db.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.organization_id == org.id)
        .values(created_at=func.now() - text("interval '25 hours'"))
    )
    # Past retention the key is a new request again.
    again = await client.post("/v1/api_keys", json={"name": "old"}, headers=headers)
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
    await db.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.organization_id == org.id)
        .values(created_at=func.now() - text("interval '25 hours'"))
    )
    assert await purge_expired_idempotency_keys(db, 24) >= 1
    remaining = (
        select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.organization_id == org.id)
    )
    assert await db.scalar(remaining) == 0

"""The event log: one envelope, per-organization commit order, cursor pagination, filters, isolation."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_sessionmaker, transaction
from shared.events.repository import EventRepository
from shared.events.service import record_event
from tests.fixtures.organizations import create_org


async def test_events_carry_one_envelope_and_chain_to_their_predecessor(
    client: AsyncClient, db: AsyncSession
) -> None:
    org = await create_org(db)
    first = await record_event(
        db, org.id, "fine_tuning.job.status_changed", {"status": "running"}, subject_id="ftjob_1"
    )
    second = await record_event(
        db, org.id, "fine_tuning.job.metrics", {"step": 1, "train_loss": 1.5}, subject_id="ftjob_1"
    )
    assert first.previous_id is None and second.previous_id == first.id
    response = await client.get("/v1/events", headers=org.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and not body["has_more"]
    assert [set(item) for item in body["data"]] == [{"id", "type", "created_at", "data"}] * 2
    assert [item["id"] for item in body["data"]] == [f"evt_{second.id}", f"evt_{first.id}"]
    assert body["data"][0]["data"] == {"step": 1, "train_loss": 1.5}
    one = await client.get(f"/v1/events/evt_{first.id}", headers=org.headers)
    assert one.json() == body["data"][1]


async def test_cursor_pagination_and_filters(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    for step in range(5):
        await record_event(db, org.id, "fine_tuning.job.metrics", {"step": step}, subject_id="ftjob_a")
    await record_event(db, org.id, "fine_tuning.job.succeeded", {"id": "ftjob_a"}, subject_id="ftjob_a")
    await record_event(db, org.id, "dataset.ready", {"id": "ds_1"}, subject_id="ds_1")
    first = (await client.get("/v1/events?limit=3", headers=org.headers)).json()
    assert first["has_more"] and len(first["data"]) == 3
    rest = (await client.get(f"/v1/events?limit=10&after={first['last_id']}", headers=org.headers)).json()
    ids = [e["id"] for e in first["data"] + rest["data"]]
    assert len(ids) == 7 and ids == sorted(ids, key=lambda i: int(i[4:]), reverse=True)
    by_type = (
        await client.get("/v1/events?type=fine_tuning.job.succeeded&type=dataset.ready", headers=org.headers)
    ).json()
    assert {e["type"] for e in by_type["data"]} == {"fine_tuning.job.succeeded", "dataset.ready"}
    family = (await client.get("/v1/events?type=fine_tuning.job.*&limit=100", headers=org.headers)).json()
    assert len(family["data"]) == 6
    subject = (await client.get("/v1/events?subject_id=ds_1", headers=org.headers)).json()
    assert [e["type"] for e in subject["data"]] == ["dataset.ready"]
    bad = await client.get("/v1/events?type=not a type", headers=org.headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "query/type/0"


async def test_another_organizations_events_are_invisible(client: AsyncClient, db: AsyncSession) -> None:
    acme, globex = await create_org(db, "Acme"), await create_org(db, "Globex")
    event = await record_event(db, acme.id, "dataset.ready", {"id": "ds_1"})
    assert (await client.get(f"/v1/events/evt_{event.id}", headers=globex.headers)).status_code == 404
    assert (await client.get("/v1/events", headers=globex.headers)).json()["data"] == []
    assert (await client.get("/v1/events/nonsense", headers=acme.headers)).status_code == 404


async def test_events_of_one_organization_commit_in_id_order(engine: AsyncEngine) -> None:
    """A writer that takes an id holds the organization's log until it commits: no later id commits first."""
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Ordered")
    slow_recorded = asyncio.Event()
    release_slow = asyncio.Event()
    commit_order: list[int] = []

    async def slow_writer() -> None:
        async with transaction(sessionmaker) as session:
            event = await record_event(session, org.id, "fine_tuning.job.metrics", {"step": 1})
            slow_recorded.set()
            await release_slow.wait()
        commit_order.append(event.id)

    async def fast_writer() -> None:
        await slow_recorded.wait()
        async with transaction(sessionmaker) as session:
            event = await record_event(session, org.id, "fine_tuning.job.metrics", {"step": 2})
        commit_order.append(event.id)

    slow, fast = asyncio.create_task(slow_writer()), asyncio.create_task(fast_writer())
    await slow_recorded.wait()
    await asyncio.sleep(0.3)
    assert not fast.done(), "the second writer must wait for the first to commit"
    release_slow.set()
    await asyncio.gather(slow, fast)
    assert commit_order == sorted(commit_order)
    async with sessionmaker() as session:
        events = await EventRepository(session).after(org.id, 0)
    assert [e.previous_id for e in events] == [None, events[0].id]

"""Server-sent event streams over a real HTTP server: replay, resume exactly once, end, pings, tokens,
replicas that share only Postgres and Redis, and events that commit or publish out of order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.events.relay import PENDING_EVENTS, EventMessage, publish, republish_unpublished
from shared.events.service import record_event
from shared.models import Event
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.live import SseReader, serve
from tests.fixtures.organizations import OrgWithKey, create_org


async def _org(engine: AsyncEngine) -> OrgWithKey:
    async with transaction(create_sessionmaker(engine)) as session:
        return await create_org(session, "Streaming Co", commit=False)


async def _record(
    engine: AsyncEngine, org_id: str, *types: str, subject_id: str | None = None, publish: bool = True
) -> list[Event]:
    """Commit events in one transaction; `publish=False` drops them from the relay (a crash after commit)."""
    async with transaction(create_sessionmaker(engine)) as session:
        events = [
            await record_event(session, org_id, t, {"n": i}, subject_id=subject_id)
            for i, t in enumerate(types)
        ]
        if not publish:
            session.sync_session.info.pop(PENDING_EVENTS, None)
    return events


@contextlib.asynccontextmanager
async def _stream(
    url: str, headers: dict[str, str] | None = None, **params: Any
) -> AsyncIterator[tuple[httpx.Response, SseReader]]:
    reader = SseReader()
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", url, headers=headers or {}, params=params) as response,
    ):
        task = asyncio.create_task(reader.consume(response.aiter_lines()))
        try:
            yield response, reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task


def _ids(events: list[Event]) -> list[str]:
    return [f"evt_{e.id}" for e in events]


async def test_resume_replays_missed_events_once_in_order_then_goes_live(
    api_url: str, engine: AsyncEngine
) -> None:
    org = await _org(engine)
    stream_url = f"{api_url}/v1/events/stream"
    async with _stream(stream_url, org.headers) as (response, reader):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in response.headers
        await asyncio.sleep(0.2)
        first = await _record(engine, org.id, "fine_tuning.job.status_changed", "fine_tuning.job.metrics")
        seen = await reader.take(2)
        assert [e.id for e in seen] == _ids(first) and reader.retry == "3000"
        assert seen[1].envelope == {
            "id": _ids(first)[1],
            "type": "fine_tuning.job.metrics",
            "created_at": seen[1].envelope["created_at"],
            "data": {"n": 1},
        }
    missed = await _record(engine, org.id, *["fine_tuning.job.metrics"] * 3)
    async with _stream(stream_url, {**org.headers, "Last-Event-ID": seen[-1].id or ""}) as (_, reader):
        assert [e.id for e in await reader.take(3)] == _ids(missed)
        live = await _record(engine, org.id, "fine_tuning.job.metrics")
        assert [e.id for e in await reader.take(1)] == _ids(live)
        await asyncio.sleep(0.3)
        assert reader.events.empty()  # nothing twice


async def test_subject_stream_starts_at_the_subject_and_ends_after_its_final_event(
    api_url: str, engine: AsyncEngine
) -> None:
    org = await _org(engine)
    before = await _record(engine, org.id, "fine_tuning.job.created", subject_id="ftjob_s")
    await _record(engine, org.id, "dataset.ready", subject_id="ds_other")
    async with _stream(f"{api_url}/v1/events/stream", org.headers, subject_id="ftjob_s") as (_, reader):
        assert [e.id for e in await reader.take(1)] == _ids(before)
        rest = await _record(
            engine, org.id, "fine_tuning.job.metrics", "fine_tuning.job.succeeded", subject_id="ftjob_s"
        )
        assert [e.id for e in await reader.take(2)] == _ids(rest)
        await asyncio.wait_for(reader.ended.wait(), 5)
    async with httpx.AsyncClient(base_url=api_url) as http:
        unknown = await http.get(
            "/v1/events/stream", headers=org.headers, params={"subject_id": "ftjob_nope"}
        )
    assert unknown.status_code == 404


async def test_a_job_stream_replays_the_job_resumes_exactly_once_and_ends_after_its_final_event(
    api_url: str, engine: AsyncEngine, settings: Settings
) -> None:
    org, other = await _org(engine), await _org(engine)
    async with transaction(create_sessionmaker(engine)) as session:
        training = await create_file(session, settings, org.id)
        job = await create_job(session, settings, org.id, training_file=training.id, auto_start=False)
    url = f"{api_url}/v1/fine_tuning/jobs/{job.id}/stream"
    async with _stream(url, org.headers) as (response, reader):
        assert response.headers["x-accel-buffering"] == "no"
        history = await reader.take(2)  # created, then status_changed to awaiting_confirmation
        assert [e.envelope["type"] for e in history] == [
            "fine_tuning.job.created",
            "fine_tuning.job.status_changed",
        ]
        steps = await _record(engine, org.id, *["fine_tuning.job.metrics"] * 3, subject_id=job.id)
        assert [e.id for e in await reader.take(3)] == _ids(steps)
    final = await _record(engine, org.id, "fine_tuning.job.succeeded", subject_id=job.id)
    async with _stream(url, {**org.headers, "Last-Event-ID": _ids(steps)[0]}) as (_, reader):
        assert [e.id for e in await reader.take(3)] == _ids(steps[1:]) + _ids(final)
        await asyncio.wait_for(reader.ended.wait(), 5)
    async with httpx.AsyncClient(base_url=api_url) as http:
        foreign = await http.get(f"/v1/fine_tuning/jobs/{job.id}/stream", headers=other.headers)
    assert foreign.status_code == 404


async def test_idle_streams_get_comment_pings(live_app: FastAPI, api_url: str, engine: AsyncEngine) -> None:
    settings: Settings = live_app.state.settings
    live_app.state.settings = settings.model_copy(
        update={"events": settings.events.model_copy(update={"sse_ping_seconds": 0.3})}
    )
    org = await _org(engine)
    async with _stream(f"{api_url}/v1/events/stream", org.headers) as (_, reader):
        await asyncio.sleep(1.0)
    assert any(comment.startswith(": ping") for comment in reader.comments)


async def test_stream_tokens_open_only_their_stream(api_url: str, engine: AsyncEngine) -> None:
    org = await _org(engine)
    await _record(engine, org.id, "fine_tuning.job.created", subject_id="ftjob_t")
    async with httpx.AsyncClient(base_url=api_url) as http:
        minted = (
            await http.post("/v1/events/stream_tokens", json={"subject_id": "ftjob_t"}, headers=org.headers)
        ).json()
        assert minted["token"].startswith("evst_") and "token=" in minted["stream_url"]
        other = await http.get("/v1/events/stream", params={"token": minted["token"]})
        assert other.status_code == 404  # the organization's stream is not this token's
        forged = await http.get("/v1/events/stream", params={"token": "evst_forged", "subject_id": "ftjob_t"})
        assert forged.status_code == 401
        assert (await http.get("/v1/events/stream")).status_code == 401
        # Read-only and stream-only: the token is no API key.
        as_key = await http.get("/v1/events", headers={"Authorization": f"Bearer {minted['token']}"})
        assert as_key.status_code == 401
    async with _stream(f"{api_url}/v1/events/stream", token=minted["token"], subject_id="ftjob_t") as (
        response,
        reader,
    ):
        assert response.status_code == 200
        assert (await reader.take(1))[0].envelope["type"] == "fine_tuning.job.created"


async def test_a_client_on_replica_b_gets_events_made_through_replica_a(
    api_url: str, settings: Settings, engine: AsyncEngine
) -> None:
    org = await _org(engine)
    replica_b = create_app(settings)
    async with replica_b.router.lifespan_context(replica_b), serve(replica_b) as replica_b_url:  # noqa: SIM117
        async with _stream(f"{replica_b_url}/v1/events/stream", org.headers) as (_, reader):
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=api_url) as http:
                created = await http.post(
                    "/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}, headers=org.headers
                )
                assert created.status_code == 201
            (event,) = await reader.take(1)
    assert (
        event.envelope["type"] == "webhook_endpoint.created"
        and event.envelope["data"]["id"] == created.json()["id"]
    )


async def test_events_published_out_of_order_or_never_still_arrive_once_in_order(
    api_url: str, engine: AsyncEngine, redis: Redis
) -> None:
    org = await _org(engine)
    async with _stream(f"{api_url}/v1/events/stream", org.headers) as (_, reader):
        await asyncio.sleep(0.2)
        # Two commits whose relays have not published yet (a slow replica); the later one publishes first.
        (late,) = await _record(engine, org.id, "fine_tuning.job.metrics", publish=False)
        (early,) = await _record(engine, org.id, "fine_tuning.job.metrics", publish=False)
        await publish(redis, [EventMessage.of(early)])
        assert [e.id for e in await reader.take(2)] == _ids([late, early])
        await publish(redis, [EventMessage.of(late), EventMessage.of(early)])  # the slow relay, at last
        # A commit whose process died before publishing: only the sweep sends it.
        (orphan,) = await _record(engine, org.id, "fine_tuning.job.metrics", publish=False)
        await asyncio.sleep(0.3)
        assert reader.events.empty()
        async with transaction(create_sessionmaker(engine)) as session:
            assert await republish_unpublished(session, redis, older_than_seconds=0) >= 1
        assert [e.id for e in await reader.take(1)] == _ids([orphan])
        await asyncio.sleep(0.3)
        assert reader.events.empty()
    async with create_sessionmaker(engine)() as session:
        published = await session.scalar(select(Event.published_at).where(Event.id == orphan.id))
    assert published is not None


@pytest.mark.parametrize("header", ["evt_x", "-1"])
async def test_bad_last_event_id_is_a_400(api_url: str, engine: AsyncEngine, header: str) -> None:
    org = await _org(engine)
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.get("/v1/events/stream", headers={**org.headers, "Last-Event-ID": header})
    assert response.status_code == 400 and response.json()["errors"][0]["pointer"] == "header/Last-Event-ID"


async def test_streams_end_at_their_age_cap_and_leave_the_hub_when_clients_hang_up(
    live_app: FastAPI, api_url: str, engine: AsyncEngine
) -> None:
    settings: Settings = live_app.state.settings
    hub = live_app.state.event_hub
    org = await _org(engine)
    live_app.state.settings = settings.model_copy(
        update={"events": settings.events.model_copy(update={"sse_max_stream_seconds": 0.6})}
    )
    async with _stream(f"{api_url}/v1/events/stream", org.headers) as (_, reader):
        for _ in range(50):  # events keep flowing (every 0.1 s): the cap still ends the stream
            await _record(engine, org.id, "fine_tuning.job.metrics")
            if reader.ended.is_set():
                break
            await asyncio.sleep(0.1)
        assert reader.ended.is_set() and not reader.events.empty()
    live_app.state.settings = settings
    async with _stream(f"{api_url}/v1/events/stream", org.headers):
        for _ in range(50):
            if hub.stream_count == 1:
                break
            await asyncio.sleep(0.05)
        assert hub.stream_count == 1
    for _ in range(100):  # the client hung up: the stream is gone without waiting for an event or ping
        if hub.stream_count == 0:
            break
        await asyncio.sleep(0.05)
    assert hub.stream_count == 0

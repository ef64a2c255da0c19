"""`attune jobs watch`: a job's live events, and a stream that drops mid-way and resumes exactly once."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.client.connection import Api
from services.client.sse import Follower
from services.client.watch import is_final, watch_job
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from shared.fine_tuning_jobs.ingest import ingest_metrics
from shared.fine_tuning_jobs.state import transition
from shared.models import FineTuningJob
from tests.client.conftest import Cli
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.live import serve
from tests.fixtures.organizations import OrgWithKey

pytestmark = pytest.mark.usefixtures("event_relay")


async def _new_job(engine: AsyncEngine, settings: Settings, org: OrgWithKey) -> str:
    async with transaction(create_sessionmaker(engine)) as session:
        training = await create_file(session, settings, org.id)
        job = await create_job(session, settings, org.id, training_file=training.id)
        return job.id


async def _drive(engine: AsyncEngine, job_id: str, batches: list[list[int]], total: int, end: str) -> None:
    """Run the job as a provider poll would: running, metric batches (one commit each), then `end`."""
    sessionmaker = create_sessionmaker(engine)
    for target in ("queued", "running"):
        async with transaction(sessionmaker) as session:
            job = await session.get(FineTuningJob, job_id, with_for_update=True)
            assert job is not None
            await transition(session, job, target)
    for steps in batches:
        async with transaction(sessionmaker) as session:
            job = await session.get(FineTuningJob, job_id, with_for_update=True)
            assert job is not None
            rows = [
                {"step": s, "total_steps": total, "train_loss": 3.0 / s, "valid_loss": 4.0 / s} for s in steps
            ]
            await ingest_metrics(session, job, rows, "metrics")
    async with transaction(sessionmaker) as session:
        job = await session.get(FineTuningJob, job_id, with_for_update=True)
        assert job is not None
        if end == "succeeded":
            job.fine_tuned_model = "ft:tiny-base:cli:abc"
            await transition(session, job, end)
        else:
            await transition(session, job, end, error=("training_failed", "Loss went to NaN", None))


async def test_watch_follows_a_live_job_to_success(
    cli: Cli, org: OrgWithKey, engine: AsyncEngine, settings: Settings
) -> None:
    job_id = await _new_job(engine, settings, org)
    watching = asyncio.create_task(cli("jobs", "watch", job_id))
    await asyncio.sleep(0.5)  # the stream is open: the rest arrives live
    await _drive(
        engine,
        job_id,
        [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]],
        20,
        "succeeded",
    )
    result = await asyncio.wait_for(watching, 20)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"{job_id}: running" in lines and f"{job_id}: succeeded" in lines
    progress = [line for line in lines if line.startswith("step ")]
    assert progress == [
        "step 3/20 (15%)  train loss 1.0000  best 1.0000 (step 3)  valid loss 1.3333",
        "step 10/20 (50%)  train loss 0.3000  best 0.3000 (step 10)  valid loss 0.4000",
        "step 20/20 (100%)  train loss 0.1500  best 0.1500 (step 20)  valid loss 0.2000",
    ]  # one line per event at most: logs are not flooded
    assert lines[-1] == f"Job {job_id} succeeded. Output model: ft:tiny-base:cli:abc"
    assert any(line.startswith("train loss █") for line in lines)


async def test_watch_exits_1_when_the_job_fails(
    cli: Cli, org: OrgWithKey, engine: AsyncEngine, settings: Settings
) -> None:
    job_id = await _new_job(engine, settings, org)
    await _drive(engine, job_id, [[1, 2]], 10, "failed")  # finished before watching: replayed whole
    result = await cli("jobs", "watch", job_id)
    assert result.exit_code == 1
    assert f"Job {job_id} failed." in result.stdout and "training_failed: Loss went to NaN" in result.stdout
    terminal = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None, record=True)
    api = Api(cli.api_url, org.key)
    assert await asyncio.to_thread(watch_job, api, job_id, terminal) == 1  # the live display's path
    api.close()
    shown = terminal.export_text()
    assert "step 2/10 (20%)" in shown and "train loss" in shown and f"Job {job_id} failed." in shown
    unknown = await cli("jobs", "watch", "ftjob_nope")
    assert unknown.exit_code == 1 and "Error 404" in unknown.stderr


@dataclass
class CuttingProxy:
    """Forwards to the API; stream connection n is cut after `cuts[n]` events (cleanly, then abruptly)."""

    upstream: str
    cuts: list[int]
    resumed_from: list[str | None] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("authorization", "last-event-id")
        }
        http = httpx.AsyncClient(base_url=self.upstream, timeout=httpx.Timeout(10, read=None))
        upstream = await http.send(
            http.build_request(request.method, request.url.path, params=request.query_params,
                               headers=headers, content=await request.body()),
            stream=True,
        )  # fmt: skip
        if upstream.status_code != 200 or "text/event-stream" not in upstream.headers.get("content-type", ""):
            body = await upstream.aread()
            await http.aclose()
            return Response(body, upstream.status_code, media_type=upstream.headers.get("content-type"))
        self.resumed_from.append(request.headers.get("last-event-id"))
        cut = self.cuts.pop(0) if self.cuts else None
        return StreamingResponse(self._relay(http, upstream, cut), media_type="text/event-stream")

    async def _relay(
        self, http: httpx.AsyncClient, upstream: httpx.Response, cut: int | None
    ) -> AsyncIterator[str]:
        sent, pending, abrupt = 0, False, cut is not None and not self.cuts
        try:
            async for line in upstream.aiter_lines():
                if sent == cut and line.startswith(("id:", "data:")):  # the next event begins
                    if abrupt:
                        yield line[: len(line) // 2]  # half a frame, then the connection breaks
                        raise ConnectionResetError("proxy dropped the connection")
                    return  # a clean end, without the job's final event
                yield line + "\n"
                if line.startswith("data:"):
                    pending = True
                elif line == "" and pending:
                    sent, pending = sent + 1, False
        finally:
            await upstream.aclose()
            await http.aclose()


async def test_a_dropped_stream_resumes_after_the_last_event_without_repeats_or_gaps(
    cli: Cli,
    org: OrgWithKey,
    engine: AsyncEngine,
    settings: Settings,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The proxy's dropped connection is an exception in uvicorn, whose logged traceback takes a second.
    monkeypatch.setattr(logging.getLogger("uvicorn.error"), "disabled", True)
    job_id = await _new_job(engine, settings, org)
    await _drive(engine, job_id, [[step] for step in range(1, 11)], 10, "succeeded")
    async with httpx.AsyncClient(base_url=api_url, headers=org.headers) as http:
        expected = (await http.get("/v1/events", params={"subject_id": job_id, "limit": 100})).json()["data"]
    expected_ids = [event["id"] for event in reversed(expected)]

    proxy = CuttingProxy(api_url, cuts=[4, 5])
    async with serve(proxy.app()) as proxy_url:
        api = Api(proxy_url, org.key)
        follower = Follower(api, f"/v1/fine_tuning/jobs/{job_id}/stream", is_final, backoff=0.05)
        seen = await asyncio.to_thread(lambda: [envelope["id"] for envelope in follower.events()])
        api.close()
        assert seen == expected_ids  # every event, once, in order
        assert proxy.resumed_from == [None, expected_ids[3], expected_ids[8]]

        proxy.cuts = [3, 6]
        result = await Cli(proxy_url, org.key)("jobs", "watch", job_id)
    assert result.exit_code == 0, result.output
    progress = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("step ")]
    assert progress == [f"{step}/10" for step in range(1, 11)]
    assert result.stderr.count("resuming after evt_") == 2
    assert "the stream ended before the job's final event" in result.stderr
    assert "connection lost" in result.stderr
    assert result.stdout.splitlines()[-1].endswith("Output model: ft:tiny-base:cli:abc")

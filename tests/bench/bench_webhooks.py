"""Webhook delivery benchmark: signed deliveries per second from one `webhooks` worker process through
the queue, beside bare loops of signed POSTs with no queue and no database, in the same run.

The receiver stands in for customers and must not be what is measured: a raw asyncio server
(uvloop + httptools, keep-alive) that answers 200 at once, in its own process. E endpoints each get
every one of K events, so E x K deliveries, in order per endpoint, each recorded in Postgres.
Throughput is deliveries divided by the time between the first and last attempt the database
recorded (worker start-up excluded). The floors send the same signed bodies over E concurrent
in-order lines: aiohttp (the client the worker uses) and httpx (for comparison). Loopback only,
bounded. On a 2-core machine the worker, the receiver, Postgres and this process share the cores.

    .venv/bin/python tests/bench/bench_webhooks.py                 # 20 endpoints x 250 events, 3 rounds
    .venv/bin/python tests/bench/bench_webhooks.py --endpoints 10 --events 100 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from bench_sse import BENCH_DB, BENCH_REDIS, free_port, prepare_database, wait_up  # noqa: E402

BODY = (
    b'{"id":"evt_1","type":"fine_tuning.job.metrics",'
    b'"created_at":"2026-11-23T00:00:00Z","data":{"step":1,"train_loss":1.0}}'
)
# The httpx floor is slow enough that a share of the deliveries tells its rate.
HTTPX_FLOOR_DELIVERIES = 2000


def serve_receiver(port: int) -> None:
    """A raw keep-alive HTTP/1.1 server answering every request `200 ok` as soon as it is parsed."""
    import httptools
    import uvloop

    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_message_complete(self) -> None:
            self.transport.write(response)
            if not self.parser.should_keep_alive():
                self.transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


def _signed_headers(message_id: str) -> dict[str, str]:
    from shared.webhooks.signing import Signer, generate_secret

    signer = _signed_headers.__dict__.setdefault("signer", Signer([generate_secret()]))
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signer.header(message_id, timestamp, BODY),
    }


async def aiohttp_floor(url: str, endpoints: int, events: int) -> tuple[float, float]:
    """Bare aiohttp: the same signed POSTs over E concurrent in-order lines, no queue, no database."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def line(index: int) -> None:
            for event in range(events):
                async with session.post(
                    f"{url}/e{index}", data=BODY, headers=_signed_headers(f"evt_{event}")
                ) as response:
                    await response.read()
                    assert response.status == 200, response.status

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(line(i) for i in range(endpoints)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return endpoints * events / elapsed, cpu * 1000 / (endpoints * events)


async def httpx_floor(url: str, endpoints: int, events: int) -> tuple[float, float]:
    """Bare httpx (keep-alive pool, TCP_NODELAY by asyncio): the same loop, fewer deliveries."""
    import httpx

    events = max(1, min(events, HTTPX_FLOOR_DELIVERIES // endpoints))
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def line(index: int) -> None:
            for event in range(events):
                response = await client.post(
                    f"{url}/e{index}", content=BODY, headers=_signed_headers(f"evt_{event}")
                )
                assert response.status_code == 200, response.status_code

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(line(i) for i in range(endpoints)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return endpoints * events / elapsed, cpu * 1000 / (endpoints * events)


async def through_queue(
    url: str, endpoints: int, events: int, env: dict[str, str]
) -> tuple[float, float, float]:
    """Attune: record events (fan-out makes the deliveries), then one worker process sends them all."""
    import psutil
    from redis.asyncio import Redis
    from sqlalchemy import func, select

    from shared.config import get_settings
    from shared.db import create_engine, create_sessionmaker, transaction
    from shared.events.service import record_event
    from shared.models import WebhookDelivery
    from shared.organizations.service import create_organization
    from shared.queue import create_redis, send_committed_jobs
    from shared.webhooks.service import create_endpoint

    settings = get_settings().model_copy(
        update={"webhooks": get_settings().webhooks.model_copy(update={"allow_private_urls": True})}
    )
    await Redis.from_url(BENCH_REDIS).flushdb()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    redis = await create_redis(settings)
    async with transaction(sessionmaker) as session:
        organization, _ = await create_organization(session, "bench webhooks")
        for index in range(endpoints):
            await create_endpoint(
                session,
                settings,
                organization.id,
                url=f"{url}/e{index}",
                event_types=[],
                description="",
                enabled=True,
            )
    for event in range(events):
        async with transaction(sessionmaker) as session:
            await record_event(
                session, organization.id, "fine_tuning.job.metrics", {"step": event, "train_loss": 1.0}
            )
        await send_committed_jobs(session, redis)
    # `total` also counts each endpoint hearing of the endpoints created after it (webhook_endpoint.created).
    total = endpoints * events + endpoints * (endpoints - 1) // 2
    mine = WebhookDelivery.organization_id == organization.id
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker", "webhooks"],
        cwd=REPO_ROOT,
        env={**env, "ATTUNE_WEBHOOKS__ALLOW_PRIVATE_URLS": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall_started = time.perf_counter()
    process = psutil.Process(worker.pid)
    done: int | None = 0
    # Worker CPU from the first delivery seen to the last: steady state, start-up left out.
    first_seen: tuple[int, float] | None = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            async with sessionmaker() as session:
                done = await session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(mine, WebhookDelivery.status == "succeeded")
                )
            if done and first_seen is None:
                first_seen = (done, sum(process.cpu_times()[:2]))
            if done is not None and done >= total:
                break
            await asyncio.sleep(0.1)
        wall = time.perf_counter() - wall_started
        cpu_end = sum(process.cpu_times()[:2])
        async with sessionmaker() as session:
            first, last, attempts = (
                await session.execute(
                    select(
                        func.min(WebhookDelivery.last_attempt_at),
                        func.max(WebhookDelivery.last_attempt_at),
                        func.sum(WebhookDelivery.attempt_count),
                    ).where(mine)
                )
            ).one()
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=30)
        await redis.aclose(close_connection_pool=True)
        await engine.dispose()
    if done is None or done < total:
        raise RuntimeError(f"only {done} of {total} deliveries succeeded")
    assert attempts == done, (attempts, done)
    assert first_seen is not None
    cpu_ms = (cpu_end - first_seen[1]) * 1000 / max(1, done - first_seen[0])
    return done / (last - first).total_seconds(), done / wall, cpu_ms


async def main(endpoints: int, events: int, rounds: int) -> None:
    env = {
        **os.environ,
        "ATTUNE_ENV": "test",
        "ATTUNE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{BENCH_DB}",
        "ATTUNE_REDIS_URL": BENCH_REDIS,
        "ATTUNE_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    await prepare_database(env)
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)], cwd=REPO_ROOT)
    rows: dict[str, list[float]] = {key: [] for key in ("aiohttp", "httpx", "queue", "wall")}
    cpu: dict[str, list[float]] = {key: [] for key in ("aiohttp", "httpx", "queue")}
    try:
        await wait_up(port, "/")
        url = f"http://127.0.0.1:{port}"
        for round_number in range(rounds):
            for key, floor_loop in (("aiohttp", aiohttp_floor), ("httpx", httpx_floor)):
                rate, cpu_ms = await floor_loop(url, endpoints, events)
                rows[key].append(rate)
                cpu[key].append(cpu_ms)
            queue, wall, cpu_ms = await through_queue(url, endpoints, events, env)
            rows["queue"].append(queue)
            rows["wall"].append(wall)
            cpu["queue"].append(cpu_ms)
            print(
                f"round {round_number + 1}: "
                + ", ".join(f"{key}={values[-1]:,.0f}/s" for key, values in rows.items())
                + "; client CPU ms per delivery: "
                + ", ".join(f"{key}={values[-1]:.2f}" for key, values in cpu.items()),
                flush=True,
            )
    finally:
        receiver.kill()
        receiver.wait()
    floor = statistics.median(rows["aiohttp"])
    total = endpoints * events
    print(f"\n{endpoints} endpoints x {events} events = {total} signed deliveries, one worker process;")
    print(f"median of {rounds} round(s), every round measured in the same run\n")
    print("| path | deliveries/s (median) | all rounds | vs aiohttp floor | sender CPU ms/delivery |")
    print("|---|---:|---|---:|---:|")
    for label, key in [
        (f"bare signed-POST loop, aiohttp ({endpoints} concurrent lines)", "aiohttp"),
        (f"bare signed-POST loop, httpx ({endpoints} concurrent lines)", "httpx"),
        ("Attune `webhooks` queue, first to last attempt", "queue"),
        ("Attune, incl. worker start-up", "wall"),
    ]:
        median = statistics.median(rows[key])
        each = ", ".join(f"{value:,.0f}" for value in rows[key])
        cpu_ms = f"{statistics.median(cpu[key]):.2f}" if key in cpu else ""
        print(f"| {label} | {median:,.0f} | {each} | {median / floor:.2f} | {cpu_ms} |")
    print("\nsender CPU: the bench process for the floors, the worker process (steady state) for Attune")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--events", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    if arguments.serve_receiver:
        serve_receiver(arguments.serve_receiver)
    else:
        asyncio.run(main(arguments.endpoints, arguments.events, arguments.rounds))

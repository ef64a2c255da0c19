"""SSE fan-out benchmark: Attune's API beside a bare Starlette + sse-starlette relay of one shared
Redis subscription (the floor), measured in the same run on this machine.

For each scenario (clients x events per second), N clients hold a stream open on one API process
while a producer commits `fine_tuning.job.metrics` events; each client notes when each event arrives.
Latency is from the producer's commit returning to the client reading the event; memory is the API
process's resident set; server CPU is the server process's, per connection opened and per event
delivered to one client. The clients are raw HTTP/1.1 readers (uvloop protocols, cheap per event)
in 2 processes apart from the server, and the producer is this process: on a 2-core machine the
server, the clients, the producer, Postgres and Redis share the cores, so latency here is an upper
bound and the comparison with the floor of the same run is what counts. Loopback only, every loop
bounded.

    .venv/bin/python tests/bench/bench_sse.py                       # 1,000 x 20/s and 10,000 x 2/s, 3 rounds
    .venv/bin/python tests/bench/bench_sse.py --scenario 200x20 --seconds 5 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
BENCH_DB = "attune_bench"
BENCH_REDIS = "redis://127.0.0.1:6379/12"
FLOOR_CHANNEL = "bench:floor"
CLIENT_PROCESSES = 2


# --- the floor: a bare Starlette + sse-starlette app fanning one Redis subscription out to queues ---
def serve_floor(port: int, tuned_gc: bool) -> None:
    import uvicorn
    from redis.asyncio import Redis
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    queues: set[asyncio.Queue[bytes]] = set()

    async def relay() -> None:
        client = Redis.from_url(BENCH_REDIS)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(FLOOR_CHANNEL)
        async for message in pubsub.listen():
            if message.get("type") == "message":
                frame = b"data: " + message["data"] + b"\n\n"
                for queue in queues:
                    queue.put_nowait(frame)

    async def stream(request: Request) -> EventSourceResponse:
        async def events() -> Any:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            queues.add(queue)
            try:
                yield b"retry: 3000\n\n"
                while True:
                    yield await queue.get()
            finally:
                queues.discard(queue)

        return EventSourceResponse(events(), ping=15)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        task = asyncio.create_task(relay())
        yield
        task.cancel()

    app = Starlette(routes=[Route("/stream", stream)], lifespan=lifespan)
    if tuned_gc:
        # What `attune api` does (services/cli.py), to tell that gain apart from the rest.
        import gc

        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)  # services.cli.API_GC_THRESHOLDS, without importing the app
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=16384)


# --- clients: raw HTTP/1.1 readers (uvloop protocols: cheap per event), several processes ---
class _SseClient(asyncio.Protocol):
    """Reads one stream; notes (seq, arrival time) of every `data:` line."""

    def __init__(self, request: bytes, samples: list[tuple[int, float]]) -> None:
        self.request, self.samples = request, samples
        self.headers: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.headers.done():
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            self.headers.set_result(head)
            self.buffer = rest
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                at = line.find(b'"seq":')
                self.samples.append((int(line[at + 6 : line.find(b"}", at)]), now))

    def connection_lost(self, error: Exception | None) -> None:
        if not self.headers.done():
            self.headers.set_exception(ConnectionError(f"closed before the headers: {error}"))
        if not self.closed.done():
            self.closed.set_result(None)


def run_clients(
    port: int, path: str, count: int, seconds: float, connected: Any, start: Any, out: Any
) -> None:
    import uvloop

    async def main() -> list[tuple[int, float]]:
        samples: list[tuple[int, float]] = []
        gate = asyncio.Semaphore(10)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        transports: list[Any] = []

        async def client() -> None:
            async with gate:
                transport, protocol = await asyncio.get_running_loop().create_connection(
                    lambda: _SseClient(request, samples), "127.0.0.1", port
                )
                transports.append(transport)
                status = (await protocol.headers).split(b"\r\n", 1)[0]
                assert b" 200 " in status, status
            with connected.get_lock():
                connected.value += 1

        tasks = [asyncio.create_task(client()) for _ in range(count)]
        waited = 0.0
        while not start.is_set() and waited < 300:
            await asyncio.sleep(0.05)
            waited += 0.05
        await asyncio.sleep(seconds + 2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for transport in transports:
            transport.close()
        return samples

    out.put(uvloop.run(main()))


class ConnectFailed(RuntimeError):
    """Not every client got its stream opened in time."""


def _cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare_database(env: dict[str, str]) -> None:
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await admin.close()
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


async def wait_up(port: int, path: str) -> None:
    for _ in range(300):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(path)


async def measure(
    kind: str, clients: int, rate: float, seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    """One run: start the server, connect the clients, produce events, collect latencies and memory."""
    from redis.asyncio import Redis

    from shared.config import get_settings
    from shared.db import create_engine, create_sessionmaker, transaction
    from shared.events.relay import PENDING_EVENTS, relay
    from shared.events.service import record_event
    from shared.events.tokens import mint_stream_token
    from shared.organizations.service import create_organization

    settings = get_settings()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    redis = Redis.from_url(BENCH_REDIS)
    async with transaction(sessionmaker) as session:
        organization, _ = await create_organization(session, f"bench {kind}")
    port = free_port()
    if kind == "attune":
        command = [sys.executable, "-m", "services.cli", "api", "--port", str(port)]
        path = f"/v1/events/stream?token={mint_stream_token(settings, organization.id, None).token}"
        token = relay.configure(redis, sessionmaker)
    else:
        command = [sys.executable, __file__, "--serve-floor", str(port)]
        if kind == "floor-gc":
            command.append("--floor-gc")
        path = "/stream"
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await wait_up(port, path)
        await asyncio.sleep(1)
        process = psutil.Process(server.pid)
        idle_rss = process.memory_info().rss
        connected = multiprocessing.Value("i", 0)
        start = multiprocessing.Event()
        out: multiprocessing.Queue[list[tuple[int, float]]] = multiprocessing.Queue()
        shares = [
            clients // CLIENT_PROCESSES + (i < clients % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)
        ]
        workers = [
            multiprocessing.Process(
                target=run_clients, args=(port, path, share, seconds, connected, start, out)
            )
            for share in shares
        ]
        for worker in workers:
            worker.start()
        connect_started, connect_cpu = time.monotonic(), _cpu_seconds(process)
        deadline = time.monotonic() + 120
        while connected.value < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if connected.value < clients:
            for worker in workers:
                worker.terminate()
            raise ConnectFailed(f"only {connected.value} of {clients} clients connected in 120 s")
        connect_s, connect_cpu = time.monotonic() - connect_started, _cpu_seconds(process) - connect_cpu
        await asyncio.sleep(1)
        start.set()
        produce_cpu = _cpu_seconds(process)
        committed: dict[int, float] = {}
        peak_rss = process.memory_info().rss
        interval, next_at, seq = 1 / rate, time.monotonic(), 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            async with sessionmaker() as session:
                await record_event(
                    session, organization.id, "fine_tuning.job.metrics", {"train_loss": 1.0, "seq": seq}
                )
                if kind != "attune":
                    session.sync_session.info.pop(PENDING_EVENTS, None)
                await session.commit()
            committed[seq] = time.time()
            if kind != "attune":
                await redis.publish(FLOOR_CHANNEL, json.dumps({"seq": seq}))
            seq += 1
            if seq % max(1, int(rate)) == 0:
                peak_rss = max(peak_rss, process.memory_info().rss)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        # Server CPU while events flow, plus a second for the last ones (clients still connected).
        await asyncio.sleep(1)
        produce_cpu = _cpu_seconds(process) - produce_cpu
        samples = [sample for _ in workers for sample in out.get(timeout=60)]
        for worker in workers:
            worker.join(timeout=10)
        peak_rss = max(peak_rss, process.memory_info().rss)
    finally:
        server.kill()
        server.wait()
        if kind == "attune":
            await relay.release(token)
        await redis.aclose()
        await engine.dispose()
    latencies = sorted((received - committed[s]) * 1000 for s, received in samples if s in committed)
    expected = len(committed) * clients
    return {
        "kind": kind,
        "clients": clients,
        "rate": rate,
        "events": len(committed),
        "delivered": f"{len(latencies)}/{expected}",
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "connect_s": connect_s,
        "connect_cpu_ms": connect_cpu * 1000 / clients,
        "event_cpu_us": produce_cpu * 1e6 / max(1, len(latencies)),
        "idle_mb": idle_rss / 2**20,
        "peak_mb": peak_rss / 2**20,
    }


async def main(scenarios: list[tuple[int, float]], seconds: float, rounds: int, kinds: list[str]) -> None:
    env = {
        **os.environ,
        "ATTUNE_ENV": "test",
        "ATTUNE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{BENCH_DB}",
        "ATTUNE_REDIS_URL": BENCH_REDIS,
        "ATTUNE_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    await prepare_database(env)
    runs: dict[tuple[str, int, float], list[dict[str, Any]]] = {}
    failures: dict[tuple[str, int, float], list[str]] = {}
    for _ in range(rounds):
        for clients, rate in scenarios:
            for kind in kinds:
                try:
                    row = await measure(kind, clients, rate, seconds, env)
                except ConnectFailed as failure:
                    print(f"{kind} {clients}x{rate:g}: {failure}", flush=True)
                    failures.setdefault((kind, clients, rate), []).append(str(failure))
                    continue
                runs.setdefault((kind, clients, rate), []).append(row)
                print(json.dumps(row, default=str), flush=True)
    print(
        f"\nmedians of {rounds} round(s), {seconds:g} s of events each; "
        f"clients in {CLIENT_PROCESSES} processes apart from the server\n"
    )
    print(
        "| server | clients | events/s | produced | delivered | p50 ms | p99 ms | connect s "
        "| server CPU ms/connect | server CPU µs/event·client | RSS idle MB | RSS peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (kind, clients, rate), rows in runs.items():

        def median(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.median(float(row[key]) for row in rows)

        delivered = "; ".join(row["delivered"] for row in rows)
        print(
            f"| {kind} | {clients} | {rate:g} | {median('events'):.0f} | {delivered} | "
            f"{median('p50_ms'):.1f} | {median('p99_ms'):.1f} | {median('connect_s'):.1f} | "
            f"{median('connect_cpu_ms'):.2f} | {median('event_cpu_us'):.1f} | "
            f"{median('idle_mb'):.0f} | {median('peak_mb'):.0f} |"
        )
    for (kind, clients, rate), reasons in failures.items():
        print(f"| {kind} | {clients} | {rate:g} | failed {len(reasons)} run(s): {reasons[0]} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-gc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--tuned-floor", action="store_true", help="Also run the floor with the API's gc tuning (floor-gc)."
    )
    parser.add_argument("--scenario", action="append", help="CLIENTSxRATE, e.g. 1000x20 (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="How long events are produced per run.")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Runs of every scenario; the table shows medians."
    )
    arguments = parser.parse_args()
    if arguments.serve_floor:
        serve_floor(arguments.serve_floor, arguments.floor_gc)
    else:
        chosen = arguments.scenario or ["1000x20", "10000x2"]
        parsed = [(int(c), float(r)) for c, r in (s.split("x") for s in chosen)]
        kinds = ["floor", *(["floor-gc"] if arguments.tuned_floor else []), "attune"]
        asyncio.run(main(parsed, arguments.seconds, arguments.rounds, kinds))

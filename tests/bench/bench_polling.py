"""Polling benchmark: 5,000 active jobs against one local fake provider that allows 100 requests a second.

Part 1, the pipeline: real `attune worker providers` processes poll N running jobs (Postgres, Redis,
the fake over HTTP). Each job's first poll is due at a known time spread over the interval; reported
are how late first polls were, the gaps between a job's polls, requests the fake refused for going
over its limit (429), the busiest second, and worker CPU per poll, beside the floor measured in the
same run: a bare httpx loop making the same two GETs per poll.

Part 2, the limit at full demand: 64 concurrent pollers (as many worker tasks would) poll the same
N jobs through Attune's provider client for a while, with the per-credential Redis limiter set to
90 % of the provider's limit, then with no limiter (the naive baseline).

    .venv/bin/python tests/bench/bench_polling.py                  # 5,000 jobs, 100 rps, 480 s interval
    .venv/bin/python tests/bench/bench_polling.py --jobs 500 --interval 30 --part1-seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
BENCH_DB = "attune_bench_polling"
BENCH_REDIS = "redis://127.0.0.1:6379/13"
API_KEY = "bench-trainer-key"
WARMUP = 15.0
# The limiter is set below the provider's limit: the fake stamps arrival when it gets the CPU, so a
# stall of a few hundred ms on a busy machine bunches requests that left evenly spaced.
HEADROOM = 0.9


def serve_fake(port: int, rps: float, jobs: int) -> None:
    """The provider: FakeOpenAI (429 past `rps` in any 1 s) whose jobs run forever, plus a stats route."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.providers.fakes.core import SimulatedJob
    from tests.providers.fakes.openai import FakeOpenAI

    fake = FakeOpenAI(api_key=API_KEY, requests_per_second=rps, total_steps=10**9)
    for index in range(jobs):
        job_id = f"ftjob-bench-{index:06d}"
        fake.jobs[job_id] = SimulatedJob(
            job_id, "tiny", "file-x", None, None, None, 0, 10**9, 10**6, "running"
        )

    async def stats(request: Request) -> JSONResponse:
        rows = [(r.method, r.path, r.at, r.status) for r in fake.requests]
        fake.requests.clear()
        return JSONResponse({"requests": rows})

    fake.app.router.routes.insert(0, Route("/_bench/stats", stats))
    gate = fake.gate

    async def bench_gate(request: Request) -> Any:
        return None if request.url.path.startswith("/_bench") else await gate(request)

    fake.gate = bench_gate  # type: ignore[method-assign]
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def collect(base_url: str) -> list[list[Any]]:
    rows: list[list[Any]] = httpx.get(f"{base_url}/_bench/stats", timeout=120).json()["requests"]
    return rows


def window(rows: list[list[Any]], start: float, end: float) -> dict[str, Any]:
    """Requests, refusals (429) and the busiest 1 s in [start, end)."""
    inside = [r for r in rows if start <= r[2] < end]
    per_second: dict[int, int] = {}
    for row in inside:
        per_second[int(row[2])] = per_second.get(int(row[2]), 0) + 1
    return {
        "requests": len(inside),
        "over_limit": sum(1 for r in inside if r[3] == 429),
        "busiest_second": max(per_second.values(), default=0),
        "polls": sum(1 for r in inside if r[0] == "GET" and r[1].count("/") == 4 and r[3] != 429),
    }


# --- part 1: the pipeline ----------------------------------------------------------------------------
def worker_env(base_url: str, args: argparse.Namespace) -> dict[str, str]:
    return os.environ | {
        "ATTUNE_ENV": "test",
        "ATTUNE_LOG_LEVEL": "WARNING",
        "ATTUNE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{BENCH_DB}",
        "ATTUNE_REDIS_URL": BENCH_REDIS,
        "ATTUNE_TRAINER__URL": f"{base_url}/v1",
        "ATTUNE_TRAINER__API_KEY": API_KEY,
        "ATTUNE_PROVIDERS__LOCAL_REQUESTS_PER_SECOND": str(args.rps * HEADROOM),
        "ATTUNE_PROVIDERS__POLL_INTERVAL_SECONDS": json.dumps({"running": args.interval}),
        "ATTUNE_PROVIDERS__CHECKPOINT_POLL_EVERY": "1000000000",
        "ATTUNE_PROVIDERS__OVERDUE_GRACE_SECONDS": "30",
        "ATTUNE_PROVIDERS__MAX_CONCURRENT_REQUESTS": str(32 * args.workers),
        "ATTUNE_WORKER__MAX_JOBS": "32",
        "ATTUNE_DB__POOL_SIZE": "20",
    }


async def prepare(env: dict[str, str], jobs: int, first_due: list[float]) -> None:
    """A fresh database: one organization, `jobs` running jobs already at the provider, first polls spread."""
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    await admin.close()
    migrate = [sys.executable, "-m", "services.cli", "migrate"]
    subprocess.run(migrate, env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    db = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}")
    await db.execute("INSERT INTO organizations (id, name) VALUES ('org_bench', 'Bench')")
    await db.execute(
        "INSERT INTO files (id, organization_id, filename, purpose, status, bytes, sha256, storage_key,"
        " line_count, example_count, token_estimate, validation) VALUES ('file_bench', 'org_bench',"
        " 't.jsonl', 'fine-tune', 'processed', 1, '', 'x', 1, 1, 1, '{}')"
    )
    await db.executemany(
        "INSERT INTO fine_tuning_jobs (id, organization_id, provider, provider_kind, model, training_file_id,"
        " hyperparameters, seed, auto_start, status, provider_job_id, provider_training_file_id,"
        " result_files,"
        " transitions, cost_currency, next_poll_at, poll_sequence, polls, submit_attempts, last_metric_step,"
        " consecutive_failures) VALUES ($1, 'org_bench', 'local', 'local', 'tiny', 'file_bench', '{}', 1,"
        " true, 'running', $2, 'file-x', '[]', '[]', 'USD', to_timestamp($3), 1, 1, 0, 0, 0)",
        [(f"ftjob_bench{i:06d}", f"ftjob-bench-{i:06d}", due) for i, due in enumerate(first_due)],
    )
    await db.close()


async def enqueue(first_due: list[float]) -> None:
    from shared.config import Settings
    from shared.fine_tuning_jobs.scheduling import POLL_TASK, poll_job_id
    from shared.queue import QueuedJob, create_redis, send

    redis = await create_redis(Settings(redis_url=BENCH_REDIS))
    for i, due in enumerate(first_due):
        job_id = f"ftjob_bench{i:06d}"
        delay = max(0.0, due - time.time())
        await send(redis, QueuedJob("providers", POLL_TASK, (job_id, 1), poll_job_id(job_id, 1), delay))
    await redis.aclose(close_connection_pool=True)


async def pipeline(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from redis.asyncio import Redis

    start = time.time() + WARMUP + 20
    first_due = [start + args.interval * i / args.jobs for i in range(args.jobs)]
    env = worker_env(base_url, args)
    await prepare(env, args.jobs, first_due)
    await Redis.from_url(BENCH_REDIS).flushdb()
    command = [sys.executable, "-m", "services.cli", "worker", "providers"]
    logs = [Path(f"{args.dump or '/tmp/bench-polling'}.worker{n}.log").open("w") for n in range(args.workers)]  # noqa: SIM115 - closed after the workers stop
    workers = [subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
               for log in logs]  # fmt: skip
    await asyncio.sleep(WARMUP)
    await enqueue(first_due)
    collect(base_url)  # forget the warm-up
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu_before = sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in workers)
    await asyncio.sleep(args.part1_seconds)
    cpu = sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in workers) - cpu_before
    end = time.time()
    for worker in workers:
        worker.terminate()
    rows = collect(base_url)
    for worker in workers:
        worker.wait(30)
    for log in logs:
        log.close()
    polls: dict[int, list[float]] = {}
    for method, path, at, status in rows:
        if method == "GET" and path.count("/") == 4 and status != 429 and start - 5 <= at < end:
            polls.setdefault(int(path.rsplit("-", 1)[1]), []).append(at)
    if args.dump:
        Path(args.dump).write_text(
            json.dumps({"rows": rows, "first_due": first_due, "start": start, "end": end})
        )
    due_in_window = [i for i, due in enumerate(first_due) if due < end - 5]
    lateness = [polls[i][0] - first_due[i] if i in polls else end - first_due[i] for i in due_in_window]
    gaps = [b - a for times in polls.values() for a, b in itertools.pairwise(times)]
    measured = window(rows, start, end)
    return {
        "name": f"Attune pipeline, {args.workers} worker(s)",
        **measured,
        "first_polls_late_p50": statistics.median(lateness) if lateness else 0.0,
        "first_polls_late_max": max(lateness, default=0.0),
        "first_polls_on_time": sum(1 for late in lateness if late <= args.interval * 0.1)
        / max(1, len(lateness)),
        "gaps": len(gaps),
        "gap_max": max(gaps, default=0.0),
        "cpu_ms_per_poll": 1000 * cpu / max(1, measured["polls"]),
        "polls_per_second": measured["polls"] / (end - start),
    }


async def floor(base_url: str, polls: int) -> dict[str, Any]:
    """A bare httpx client making the same two GETs per poll: the least CPU a poll can cost here."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=f"{base_url}/v1", headers=headers, timeout=30) as client:
        started = time.process_time()
        for i in range(polls):
            await client.get(f"/fine_tuning/jobs/ftjob-bench-{i:06d}")
            await client.get(f"/fine_tuning/jobs/ftjob-bench-{i:06d}/events", params={"limit": 100})
            await asyncio.sleep(0.025)  # stay under the provider's limit
        cpu = time.process_time() - started
    collect(base_url)
    return {"name": "floor: bare httpx, same 2 GETs", "polls": polls, "cpu_ms_per_poll": 1000 * cpu / polls}


# --- part 2: the limit at full demand ------------------------------------------------------------------
async def full_demand(base_url: str, args: argparse.Namespace, limited: bool) -> dict[str, Any]:
    from redis.asyncio import Redis

    from shared.config import Settings
    from shared.providers.base import ProviderError, RateLimited
    from shared.providers.http import ProviderHttp
    from shared.providers.limits import CredentialLimiter, Limits

    redis = Redis.from_url(BENCH_REDIS)
    await redis.flushdb()
    limits = Limits(
        requests_per_second=args.rps * HEADROOM, max_concurrent=64, max_wait_seconds=10, lease_seconds=60
    )
    settings = Settings().providers
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        http = ProviderHttp(
            base_url=f"{base_url}/v1", headers={"Authorization": f"Bearer {API_KEY}"},
            limiter=CredentialLimiter(redis, "bench", limits) if limited else None,
            settings=settings, client=client,
        )  # fmt: skip
        next_job = 0
        deadline = time.time() + args.part2_seconds
        started, cpu_started = time.time(), time.process_time()

        async def poller() -> None:
            nonlocal next_job
            while time.time() < deadline:
                job, next_job = next_job % args.jobs, next_job + 1
                try:
                    await http.json("GET", f"/fine_tuning/jobs/ftjob-bench-{job:06d}")
                    await http.json(
                        "GET", f"/fine_tuning/jobs/ftjob-bench-{job:06d}/events", params={"limit": 100}
                    )
                except (ProviderError, RateLimited):
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(poller() for _ in range(args.pollers)))
        cpu = time.process_time() - cpu_started
    await redis.aclose()
    measured = window(collect(base_url), started, time.time())
    seconds = time.time() - started
    cycle = args.jobs / max(0.001, measured["polls"] / seconds)
    return {
        "name": f"provider client, limiter at {HEADROOM:.0%}" if limited else "baseline: no limiter",
        **measured,
        "requests_per_second": measured["requests"] / seconds,
        "cycle_seconds": cycle,
        "cpu_ms_per_poll": 1000 * cpu / max(1, measured["polls"]),
    }


def table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    print(f"\n{title}\n")
    print(" | ".join(label for label, _ in columns))
    print(" | ".join("---" for _ in columns))
    for row in rows:
        cells = [row.get(key, "-") for _, key in columns]
        print(" | ".join(f"{c:.2f}" if isinstance(c, float) else str(c) for c in cells))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rps", type=float, default=100.0, help="Requests per second the provider allows.")
    parser.add_argument("--interval", type=float, default=480.0, help="Poll interval of a running job (s).")
    parser.add_argument("--part1-seconds", type=float, default=600.0, help="Measured time of the pipeline.")
    parser.add_argument(
        "--part2-seconds", type=float, default=30.0, help="Measured time of each full-demand run."
    )
    parser.add_argument("--workers", type=int, default=2, help="`providers` worker processes.")
    parser.add_argument("--pollers", type=int, default=64, help="Concurrent pollers in part 2.")
    parser.add_argument("--skip-part1", action="store_true", help="Only measure the limit at full demand.")
    parser.add_argument("--dump", help="Write part 1's request log here (JSON) for a closer look.")
    args = parser.parse_args()

    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve_fake, args=(port, args.rps, args.jobs))
    server.start()
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            collect(base_url)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    part1 = [] if args.skip_part1 else [await pipeline(base_url, args), await floor(base_url, 1000)]
    part2 = []
    for limited in (True, False):
        await asyncio.sleep(2)  # let the provider's 1 s window forget the run before
        part2.append(await full_demand(base_url, args, limited=limited))
    server.terminate()

    print(f"\n{args.jobs} running jobs; provider limit {args.rps:.0f} requests/s; {os.cpu_count()} CPUs "
          "shared "
          "by the workers, the fake, Postgres and Redis")  # fmt: skip
    table(
        f"Part 1: pipeline, poll interval {args.interval:.0f} s (+0-10 % jitter), "
        f"{args.part1_seconds:.0f} s measured",
        part1,
        [("run", "name"), ("polls", "polls"), ("polls/s", "polls_per_second"),
         ("first polls on time (≤10 % late)", "first_polls_on_time"), ("late p50 s", "first_polls_late_p50"),
         ("late max s", "first_polls_late_max"), ("2nd-poll gaps", "gaps"), ("gap max s", "gap_max"),
         ("429s", "over_limit"), ("busiest 1 s", "busiest_second"), ("CPU ms/poll", "cpu_ms_per_poll")],
    )  # fmt: skip
    table(
        f"Part 2: {args.pollers} concurrent pollers for {args.part2_seconds:.0f} s, 2 requests per poll",
        part2,
        [("run", "name"), ("requests/s", "requests_per_second"), ("busiest 1 s", "busiest_second"),
         ("refused (429)", "over_limit"), ("polls", "polls"), ("all jobs once every (s)", "cycle_seconds"),
         ("CPU ms/poll", "cpu_ms_per_poll")],
    )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

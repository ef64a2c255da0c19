"""Import benchmark: a generated TMX through the real API and `datasets` worker, and translations
through the batch API, beside parser baselines measured in the same run on the same file.

    .venv/bin/python tests/bench/bench_imports.py --units 100000 --translations 100000
    .venv/bin/python tests/bench/bench_imports.py --units 1000000 --translations 1000000

The TMX is written once under /tmp (about 400 bytes a unit, so ~400 MB for a million) and reused.
Baselines each run in their own process so their peak memory is theirs: Attune's streaming reader
alone; a naive full-tree `xml.etree.ElementTree.parse`; `xml.dom.minidom` (only up to 200,000 units:
past that it needs many GB); translate-toolkit's `tmxfile` when `translate.storage.tmx` is importable
(the `bench` extra: `.venv/bin/pip install -c constraints.txt -e '.[bench]'`; otherwise the run says
it skipped it). Import time is the worker's own started/finished stamps; its peak memory is the
worker process's VmHWM over its life so far (its idle size is shown too) and, beside it, the peak PSS
of the worker and any process it started (the TMX's reader processes), sampled during that one import
(tests/bench/memory.py). Unless --skip-baselines, the fresh import runs again on a new worker with
`ATTUNE_IMPORTS__READ_PROCESSES=1`: the same import read in one process, its baseline in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

BENCH_DB = "attune_bench_imports"
BENCH_REDIS = "redis://127.0.0.1:6379/12"
ADMIN_DSN = os.environ.get("ATTUNE_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
MINIDOM_LIMIT = 200_000


# -- baselines (each in a child process) ------------------------------------------------------------


def baseline(name: str, path: str, limit: int | None) -> dict[str, Any]:
    started = time.perf_counter()
    units = 0
    if name == "attune":
        from shared.imports.tmx import read_tmx

        with open(path, "rb") as stream:
            for rows, rejections, _ in read_tmx(stream):
                units += len(rows) + len(rejections)
    elif name == "etree":
        import xml.etree.ElementTree as ElementTree

        root = ElementTree.parse(path).getroot()
        for unit in root.iter("tu"):
            texts = ["".join(seg.itertext()) for seg in unit.iter("seg")]
            units += len(texts) > 1
    elif name == "minidom":
        from xml.dom import minidom

        document = minidom.parse(path)
        for unit in document.getElementsByTagName("tu"):
            units += len(unit.getElementsByTagName("seg")) > 1
    elif name == "translate-toolkit":
        from translate.storage.tmx import tmxfile  # type: ignore[import-not-found]

        with open(path, "rb") as stream:
            store = tmxfile(stream)
        units = sum(1 for unit in store.units if unit.target)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, "units": units}


def run_baseline(name: str, path: Path) -> dict[str, Any] | str:
    if name == "translate-toolkit":
        probe = subprocess.run(
            [sys.executable, "-c", "import translate.storage.tmx"], capture_output=True, check=False
        )
        if probe.returncode != 0:
            return "skipped: translate-toolkit is not installed (translate.storage.tmx not importable)"
    result = subprocess.run(
        [sys.executable, __file__, "--baseline", name, "--file", str(path)],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return f"failed: {(result.stderr.strip().splitlines() or ['killed'])[-1]}"
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


# -- the service under test -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(storage: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ATTUNE_ENV": "dev",
        "ATTUNE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{BENCH_DB}",
        "ATTUNE_REDIS_URL": BENCH_REDIS,
        "ATTUNE_STORAGE__ROOT": str(storage),
        "ATTUNE_STORAGE__MAX_UPLOAD_BYTES": str(4 * 1024**3),
        "ATTUNE_LOG_LEVEL": "WARNING",
        "ATTUNE_LOG_JSON": "true",
    }


async def prepare_database(env: dict[str, str]) -> None:
    import asyncpg
    from redis.asyncio import Redis

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await admin.close()
    subprocess.run([sys.executable, "-m", "services.cli", "migrate"], env=env, cwd=REPO_ROOT, check=True)
    redis = Redis.from_url(BENCH_REDIS)
    await redis.flushdb()
    await redis.aclose()


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_for(
    client: Any, url: str, headers: dict[str, str], worker: subprocess.Popen[bytes], seconds: float = 3600
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        current: dict[str, Any] = (await client.get(url, headers=headers)).json()
        if current["status"] in ("succeeded", "failed"):
            return current
        await asyncio.sleep(0.2)
    raise TimeoutError(url)


def elapsed(job: dict[str, Any]) -> float:
    from datetime import datetime

    finished, started = datetime.fromisoformat(job["finished_at"]), datetime.fromisoformat(job["started_at"])
    return (finished - started).total_seconds()


async def import_tmx(
    client: Any, headers: dict[str, str], tm_id: str, path: Path, worker: subprocess.Popen[bytes]
) -> dict[str, Any]:
    from tests.bench.memory import PeakTreeMemory

    idle = memory_mb(worker.pid, "VmRSS")
    started = time.perf_counter()
    with PeakTreeMemory(worker.pid) as tree:
        with path.open("rb") as stream:
            response = await client.post(
                f"/v1/translation_memories/{tm_id}/import",
                files={"file": (path.name, stream, "application/xml")},
                headers=headers,
            )
        uploaded = time.perf_counter() - started
        response.raise_for_status()
        job = await wait_for(client, f"/v1/imports/{response.json()['id']}", headers, worker)
    total = time.perf_counter() - started
    assert job["status"] == "succeeded", job
    peak = memory_mb(worker.pid, "VmHWM")
    return {"upload": uploaded, "import": elapsed(job), "total": total, "report": job["report"],
            "idle_mb": idle, "peak_mb": peak, "tree_pss_mb": tree.pss}  # fmt: skip


def translation_bodies(count: int, batch: int) -> list[bytes]:
    bodies = []
    for start in range(0, count, batch):
        rows = [
            {
                "key": f"app.screen{i // 50}.label{i}",
                "source_text": f"Save the changes to item {i} before closing",
                "target_text": f"Änderungen an Element {i} vor dem Schließen speichern",
                "source_language": "en-US",
                "target_language": "de-DE",
                "approved_at": "2024-05-01T12:00:00Z",
            }
            for i in range(start, min(start + batch, count))
        ]
        bodies.append(json.dumps({"translations": rows}).encode())
    return bodies


async def upsert_translations(
    client: Any, headers: dict[str, str], project_id: str, bodies: list[bytes], concurrency: int
) -> tuple[float, dict[str, int]]:
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    queue = list(reversed(bodies))

    async def post_all() -> None:
        while queue:
            body = queue.pop()
            response = await client.post(
                f"/v1/projects/{project_id}/translations",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
            response.raise_for_status()
            for key in totals:
                totals[key] += response.json()[key]

    started = time.perf_counter()
    await asyncio.gather(*(post_all() for _ in range(concurrency)))
    return time.perf_counter() - started, totals


# Imports only the import task: used when the full `datasets` worker cannot start (work in progress
# elsewhere in the tree); the run says so.
ONLY_IMPORTS = (
    "import services.worker.settings as s; s.TASK_MODULES = ('services.worker.imports.tasks',); "
    "from services.cli import app; app(['worker', 'datasets'])"
)


def start_worker(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "services.cli", "worker", "datasets"]
    worker = subprocess.Popen(command, env=env, cwd=REPO_ROOT)
    time.sleep(8)
    if worker.poll() is None:
        return worker, "attune worker datasets"
    print("the full `datasets` worker did not start; running one with the import task only", flush=True)
    worker = subprocess.Popen([sys.executable, "-c", ONLY_IMPORTS], env=env, cwd=REPO_ROOT)
    time.sleep(8)
    return worker, "datasets worker with only services.worker.imports.tasks loaded"


async def service_runs(
    path: Path, translations: int, env: dict[str, str], *, reimport: bool = True
) -> dict[str, Any]:
    import httpx

    await prepare_database(env)
    key = subprocess.run(
        [sys.executable, "-m", "services.cli", "orgs", "create", "Bench", "--quiet"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    api_command = [sys.executable, "-m", "services.cli", "api", "--port", str(port)]
    api = subprocess.Popen(api_command, env=env, cwd=REPO_ROOT)
    worker, worker_kind = start_worker(env)
    results: dict[str, Any] = {"worker": worker_kind}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            created = await client.post("/v1/translation_memories", json={"name": "bench"}, headers=headers)
            tm_id = created.json()["id"]
            results["fresh"] = await import_tmx(client, headers, tm_id, path, worker)
            print(f"  fresh import: {results['fresh']}", flush=True)
            if reimport:
                results["again"] = await import_tmx(client, headers, tm_id, path, worker)
                print(f"  re-import: {results['again']}", flush=True)
            if translations:
                body = {"name": "bench", "source_language": "en-US", "target_languages": ["de-DE"]}
                project_id = (await client.post("/v1/projects", json=body, headers=headers)).json()["id"]
                bodies = translation_bodies(translations, 10_000)
                results["upsert"] = await upsert_translations(client, headers, project_id, bodies, 2)
                print(f"  upsert: {results['upsert']}", flush=True)
                results["upsert_again"] = await upsert_translations(client, headers, project_id, bodies, 2)
                print(f"  upsert again: {results['upsert_again']}", flush=True)
                results["api_peak_mb"] = memory_mb(api.pid, "VmHWM")
    finally:
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return results


# -- the report -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=100_000, help="TM units in the generated TMX.")
    parser.add_argument("--translations", type=int, default=100_000, help="Rows sent through the batch API.")
    parser.add_argument("--skip-baselines", action="store_true", help="Only the service runs.")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(args.baseline, args.file, None)))
        return

    from tests.fixtures.sources import write_tmx

    path = Path(f"/tmp/attune-bench-{args.units}.tmx")
    if not path.exists():
        print(f"writing {path} ...", flush=True)
        write_tmx(path, args.units)
    size_mb = path.stat().st_size / 1024**2
    print(
        f"TMX: {path} ({args.units:,} units, {size_mb:,.0f} MB); load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    baselines: dict[str, dict[str, Any] | str] = {}
    if not args.skip_baselines:
        for name in ("attune", "etree", "minidom", "translate-toolkit"):
            if name == "minidom" and args.units > MINIDOM_LIMIT:
                baselines[name] = f"skipped: needs many GB past {MINIDOM_LIMIT:,} units"
                continue
            print(f"baseline {name} ...", flush=True)
            baselines[name] = run_baseline(name, path)
            print(f"  {baselines[name]}", flush=True)

    storage = Path("/tmp/attune-bench-storage")
    storage.mkdir(exist_ok=True)
    print("service runs ...", flush=True)
    try:
        results = asyncio.run(service_runs(path, args.translations, environment(storage)))
        one_process = None
        if not args.skip_baselines:
            print("the same import read in one process (ATTUNE_IMPORTS__READ_PROCESSES=1) ...", flush=True)
            env = {**environment(storage), "ATTUNE_IMPORTS__READ_PROCESSES": "1"}
            one_process = asyncio.run(service_runs(path, 0, env, reimport=False))["fresh"]
    finally:
        shutil.rmtree(storage, ignore_errors=True)  # the uploaded copies

    fresh, again = results["fresh"], results["again"]
    fresh_notes = (
        f"worker idle {fresh['idle_mb']:.0f} MB; peak PSS during the import {fresh['tree_pss_mb']:.0f} MB; "
        f"upload {fresh['upload']:.1f} s; total {fresh['total']:.1f} s"
    )
    processes = os.environ.get("ATTUNE_IMPORTS__READ_PROCESSES", "2 (default)")
    rows = [
        ("TMX import, empty TM (worker)", args.units, fresh["import"], fresh["peak_mb"],
         f"read in {processes} processes; {fresh_notes}"),
        ("TMX re-import, all unchanged", args.units, again["import"], again["peak_mb"],
         f"merge via staging; unchanged={again['report']['unchanged']:,}; "
         f"peak PSS during the import {again['tree_pss_mb']:.0f} MB"),
    ]  # fmt: skip
    if one_process is not None:
        ratio = one_process["import"] / fresh["import"]
        notes = f"{ratio:.2f}x the import's time; peak PSS {one_process['tree_pss_mb']:.0f} MB"
        label = "baseline: the same import read in one process"
        rows.append((label, args.units, one_process["import"], one_process["peak_mb"], notes))
    attune = baselines.get("attune")
    for name, outcome in baselines.items():
        label = f"parse only: {name}"
        if isinstance(outcome, str):
            rows.append((label, args.units, None, None, outcome))
            continue
        ratio = ""
        if isinstance(attune, dict) and name != "attune":
            ratio = f"{outcome['seconds'] / attune['seconds']:.2f}x Attune's reader time"
        rows.append((label, outcome["units"], outcome["seconds"], outcome["peak_mb"], ratio))
    if "upsert" in results:
        seconds, totals = results["upsert"]
        again_seconds, again_totals = results["upsert_again"]
        label = "batch API upsert, 10k/request, 2 in flight"
        rows.append(
            (label, args.translations, seconds, results["api_peak_mb"], f"inserted={totals['inserted']:,}")
        )
        rows.append(("batch API upsert again (unchanged)", args.translations, again_seconds, None,
                     f"unchanged={again_totals['unchanged']:,}"))  # fmt: skip

    print("\n| step | rows | seconds | rows/s | peak MB | notes |\n|---|---:|---:|---:|---:|---|")
    for label, count, seconds, peak, notes in rows:
        rate = f"{count / seconds:,.0f}" if seconds else "-"
        shown_seconds = f"{seconds:.2f}" if seconds else "-"
        shown_peak = f"{peak:.0f}" if peak else "-"
        print(f"| {label} | {count:,} | {shown_seconds} | {rate} | {shown_peak} | {notes} |")
    print(f"\nworker: {results['worker']}")
    print(
        f"\nload average after: {os.getloadavg()[0]:.2f} (2 CPUs; other work on the machine slows every row)"
    )


if __name__ == "__main__":
    main()

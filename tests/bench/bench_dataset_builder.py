"""Benchmark: the dataset builder against the naive script a user would write, on the same rows.

Run: .venv/bin/python tests/bench/bench_dataset_builder.py [--rows 1000000] [--skip-naive] [--profile]
Fills a database of its own (tests/bench/dataset_data.py: 5% duplicates, 2% dirty rows), then runs,
each in a fresh process so its peak memory is its own: the builder (`create_dataset` + the
`dataset.build` task's `build_dataset`, through Postgres, files and rejects; a build this large forks
pass-1 workers, see services/dataset_builder/parallel.py) and the naive way (fetch every row, dicts,
dedupe with a set, tiktoken per message, shuffle, `json.dumps` each). Prints wall time, CPU time, the
peak RSS of the largest process and the peak PSS of all of a side's processes together, and the
speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.dataset_data import ORG_ID, PROJECT_ID, PROMPT_ID, database_url, prepare  # noqa: E402
from tests.bench.memory import PeakTreeMemory  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"


def _environment(database: str, storage: Path) -> dict[str, str]:
    return os.environ | {
        "ATTUNE_DATABASE_URL": database_url(database),
        "ATTUNE_STORAGE__ROOT": str(storage),
        "ATTUNE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


async def run_builder(profile: bool) -> dict[str, Any]:
    """One dataset over every row, built exactly as the `datasets` worker builds it."""
    from services.dataset_builder.build import build_dataset
    from shared.config import get_settings
    from shared.datasets.recipe import Recipe
    from shared.datasets.service import create_dataset
    from shared.db import create_engine, create_sessionmaker, transaction

    settings = get_settings()
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    recipe = Recipe.model_validate(
        {"sources": {"project_ids": [PROJECT_ID]}, "prompt_id": PROMPT_ID, "provider": "openai",
         "model": MODEL,
         "validation": {"fraction": 0.02}, "seed": 7}
    )  # fmt: skip
    async with transaction(sessions) as session:
        dataset = await create_dataset(session, ORG_ID, recipe, settings)
    started, cpu = time.perf_counter(), time.process_time()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    async with transaction(sessions) as session:
        outcome = await build_dataset(session, settings, dataset.id)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(Path(tempfile.gettempdir()) / "bench_dataset_builder.prof"))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    async with transaction(sessions) as session:
        from shared.datasets.repository import DatasetRepository

        built = await DatasetRepository(session).get_any(dataset.id)
        assert built is not None
        stats = built.stats or {}
    await engine.dispose()
    return {
        "outcome": outcome,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "training_examples": stats.get("training", {}).get("examples"),
        "validation_examples": (stats.get("validation") or {}).get("examples"),
        "training_tokens": stats.get("training", {}).get("tokens"),
        "rejected": stats.get("rejected"),
        "timings": stats.get("timings"),
        "content_hash": built.content_hash,
    }


async def run_naive(database: str, output: Path) -> dict[str, Any]:
    """What a user would script: everything in memory, one tokenizer call per message."""
    import asyncpg

    from services.dataset_builder.tokens import tiktoken_encoding

    encoding = tiktoken_encoding("o200k_base")
    started, cpu = time.perf_counter(), time.process_time()
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    records = await connection.fetch(
        "SELECT source_language, target_language, source_text, target_text, approved_at FROM translations "
        "WHERE project_id = $1 AND approved_at IS NOT NULL ORDER BY approved_at DESC",
        PROJECT_ID,
    )
    system = await connection.fetchval("SELECT system FROM prompts WHERE id = $1", PROMPT_ID)
    await connection.close()
    rows = [dict(record) for record in records]
    del records
    seen: set[tuple[str, str]] = set()
    examples = []
    tokens = 0
    for row in rows:
        source, target = row["source_text"].strip(), row["target_text"].strip()
        if not target or target == source or (source, target) in seen:
            continue
        seen.add((source, target))
        messages = [
            {"role": "system", "content": system.format(source_language="en", target_language="fr")},
            {"role": "user", "content": f"Translate: {source}"},
            {"role": "assistant", "content": target},
        ]
        tokens += sum(len(encoding.encode(message["content"])) + 3 for message in messages) + 3
        examples.append({"messages": messages})
    random.Random(7).shuffle(examples)
    cut = int(len(examples) * 0.98)
    for name, part in (("training", examples[:cut]), ("validation", examples[cut:])):
        with (output / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for example in part:
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    return {
        "outcome": "ready",
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "training_examples": cut,
        "training_tokens": tokens,
    }


def _child(mode: str, database: str, storage: Path, profile: bool) -> dict[str, Any]:
    """Run one side in a fresh process; its peak RSS comes from wait4 (the largest single process of
    its tree), the peak PSS of its whole tree from sampling /proc every 100 ms."""
    command = [sys.executable, __file__, "--child", mode, "--database", database]
    if profile:
        command.append("--profile")
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, env=_environment(database, storage), cwd=ROOT)
        with PeakTreeMemory(process.pid) as peaks:
            _, status, usage = os.wait4(process.pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} failed:\n{text}")
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["peak_tree_pss_mb"] = peaks.pss
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="attune_bench_datasets")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the builder (slower).")
    parser.add_argument("--child", choices=["builder", "naive"])
    arguments = parser.parse_args()
    if arguments.child == "builder":
        print(json.dumps(asyncio.run(run_builder(arguments.profile))))
        return
    if arguments.child == "naive":
        with tempfile.TemporaryDirectory() as output:
            print(json.dumps(asyncio.run(run_naive(arguments.database, Path(output)))))
        return
    asyncio.run(prepare(arguments.database, arguments.rows))
    with tempfile.TemporaryDirectory() as storage:
        builder = _child("builder", arguments.database, Path(storage), arguments.profile)
        naive = None if arguments.skip_naive else _child("naive", arguments.database, Path(storage), False)
    print(f"\n{arguments.rows:,} approved translations (5% duplicates, 2% dirty), 2 token threads, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")  # fmt: skip
    print(f"| {'run':<8} | {'wall s':>7} | {'CPU s':>6} | {'peak RSS MB':>11} "
          f"| {'peak PSS MB, all processes':>26} | {'training examples':>17} |")  # fmt: skip
    print(f"|{'-' * 10}|{'-' * 9}|{'-' * 8}|{'-' * 13}|{'-' * 28}|{'-' * 19}|")
    for name, result in (("builder", builder), ("naive", naive)):
        if result is not None:
            print(f"| {name:<8} | {result['seconds']:>7.2f} | {result['cpu_seconds']:>6.2f} | "
                  f"{result['peak_rss_mb']:>11.0f} | {result['peak_tree_pss_mb']:>26.0f} "
                  f"| {result['training_examples']:>17,} |")  # fmt: skip
    print(
        "\n(CPU s: the measured process's own; the builder's forked workers are not in it. Peak RSS: the "
        "largest single process, from wait4; peak PSS: the whole process tree, sampled every 100 ms.)"
    )
    if naive is not None:
        print(f"\nspeed-up: {naive['seconds'] / builder['seconds']:.2f}x wall, "
              f"{naive['peak_rss_mb'] / builder['peak_rss_mb']:.1f}x less memory")  # fmt: skip
    print(f"builder rejected: {builder['rejected']}")
    print(f"builder phases (s): {builder['timings']}")
    print(f"builder content hash: {builder['content_hash']}")
    print(f"(resource limit check: {resource.getrlimit(resource.RLIMIT_AS)[0]})", file=sys.stderr)


if __name__ == "__main__":
    main()

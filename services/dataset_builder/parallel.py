"""Pass 1 in forked worker processes: each cleans, renders and counts one row-id range of every source.

Cleaning is Python and holds the GIL, so on its own a build keeps one core busy while the other waits
for token counts. A build of at least `min_rows` rows forks one worker per process allowed (fork, not
spawn: the workers share the build's loaded tokenizer and modules, so they cost their own arrays and
little else). Every worker reads its ranges in the snapshot the build's transaction exported and writes
its candidate columns (raw arrays, flushed as it goes), line spill and rejects CSV into the build's
work folder; the build then joins them in source order, range by range, which is the order one
process would have read them in: the files are the same bytes either way (tests compare the two).
Forked workers keep the build's hash seed, so the dedupe keys of every worker agree.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from services.dataset_builder.pipeline import COLUMN_TYPES, CandidateArrays, Row, SourceSpec
from services.dataset_builder.rejects import RejectLog
from shared.processes import fork_worker, kill_workers, wait_worker

if TYPE_CHECKING:
    from services.dataset_builder.pipeline import Pipeline

IdRange = tuple[int, int]  # first and last row id, both included
PartRows = Callable[[SourceSpec, IdRange], AsyncIterator[Sequence[Row]]]
Share = list[tuple[int, SourceSpec, IdRange]]  # (source index, source, id range) in source order


@dataclass
class Parallel:
    """When a build may fork, and where its workers read rows."""

    processes: int
    min_rows: int
    # In the build's process: (rows, smallest id, largest id) of a source.
    extent: Callable[[SourceSpec], Awaitable[tuple[int, int | None, int | None]]]
    # In the build's process, just before forking (e.g. export the snapshot the workers adopt).
    before_fork: Callable[[], Awaitable[None]]
    # In a worker: its own connection, and the rows of a source's id range on it.
    part_rows: Callable[[], AbstractAsyncContextManager[PartRows]]


def id_ranges(low: int, high: int, parts: int) -> list[IdRange]:
    """`[low, high]` cut into up to `parts` consecutive, non-empty ranges of about equal width."""
    span = high - low + 1
    bounds = [low + span * part // parts for part in range(parts + 1)]
    return [(bounds[part], bounds[part + 1] - 1) for part in range(parts) if bounds[part] < bounds[part + 1]]


class WorkerCandidates(CandidateArrays):
    """A worker's candidates: the columns go to raw files (`<prefix>.<column>`) every FLUSH_ROWS rows, so
    a worker holds one stretch of them, not its whole share."""

    FLUSH_ROWS = 65_536

    def __init__(self, spill: IO[bytes], prefix: Path) -> None:
        super().__init__(spill)
        self.files = {name: prefix.with_name(f"{prefix.name}.{name}").open("wb") for name in COLUMN_TYPES}
        self.flushed = 0

    def __len__(self) -> int:
        return self.flushed + len(self.arrays["refs"])

    async def write_behind(self, data: bytes) -> None:
        await super().write_behind(data)
        if len(self.arrays["refs"]) >= self.FLUSH_ROWS:
            self.flush_columns()

    def flush_columns(self) -> None:
        self.flushed += len(self.arrays["refs"])
        for name, (typecode, _) in COLUMN_TYPES.items():
            self.arrays[name].tofile(self.files[name])
            self.arrays[name] = array(typecode)

    def close(self) -> None:
        super().close()
        self.flush_columns()
        for handle in self.files.values():
            handle.close()


class SpillChain:
    """The workers' spill segments, read as one file in merged order (`seek(0)`, then `read(n)`)."""

    def __init__(self, segments: list[tuple[Path, int, int]]) -> None:
        self.segments = segments  # (spill file, first byte, end byte)
        self.files = {path: path.open("rb") for path in {segment[0] for segment in segments}}
        self.seek(0)

    def seek(self, position: int) -> None:
        if position != 0:
            raise ValueError("a spill chain is read from its start only")
        self.index = 0
        self.offset = self.segments[0][1] if self.segments else 0

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0 and self.index < len(self.segments):
            path, _, end = self.segments[self.index]
            take = min(size, end - self.offset)
            handle = self.files[path]
            handle.seek(self.offset)
            parts.append(handle.read(take))
            self.offset += take
            size -= take
            if self.offset >= end:
                self.index += 1
                if self.index < len(self.segments):
                    self.offset = self.segments[self.index][1]
        return b"".join(parts)

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


class Forked:
    """The joined candidates of every worker (see `pipeline.Candidates`)."""

    def __init__(
        self, workers: int, columns: dict[str, Any], spill: SpillChain, reject_files: list[IO[bytes]]
    ) -> None:
        self.workers = workers
        self.columns = columns
        self.spill = spill
        self.reject_files = reject_files

    def __len__(self) -> int:
        return len(self.columns["refs"])

    def column(self, name: str) -> Any:
        return self.columns[name]

    def close(self) -> None:
        self.spill.close()
        for handle in self.reject_files:
            handle.close()


async def read_in_processes(pipeline: Pipeline, work: Path) -> Forked | None:
    """Pass 1 in forked workers, joined; None when the build should read in its own process."""
    parallel = pipeline.plan.parallel
    if parallel is None or parallel.processes < 2:
        return None
    sources = pipeline.plan.sources
    started = time.perf_counter()
    extents = [await parallel.extent(source) for source in sources]
    pipeline.timings["read_extents"] = round(time.perf_counter() - started, 3)
    if sum(count for count, _, _ in extents) < parallel.min_rows:
        return None
    shares: list[Share] = [[] for _ in range(parallel.processes)]
    for index, (source, (count, low, high)) in enumerate(zip(sources, extents, strict=True)):
        if count and low is not None and high is not None:
            for number, id_range in enumerate(id_ranges(low, high, parallel.processes)):
                shares[number].append((index, source, id_range))
    shares = [share for share in shares if share]
    await parallel.before_fork()
    pids: list[int] = []
    try:
        for number, share in enumerate(shares):
            pids.append(_fork(pipeline, parallel, share, work / f"part-{number}"))
        codes = await asyncio.gather(*(wait_worker(pid) for pid in pids))
    except BaseException:
        kill_workers(pids)
        raise
    for number, code in enumerate(codes):
        if code != 0:
            error = work / f"part-{number}.error"
            why = error.read_text().strip().splitlines()[-1] if error.exists() else f"exit status {code}"
            raise RuntimeError(f"dataset build worker {number} failed: {why}")
    started = time.perf_counter()
    joined = _join(pipeline, len(shares), work)
    pipeline.timings["read_join"] = round(time.perf_counter() - started, 3)
    return joined


def _fork(pipeline: Pipeline, parallel: Parallel, share: Share, prefix: Path) -> int:
    def work() -> None:
        summary = asyncio.run(_read_share(pipeline, parallel, share, prefix))
        prefix.with_name(f"{prefix.name}.json").write_text(json.dumps(summary))

    return fork_worker(work, error_file=prefix.with_name(f"{prefix.name}.error"))


async def _read_share(pipeline: Pipeline, parallel: Parallel, share: Share, prefix: Path) -> dict[str, Any]:
    started = time.perf_counter()
    pipeline.rejects = RejectLog(
        pipeline.plan.dataset_id, None, path=prefix.with_name(f"{prefix.name}.rejects")
    )
    with prefix.with_name(f"{prefix.name}.spill").open("w+b") as spill:
        candidates = WorkerCandidates(spill, prefix)
        try:
            async with parallel.part_rows() as rows_of:
                parts = [(index, source, rows_of(source, id_range)) for index, source, id_range in share]
                # Tokens counted between batches, in this process: the other workers use the other cores
                # (a counting thread cost about a tenth more CPU here).
                ends = await pipeline.read_sources(parts, candidates, 0)
        finally:
            candidates.close()
    pipeline.rejects.flush()
    pipeline.rejects.close()
    pairs = sorted(pipeline.pairs.items(), key=lambda item: item[1][0])
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "rows_read": pipeline.rows_read,
        "rejected": dict(pipeline.rejected),
        "rejects": pipeline.rejects.count,
        "pairs": [list(pair) for pair, _ in pairs],
        "ends": ends,
    }


def _join(pipeline: Pipeline, workers: int, work: Path) -> Forked:
    """The workers' counts, pairs, columns, spills and rejects, in source order."""
    summaries = [json.loads((work / f"part-{number}.json").read_text()) for number in range(workers)]
    lookups = []
    segments: dict[tuple[int, int], tuple[int, int, int, int]] = {}  # (source, worker) -> counts, bytes
    pipeline.timings["read_workers"] = [summary["seconds"] for summary in summaries]
    for number, summary in enumerate(summaries):
        pipeline.rows_read += summary["rows_read"]
        pipeline.rejected.update(summary["rejected"])
        pairs = [pipeline.pairs.get((s, t)) or pipeline.new_pair(s, t) for s, t in summary["pairs"]]
        lookups.append(np.array([number_ for number_, _ in pairs] or [0], dtype=np.int16))
        first = first_byte = 0
        for index, end, end_byte in summary["ends"]:
            segments[(index, number)] = (first, end, first_byte, end_byte)
            first, first_byte = end, end_byte
    order = sorted(segments)  # source index, then worker: the reading order
    columns: dict[str, Any] = {}
    for name, (_, dtype) in COLUMN_TYPES.items():
        pieces = []
        for index, number in order:
            first, end, _, _ = segments[(index, number)]
            if end > first:
                path, size = work / f"part-{number}.{name}", np.dtype(dtype).itemsize
                piece = np.fromfile(path, dtype=dtype, count=end - first, offset=first * size)
                pieces.append(lookups[number][piece] if name == "pairs" else piece)
        columns[name] = np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.zeros(0, dtype)
    spill_segments = []
    for index, number in order:
        _, _, first_byte, end_byte = segments[(index, number)]
        if end_byte > first_byte:
            spill_segments.append((work / f"part-{number}.spill", first_byte, end_byte))
    rejects: list[IO[bytes]] = [
        (work / f"part-{number}.rejects").open("rb")
        for number, summary in enumerate(summaries)
        if summary["rejects"]
    ]
    return Forked(workers, columns, SpillChain(spill_segments), rejects)

"""The dataset pipeline: stream rows, clean, render, count tokens, select, write JSONL, report.

Pass 1 streams every source batch by batch: each row is normalised and filtered, rendered into its
JSONL line (spilled to a temporary file) and described by a few integers kept in compact arrays (its
dedupe key, approval time, seeded split key, tokens, bytes). Token counting of one batch runs in
threads (tiktoken and tokenizers release the GIL) while the next batch is cleaned. A large build
splits pass 1 across forked worker processes by row-id range (see `parallel`), since cleaning is
Python and holds the GIL; their arrays and spills join in source order, so the result is the same
bytes whichever way pass 1 ran. Pass 2 decides on those arrays alone which rows go where (see
`selection`) and copies the chosen lines from the spill into the training and validation files, in
source order. Memory stays flat: no row is kept in memory
beyond its batch, whatever the number of rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
import zlib
from array import array
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from services.dataset_builder.cleaning import normalise_all, normaliser, row_filter, rows_with_markup
from services.dataset_builder.models import ModelProfile
from services.dataset_builder.rejects import RejectLog
from services.dataset_builder.render import LineRenderer
from services.dataset_builder.report import rejected_summary, split_summary, too_small_detail
from shared.datasets.reasons import Reason
from shared.datasets.recipe import Recipe
from shared.datasets.source_rows import SourceQuery
from shared.imports.markup import restore_markup, strip_markup
from shared.prompts.service import CompiledPrompt
from shared.storage import StorageWriter, StoredObject

if TYPE_CHECKING:
    from services.dataset_builder.parallel import Parallel

# (row id, source language, target language, source text, target text, context, approved at in
# microseconds since the epoch or None, markup JSON or None): what a source stream yields.
Row = Sequence[Any]
NULL_APPROVAL = -(2**62)  # sorts as the oldest approval
REF_BITS = 40  # a candidate's ref: source index << 40 | row id
ROW_ID_MASK = (1 << REF_BITS) - 1
MAX_QUEUED_WRITES = 8  # spill writes (one batch each, ~1 MB) that may wait for the disk
# Candidate columns filled per row in pass 1 (separate lists: transposing row tuples costs more).
KEY_COLUMNS = ("refs", "approved", "groups", "target_keys", "source_keys", "split_keys", "pairs")
TRAINING, VALIDATION = 0, 1


@dataclass(frozen=True)
class SourceSpec:
    kind: Literal["translations", "tm_units"]
    id: str
    role: Literal["training", "validation"]
    query: SourceQuery | None = None  # the rows it reads (None: the stream knows)

    @property
    def row_prefix(self) -> str:
        return "tr" if self.kind == "translations" else "tmu"


RowStream = Callable[[SourceSpec], AsyncIterator[Sequence[Row]]]
# Candidate columns and their element types (array typecode, numpy dtype).
COLUMN_TYPES: dict[str, tuple[str, type[np.generic]]] = {
    "refs": ("Q", np.uint64), "approved": ("q", np.int64), "groups": ("q", np.int64),
    "target_keys": ("q", np.int64), "source_keys": ("q", np.int64),
    "split_keys": ("I", np.uint32),  # crc32 values
    "tokens": ("i", np.int32), "nbytes": ("i", np.int32), "roles": ("b", np.int8), "pairs": ("h", np.int16),
}  # fmt: skip
RejectSink = Callable[[IO[bytes]], Awaitable[None]]  # COPY one file of rejects CSV (REJECT_COLUMNS)
OpenWriter = Callable[[str], Awaitable[StorageWriter]]


@dataclass
class BuildPlan:
    recipe: Recipe
    prompt: CompiledPrompt
    profile: ModelProfile
    sources: list[SourceSpec]
    max_file_bytes: int | None
    min_examples: int
    token_threads: int = 2
    spill_dir: Path | None = None
    excerpt_chars: int = 200
    dataset_id: str = ""
    parallel: Parallel | None = None  # how pass 1 may fork (None: always in this process)


@dataclass
class BuiltFile:
    stored: StoredObject
    examples: int
    tokens: int


@dataclass
class BuildResult:
    training: BuiltFile
    validation: BuiltFile | None
    content_hash: str
    data_cutoff: datetime | None
    stats: dict[str, Any]


class DatasetTooSmall(Exception):
    """The recipe ends below its minimum number of training examples."""

    def __init__(self, detail: str, stats: dict[str, Any]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.stats = stats


@dataclass
class _Batch:
    """One batch after cleaning and rendering, waiting for its token counts."""

    source_index: int
    role: int
    # One list per candidate column (see KEY_COLUMNS), then each row's line and fixed tokens;
    # `texts` holds two texts per row, counted in threads.
    columns: tuple[list[int], ...] = field(default_factory=lambda: tuple([] for _ in KEY_COLUMNS))
    lines: list[bytes] = field(default_factory=list)
    fixed: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class Candidates(Protocol):
    """What pass 2 reads: the columns, and the spill holding each candidate's line in order."""

    spill: Any  # seek(0), then read(n) in order
    reject_files: list[IO[bytes]]  # rejects CSV that pass 1 left in files of its own (forked workers)

    def __len__(self) -> int: ...

    def column(self, name: str) -> Any: ...


class CandidateArrays:
    """Pass 1's output: one entry per surviving row in compact arrays, its line in the spill file."""

    def __init__(self, spill: IO[bytes]) -> None:
        self.spill = spill
        self.arrays = {name: array(typecode) for name, (typecode, _) in COLUMN_TYPES.items()}
        self.reject_files: list[IO[bytes]] = []  # this process's rejects go to the pipeline's RejectLog
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="spill")
        self._writes: deque[asyncio.Future[int]] = deque()

    def __len__(self) -> int:
        return len(self.arrays["refs"])

    async def write_behind(self, data: bytes) -> None:
        """Append to the spill in a thread of its own, in order, without waiting (a few writes may queue)."""
        loop = asyncio.get_running_loop()
        self._writes.append(loop.run_in_executor(self._writer, self.spill.write, data))
        while len(self._writes) > MAX_QUEUED_WRITES:
            await self._writes.popleft()

    async def drain_writes(self) -> None:
        while self._writes:
            await self._writes.popleft()

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def column(self, name: str) -> Any:
        """A column as a numpy array (a view of the array's buffer, no copy)."""
        values, dtype = self.arrays[name], COLUMN_TYPES[name][1]
        return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


class Pipeline:
    """One build: `await Pipeline(plan, ...).run()`."""

    def __init__(
        self, plan: BuildPlan, stream: RowStream, reject: RejectSink, open_writer: OpenWriter
    ) -> None:
        self.plan = plan
        self.recipe = plan.recipe
        self.stream = stream
        self.reject_sink = reject
        self.open_writer = open_writer
        self.counter = plan.profile.counter
        self.renderer = LineRenderer(plan.prompt, self.recipe.format)
        self.normalise = normaliser(self.recipe.cleaning)
        self.check_row = row_filter(self.recipe.cleaning)
        self.rejected: Counter[str] = Counter()
        self.rejects = RejectLog(plan.dataset_id, plan.spill_dir)
        self.rows_read = 0
        self.max_approved: int | None = None
        self.pairs: dict[tuple[str, str], tuple[int, tuple[int, int]]] = {}
        self.fixed_tokens: dict[str, int] = {}
        self.timings: dict[str, Any] = {}  # seconds per phase, and how pass 1 ran

    async def run(self) -> BuildResult:
        with tempfile.TemporaryDirectory(dir=self.plan.spill_dir, prefix="attune-build-") as work:
            try:
                return await self._run(Path(work))
            finally:
                self.rejects.close()

    async def _run(self, work: Path) -> BuildResult:
        from services.dataset_builder.parallel import read_in_processes

        started = time.perf_counter()
        forked = await read_in_processes(self, work) if self.plan.parallel else None
        if forked is not None:
            try:
                self.timings["read_clean_count"] = round(time.perf_counter() - started, 3)
                self.timings["read_processes"] = forked.workers
                return await self._select_and_write(forked)
            finally:
                forked.close()
        with tempfile.TemporaryFile(dir=work) as spill:
            candidates = CandidateArrays(spill)
            try:
                sources = enumerate(self.plan.sources)
                parts = [(index, source, self.stream(source)) for index, source in sources]
                await self.read_sources(parts, candidates, self.plan.token_threads)
                self.timings["read_clean_count"] = round(time.perf_counter() - started, 3)
                self.timings["read_processes"] = 1
                return await self._select_and_write(candidates)
            finally:
                candidates.close()

    # Pass 1 -------------------------------------------------------------------------------------

    async def read_sources(
        self,
        parts: list[tuple[int, SourceSpec, AsyncIterator[Sequence[Row]]]],
        candidates: CandidateArrays,
        token_threads: int,
    ) -> list[tuple[int, int, int]]:
        """Pass 1 over (source index, source, its rows) in order; (source index, candidates, spill
        bytes) after each part. With no token threads, tokens are counted between batches."""
        ends = []
        with ThreadPoolExecutor(max(1, token_threads), thread_name_prefix="tokens") as pool:
            for index, source, rows in parts:
                await self._read_source(index, source, rows, candidates, pool=pool, threads=token_threads)
                await candidates.drain_writes()
                ends.append((index, len(candidates), candidates.spill.tell()))
        return ends

    async def _read_source(
        self,
        index: int,
        source: SourceSpec,
        stream: AsyncIterator[Sequence[Row]],
        candidates: CandidateArrays,
        *,
        pool: ThreadPoolExecutor,
        threads: int,
    ) -> None:
        """One source's rows into the candidates; `threads` 0 counts tokens here, between batches."""
        loop = asyncio.get_running_loop()
        role = TRAINING if source.role == "training" else VALIDATION
        in_flight: deque[tuple[_Batch, list[asyncio.Future[Any]]]] = deque()
        async for rows in stream:
            batch = self._prepare(index, source, role, rows)
            if threads == 0:
                counted: asyncio.Future[Any] = loop.create_future()
                counted.set_result(self.counter.count(batch.texts))
                futures = [counted]
            else:
                texts, size = batch.texts, -(-len(batch.texts) // threads) or 1
                chunks = [texts[start : start + size] for start in range(0, len(texts), size)]
                futures = [loop.run_in_executor(pool, self.counter.count, chunk) for chunk in chunks]
            in_flight.append((batch, futures))
            while len(in_flight) > threads:
                await self._commit(*in_flight.popleft(), source, candidates)
        while in_flight:
            await self._commit(*in_flight.popleft(), source, candidates)

    def _prepare(self, index: int, source: SourceSpec, role: int, rows: Sequence[Row]) -> _Batch:
        """Normalise, filter and render one batch (the hot loop: one tuple per surviving row)."""
        options = self.recipe.cleaning
        normalise, renderer = self.normalise, self.renderer
        frames, uses_context = renderer.frames, renderer.uses_context
        dedupe, markup_mode = options.dedupe, options.markup
        chat = self.recipe.format == "chat"
        pairs, fixed_tokens = self.pairs, self.fixed_tokens
        excerpt = self.plan.excerpt_chars
        plain_escape = options.normalize_whitespace
        batch = _Batch(index, role)
        texts = batch.texts
        add_ref, add_approved, add_group, add_target, add_source, add_split, add_pair = (
            column.append for column in batch.columns
        )
        add_line, add_fixed = batch.lines.append, batch.fixed.append
        ref_base = index << REF_BITS
        self.rows_read += len(rows)
        raw_sources, raw_targets = [row[3] for row in rows], [row[4] for row in rows]
        if markup_mode != "keep":
            for position, row in enumerate(rows):
                if row[7]:
                    raw_sources[position], raw_targets[position] = _apply_markup(
                        markup_mode, row[7], raw_sources[position], raw_targets[position]
                    )
        sources = normalise_all(raw_sources, normalise, options)
        targets = normalise_all(raw_targets, normalise, options)
        with_markup = rows_with_markup(sources, targets)
        check = self.check_row
        for position, (row, source_text, target_text) in enumerate(zip(rows, sources, targets, strict=True)):
            row_id, source_language, target_language, _, _, context, approved, _ = row
            problem = check(source_text, target_text, position in with_markup)
            if problem is not None:
                excerpts = (source_text[:excerpt], target_text[:excerpt])
                self._reject(source, row_id, problem[0], problem[1], excerpts)
                continue
            pair_salt = pairs.get((source_language, target_language))
            if pair_salt is None:
                pair_salt = self.new_pair(source_language, target_language)
            pair, salt = pair_salt
            frame = frames.get((source_language, target_language, context if uses_context else None))
            if frame is None:
                line, system, user, roles = renderer.render(
                    source_language, target_language, source_text, target_text, context
                )
            else:
                if plain_escape:  # whitespace normalisation left no U+2028/U+2029/NEL: the C encoder alone
                    line = (frame.line_before + encode_basestring(source_text)[1:-1] + frame.line_between
                            + encode_basestring(target_text)[1:] + frame.line_end)  # fmt: skip
                else:
                    line = frame.line(source_text, target_text)
                system, roles = frame.system, frame.roles
                user = frame.user_before + source_text + frame.user_after
            fixed = fixed_tokens.get(system)
            if fixed is None:
                fixed = self._fixed_tokens(system, roles) if chat else 0
            folded = source_text.casefold()
            source_key = hash(folded)
            # Dedupe groups are per role and language pair: a per-pair salt keeps them apart.
            if dedupe == "normalized":
                group = source_key ^ salt[role]
            elif dedupe == "exact":
                group = hash((source_text, target_text)) ^ salt[role]
            else:
                group = ref_base | row_id
            add_ref(ref_base | row_id)
            add_approved(NULL_APPROVAL if approved is None else approved)
            add_group(group)
            add_target(hash(target_text))
            add_source(source_key)
            add_split(zlib.crc32(folded.encode()))
            add_pair(pair)
            add_line(line.encode())
            add_fixed(fixed)
            if chat:
                texts += (user, target_text)
            else:
                texts += (f"{system}\n\n{user}" if system else user, target_text)
        return batch

    def new_pair(self, source_language: str, target_language: str) -> tuple[int, tuple[int, int]]:
        """A new language pair's number and its dedupe salts (training, validation); the salts hash the
        pair's names, so every process of a build (all forked from one) gives a pair the same salts."""
        number = len(self.pairs)
        salts = (
            hash((TRAINING, source_language, target_language, "attune")),
            hash((VALIDATION, source_language, target_language, "attune")),
        )
        self.pairs[(source_language, target_language)] = (number, salts)
        return number, salts

    def _fixed_tokens(self, system: str, roles: tuple[str, ...]) -> int:
        """Tokens of a chat example besides its user and assistant texts: the system text and framing."""
        tokens = int(self.counter.count([system])[0]) if system else 0
        tokens += self.counter.framing(roles)
        if len(self.fixed_tokens) < 10_000:
            self.fixed_tokens[system] = tokens
        return tokens

    async def _commit(
        self,
        batch: _Batch,
        futures: list[asyncio.Future[Any]],
        source: SourceSpec,
        candidates: CandidateArrays,
    ) -> None:
        """Add a counted batch to the candidates; examples over the context are rejected here."""
        counts = np.concatenate(await asyncio.gather(*futures)) if futures else np.zeros(0, np.int64)
        if not batch.lines:
            return
        columns, lines = batch.columns, batch.lines
        tokens = np.asarray(batch.fixed, dtype=np.int64) + counts[0::2] + counts[1::2]
        context = self.plan.profile.context_tokens
        if context is not None and int(tokens.max()) > context:
            keep = tokens <= context
            excerpt = self.plan.excerpt_chars
            for position in np.flatnonzero(~keep).tolist():
                # The excerpts of a too-long row are its rendered user text (prompt included) and target.
                user, target_text = batch.texts[2 * position], batch.texts[2 * position + 1]
                detail = f"{int(tokens[position])} tokens; the model's context is {context}"
                row_id = columns[0][position] & ROW_ID_MASK
                self._reject(source, row_id, Reason.TOO_LONG, detail, (user[:excerpt], target_text[:excerpt]))
            kept = np.flatnonzero(keep).tolist()
            if not kept:
                return
            columns = tuple([column[i] for i in kept] for column in columns)
            lines = [lines[i] for i in kept]
            tokens = tokens[keep]
        arrays = candidates.arrays
        for name, column in zip(KEY_COLUMNS, columns, strict=True):
            arrays[name].extend(column)
        arrays["roles"].frombytes(bytes([batch.role]) * len(lines))
        arrays["tokens"].extend(tokens.tolist())
        arrays["nbytes"].extend(map(len, lines))
        await candidates.write_behind(b"".join(lines))

    def _reject(
        self, source: SourceSpec, row_id: int, reason: Reason, detail: str, excerpts: tuple[str, str]
    ) -> None:
        self.rejected[reason] += 1
        self.rejects.add(f"{source.row_prefix}_{row_id}", source.id, reason.value, detail, excerpts)

    # Pass 2 -------------------------------------------------------------------------------------

    async def _select_and_write(self, candidates: Candidates) -> BuildResult:
        from services.dataset_builder.writing import select, write_files

        approved = candidates.column("approved")
        approved = approved[approved != NULL_APPROVAL]
        self.max_approved = int(approved.max()) if len(approved) else None
        started = time.perf_counter()
        selected = select(self, candidates)
        self.timings["select"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        for found in candidates.reject_files:
            found.seek(0)
            await self.reject_sink(found)
        if self.rejects.count:
            await self.reject_sink(self.rejects.finish())
        self.timings["store_rejects"] = round(time.perf_counter() - started, 3)
        training = selected.training
        minimum = self.plan.min_examples
        stats = self._stats(selected, candidates)
        if int(training.sum()) < minimum:
            raise DatasetTooSmall(
                too_small_detail(int(training.sum()), minimum, self.rows_read, dict(self.rejected)), stats
            )
        started = time.perf_counter()
        files = await write_files(self, candidates, selected)
        self.timings["write_files"] = round(time.perf_counter() - started, 3)
        stats["timings"] = self.timings
        training_file, validation_file = files
        digest = hashlib.sha256(
            f"training:{training_file.stored.sha256}\nvalidation:"
            f"{validation_file.stored.sha256 if validation_file else ''}\n".encode()
        ).hexdigest()
        return BuildResult(training_file, validation_file, digest, self._cutoff(), stats)

    def _cutoff(self) -> datetime | None:
        if self.max_approved is None:
            return None
        return datetime.fromtimestamp(self.max_approved / 1_000_000, tz=UTC)

    def _stats(self, selected: Any, candidates: Candidates) -> dict[str, Any]:
        tokens = candidates.column("tokens").astype(np.int64)
        nbytes = candidates.column("nbytes").astype(np.int64)
        profile = self.plan.profile
        pair_names = {index: f"{source}>{target}" for (source, target), (index, _) in self.pairs.items()}
        validation = selected.validation
        return {
            "rows_read": self.rows_read,
            "rejected": rejected_summary(dict(self.rejected)),
            "rejected_total": sum(self.rejected.values()),
            "training": split_summary(tokens[selected.training], nbytes[selected.training]),
            "validation": split_summary(tokens[validation], nbytes[validation]) if validation.any() else None,
            "language_pairs": selected.pair_counts(pair_names),
            "tokenizer": {"name": profile.tokenizer, "exact": profile.exact, "note": profile.note},
            "context_tokens": profile.context_tokens,
            "max_file_bytes": self.plan.max_file_bytes,
            "min_examples": self.plan.min_examples,
            "format": self.recipe.format,
            "data_cutoff": cutoff.isoformat() if (cutoff := self._cutoff()) else None,
        }


def _apply_markup(mode: str, markup: Any, source_text: str, target_text: str) -> tuple[str, str]:
    """TM inline codes stripped, or put back from the unit's markup `{"source": {...}, "target": {...}}`."""
    if mode == "strip":
        return strip_markup(source_text), strip_markup(target_text)
    if isinstance(markup, str):
        markup = json.loads(markup)
    codes = markup if isinstance(markup, dict) else {}
    return (
        restore_markup(source_text, codes.get("source") or {}),
        restore_markup(target_text, codes.get("target") or {}),
    )

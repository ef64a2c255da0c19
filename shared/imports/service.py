"""Imports: recorded at upload, run on the `datasets` queue, all-or-nothing, reported once.

A run reads the stored file in a thread (a large TMX: beside reader processes, see
`shared.imports.parallel`) and COPYs its rows inside a savepoint: into the destination table when it
starts empty (the fast path), else into a staging table merged in one `INSERT ... ON CONFLICT` at the
end. A file that fails as a whole rolls the savepoint back, so nothing from it is stored and nothing
stored before changes. A retried run of a finished import does nothing: the report is written once,
with the rows, in the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.events.service import record_event
from shared.imports.options import ImportOptions
from shared.imports.parallel import Unreadable, read_in_processes
from shared.imports.pipeline import in_thread
from shared.imports.readers import read_file
from shared.imports.records import Batch, ImportFileError, ImportFormat, Rejection
from shared.imports.repository import (
    ACTIVE_STATUSES,
    Destination,
    ImportRepository,
    Loader,
    tm_units_destination,
    translations_destination,
)
from shared.imports.sinks import Converter, Record, tm_units_converter, translations_converter
from shared.imports.tmx import Split, split_tmx
from shared.models import ImportJob, Project, TranslationMemory
from shared.queue import QueuedJob, enqueue_job, register_sweep
from shared.storage import Storage, StoredObject
from shared.translation_memories.repository import TranslationMemoryRepository

log = structlog.get_logger()

TASK = "import.run"
UNIQUE_VIOLATION = "23505"
MAX_ATTEMPTS = 5


def job_id(import_id: str) -> str:
    """The ARQ job id of an import: one queued run at a time."""
    return f"import:{import_id}"


async def create_import(
    session: AsyncSession,
    organization_id: str,
    *,
    import_id: str | None = None,
    stored: StoredObject,
    import_format: ImportFormat,
    options: ImportOptions,
    file_name: str | None,
    project_id: str | None = None,
    translation_memory_id: str | None = None,
) -> ImportJob:
    """Record an uploaded file's import and queue it (sent once the transaction commits)."""
    job = await ImportRepository(session).add(
        ImportJob(
            **({"id": import_id} if import_id else {}),
            organization_id=organization_id,
            project_id=project_id,
            translation_memory_id=translation_memory_id,
            format=import_format,
            file_name=file_name,
            byte_size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.key,
            options=options.model_dump(exclude_defaults=True, exclude={"format"}),
            status="queued",
        )
    )
    enqueue_job(session, "datasets", TASK, job.id, job_id=job_id(job.id))
    log.info("import.queued", import_id=job.id, format=import_format, bytes=stored.size)
    return job


async def mark_running(session: AsyncSession, import_id: str) -> ImportJob | None:
    """Claim an import for a run (the caller commits, so the status is visible while it runs)."""
    job = await ImportRepository(session).get_for_update(import_id)
    if job is None or job.status not in ACTIVE_STATUSES:
        return job
    job.status = "running"
    job.attempts += 1
    job.started_at = datetime.now(UTC)
    await session.flush()
    return job


@dataclass
class Tally:
    """Counts and the first rejections, as the report shows them."""

    limit: int
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    languages: set[str] = field(default_factory=set)
    read_processes: int = 1

    def reject(self, rejections: list[Rejection]) -> None:
        self.rejected += len(rejections)
        self.rows += len(rejections)
        room = self.limit - len(self.rejections)
        if room > 0:
            self.rejections.extend(rejections[:room])

    def report(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "rejections": [r.as_report() for r in sorted(self.rejections, key=lambda r: r.line)],
            "rejections_truncated": self.rejected > len(self.rejections),
        }


class _RepeatedInFile(Exception):
    pass


def _reading(
    storage: Storage, job: ImportJob, settings: Settings, *, whole: bool
) -> tuple[AsyncGenerator[Batch, None], int]:
    """The file's batches, and how many processes read it: a large TMX is cut into stretches read by
    processes of their own (see `shared.imports.parallel`), anything else is read in a thread."""
    options = ImportOptions.model_validate({**job.options, "format": job.format})
    import_format = options.format or "tmx"
    max_segment_chars = settings.imports.max_segment_chars
    split = None if whole or import_format != "tmx" else _split(storage, job, settings)
    if split is not None:
        batches = read_in_processes(
            lambda: storage.open_read(job.storage_key),
            split,
            source_language=options.source_language,
            max_segment_chars=max_segment_chars,
            spool_dir=settings.imports.spool_dir,
        )
        return batches, len(split.stretches)

    def read_whole() -> Iterator[Batch]:
        with storage.open_read(job.storage_key) as stream:
            yield from read_file(
                import_format,
                stream,
                options,
                max_segment_chars=max_segment_chars,
                received_at=job.created_at,
            )

    return in_thread(read_whole), 1


def _split(storage: Storage, job: ImportJob, settings: Settings) -> Split | None:
    processes = settings.imports.read_processes
    if processes < 2 or job.byte_size < settings.imports.parallel_min_bytes:
        return None
    with storage.open_read(job.storage_key) as stream:
        if not stream.seekable():
            return None
        return split_tmx(stream, job.byte_size, processes, first_share=settings.imports.first_stretch_share)


async def _load(
    session: AsyncSession,
    *,
    settings: Settings,
    storage: Storage,
    job: ImportJob,
    loader: Loader,
    convert: Converter,
    staged: bool,
    whole: bool,
) -> Tally:
    tally = Tally(settings.imports.max_reported_rejections)
    async with session.begin_nested():  # everything below is undone if the file fails as a whole
        if staged:
            await loader.create_staging()
        batches, tally.read_processes = _reading(storage, job, settings, whole=whole)
        copied = 0

        async def converted() -> AsyncGenerator[list[Record], None]:
            nonlocal copied
            async for rows, rejections, skipped in batches:
                records, refused = convert(rows, staged)
                tally.reject(rejections + refused)
                tally.skipped += skipped
                tally.languages.update(row[3] for row in rows)
                tally.languages.update(row[4] for row in rows)
                copied += len(records)
                yield records

        async with aclosing(batches), aclosing(converted()) as pieces:  # stopped if the load fails
            if tally.read_processes > 1:
                await _copy_streamed(loader, pieces, staged)
            else:
                await _copy_batched(loader, pieces, staged, settings.imports.batch_rows)
        tally.rows += copied
        if not staged:
            tally.inserted = copied
            return tally
        counts = await loader.merge()
        tally.inserted, tally.updated = counts.inserted, counts.updated
        tally.unchanged = counts.distinct - counts.inserted - counts.updated
        if copied > counts.distinct:
            repeated = await loader.superseded(settings.imports.max_reported_rejections)
            tally.rejected += copied - counts.distinct
            room = tally.limit - len(tally.rejections)
            tally.rejections.extend(
                Rejection(line, f"repeated at line {later}, which was applied", _shown_key(key))
                for line, key, later in repeated[: max(room, 0)]
            )
        await loader.drop_staging()
    return tally


def _shown_key(key: str | None) -> str | None:
    return None if key is None or key.startswith("#") else key


async def _copy_streamed(loader: Loader, pieces: AsyncIterator[list[Record]], staged: bool) -> None:
    """One COPY for the whole file, fed as the readers' batches come: Postgres ingests while the
    import unpickles and encodes. (Measured on 1M units: 13.7 s against 14.8-18.1 s in 5,000-row COPYs.)"""

    async def records() -> AsyncGenerator[Record, None]:
        async for piece in pieces:
            for record in piece:
                yield record

    async with aclosing(records()) as streamed:
        await _copy(loader, streamed, staged)


async def _copy_batched(
    loader: Loader, pieces: AsyncIterator[list[Record]], staged: bool, batch_rows: int
) -> None:
    """A COPY per `batch_rows` records, for a file read in this process's thread: each COPY is
    encoded without a pause, and the reading thread has the GIL while Postgres ingests it. (Measured
    on 1M units: 19.3-20.6 s against 21.7 s streamed, where the two threads take turns row by row.)"""
    pending: list[Record] = []
    async for piece in pieces:
        pending.extend(piece)
        if len(pending) >= batch_rows:
            await _copy(loader, pending, staged)
            pending = []
    if pending:
        await _copy(loader, pending, staged)


async def _copy(loader: Loader, records: list[Record] | AsyncIterator[Record], staged: bool) -> None:
    try:
        await loader.copy(records)
    except Exception as error:
        if staged or getattr(error, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        raise _RepeatedInFile from None


async def _destination(
    session: AsyncSession, job: ImportJob
) -> tuple[Destination, Converter, TranslationMemory | None]:
    if job.project_id is not None:
        project = await session.get(Project, job.project_id)
        if project is None or project.deleted_at is not None:
            raise ImportFileError("the project was deleted before the import ran")
        return translations_destination(project.id), translations_converter(project), None
    assert job.translation_memory_id is not None
    translation_memory = await session.get(TranslationMemory, job.translation_memory_id, with_for_update=True)
    if translation_memory is None or translation_memory.deleted_at is not None:
        raise ImportFileError("the translation memory was deleted before the import ran")
    return (
        tm_units_destination(translation_memory.id),
        tm_units_converter(translation_memory.id),
        translation_memory,
    )


async def run_import(
    session: AsyncSession, settings: Settings, storage: Storage, import_id: str
) -> ImportJob | None:
    """Read, load and report one import; a finished import is left as it is (idempotent retries)."""
    job = await ImportRepository(session).get_for_update(import_id)
    if job is None or job.status not in ACTIVE_STATUSES:
        return job
    started = datetime.now(UTC)
    try:
        destination, convert, translation_memory = await _destination(session, job)
        loader = Loader(session, destination)
        await loader.lock_destination()
        staged, whole = not await loader.destination_is_empty(), False
        while True:
            try:
                tally = await _load(
                    session,
                    settings=settings,
                    storage=storage,
                    job=job,
                    loader=loader,
                    convert=convert,
                    staged=staged,
                    whole=whole,
                )
                break
            except _RepeatedInFile:  # the fast path's COPY met a key twice: merge through staging
                log.info("import.repeated_rows_in_file", import_id=job.id)
                staged = True
            except Unreadable:  # a stretch failed: read it all in one process, which names the place
                log.info("import.read_in_one_process", import_id=job.id)
                whole = True
    except ImportFileError as error:
        return await _finish(session, job, "failed", error=error.as_problem())
    if translation_memory is not None:
        await TranslationMemoryRepository(session).refresh_statistics(translation_memory, tally.languages)
    log.info(
        "import.loaded",
        import_id=job.id,
        rows=tally.rows,
        inserted=tally.inserted,
        updated=tally.updated,
        rejected=tally.rejected,
        read_processes=tally.read_processes,
        seconds=round((datetime.now(UTC) - started).total_seconds(), 3),
    )
    return await _finish(session, job, "succeeded", report=tally.report())


async def _finish(
    session: AsyncSession,
    job: ImportJob,
    status: str,
    *,
    report: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> ImportJob:
    job.status = status
    job.report = report
    job.error = error
    job.finished_at = datetime.now(UTC)
    await session.flush()
    summary = {k: v for k, v in (report or {}).items() if k not in ("rejections",)}
    await record_event(
        session,
        job.organization_id,
        f"import.{status}",
        {"id": job.id, "report": summary, "error": error},
        subject_id=job.id,
    )
    if error is not None:
        log.info("import.failed", import_id=job.id, detail=error.get("detail"))
    return job


async def give_up(session: AsyncSession, import_id: str) -> ImportJob | None:
    """End an import that keeps crashing its worker (after MAX_ATTEMPTS runs)."""
    job = await ImportRepository(session).get_for_update(import_id)
    if job is None or job.status not in ACTIVE_STATUSES:
        return job
    problem = {"code": "import_crashed", "detail": f"the import did not finish after {job.attempts} attempts"}
    return await _finish(session, job, "failed", error=problem)


@register_sweep("datasets")
async def due_imports(session: AsyncSession) -> list[QueuedJob]:
    """Imports whose run was lost (Redis flushed, worker killed): enqueue them again."""
    from shared.config import get_settings

    older_than = datetime.now(UTC) - timedelta(seconds=get_settings().imports.requeue_after_seconds)
    ids = await ImportRepository(session).due(older_than)
    return [QueuedJob("datasets", TASK, (import_id,), job_id(import_id)) for import_id in ids]

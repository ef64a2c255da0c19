"""A large TMX read by several processes: the same rows, ids, reports and errors as one process gives."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.imports.parallel import Unreadable, read_in_processes
from shared.imports.records import Batch, Rejection, SourceRow
from shared.imports.tmx import Split, read_tmx, split_tmx
from shared.models import ImportJob, TmUnit
from tests.fixtures.organizations import OrgWithKey, create_org
from tests.fixtures.sources import (
    create_translation_memory,
    run_import_now,
    simple_tmx,
    tmx_document,
    tmx_unit,
)
from tests.sources.test_import_runs import upload
from tests.sources.test_tmx_reader import mixed_units


def reader_processes() -> list[int]:
    """Stretch readers this test process started that are still alive (or not yet reaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"PPid:\t{os.getpid()}\n" in status and b"shared.imports.stretch_reader" in command:
                found.append(int(entry.name))
    return found


def file_of(tmp_path: Path, content: bytes) -> tuple[Callable[[], BinaryIO], Split]:
    path = tmp_path / "memory.tmx"
    path.write_bytes(content)
    split = split_tmx(io.BytesIO(content), len(content), 3)
    assert split is not None and len(split.stretches) == 3
    return (lambda: path.open("rb")), split


async def read_all(
    open_stream: Callable[[], BinaryIO], split: Split
) -> tuple[list[SourceRow], list[Rejection]]:
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    batch: Batch
    async for batch in read_in_processes(open_stream, split, source_language=None, max_segment_chars=1000):
        rows.extend(batch[0])
        rejections.extend(batch[1])
    return rows, rejections


async def test_reader_processes_give_what_one_reader_gives(tmp_path: Path) -> None:
    content = tmx_document(mixed_units(3000))
    rows, rejections = await read_all(*file_of(tmp_path, content))
    whole_rows: list[SourceRow] = []
    whole_rejections: list[Rejection] = []
    for batch in read_tmx(io.BytesIO(content), max_segment_chars=1000):
        whole_rows.extend(batch[0])
        whole_rejections.extend(batch[1])
    assert [row[1:] for row in rows] == [row[1:] for row in whole_rows]
    assert rejections == whole_rejections and len(rejections) > 400
    assert reader_processes() == []


async def test_a_stretch_cut_inside_a_comment_is_unreadable(tmp_path: Path) -> None:
    hidden = "<!--\n" + "".join(tmx_unit(f"old{i}", "Old", "Alt") for i in range(3000)) + "-->\n"
    content = tmx_document([tmx_unit("a", "Yes", "Ja"), hidden, tmx_unit("b", "No", "Nein")])
    with pytest.raises(Unreadable):
        await read_all(*file_of(tmp_path, content))
    assert reader_processes() == []


async def test_a_failing_reader_fails_the_read_naming_it(tmp_path: Path) -> None:
    open_good, split = file_of(tmp_path, simple_tmx(3000))
    opened: list[int] = []

    def open_stream() -> BinaryIO:  # readers' files are opened first: the first one cannot be read
        opened.append(1)
        return (tmp_path / "memory.tmx").open("ab") if len(opened) == 1 else open_good()  # type: ignore[return-value]

    with pytest.raises(RuntimeError, match="import reader 1 failed: OSError"):
        await read_all(open_stream, split)
    assert reader_processes() == []


async def test_stopping_early_kills_the_readers(tmp_path: Path) -> None:
    open_stream, split = file_of(tmp_path, simple_tmx(30_000))
    batches = read_in_processes(open_stream, split, source_language=None, max_segment_chars=1000)
    await anext(batches)
    assert len(reader_processes()) == 2
    await batches.aclose()
    assert reader_processes() == []


# -- the import: the service with several readers against the same import read in one ----------------


Imported = tuple[ImportJob, list[tuple[Any, ...]], list[dict[str, Any]]]  # job, stored units, log lines


@dataclass
class Importer:
    """Uploads a TMX and runs its import as the `datasets` worker does, with 1 or more reader processes."""

    db: AsyncSession
    client: AsyncClient
    settings: Settings
    caplog: pytest.LogCaptureFixture
    org: OrgWithKey

    async def into_new_tm(self, content: bytes, processes: int) -> Imported:
        tm = await create_translation_memory(self.db, self.org.id, name=f"TM {uuid.uuid4().hex}")
        return await self.into(tm.id, content, processes)

    async def into(self, tm_id: str, content: bytes, processes: int) -> Imported:
        imports = self.settings.imports.model_copy(
            update={"read_processes": processes, "parallel_min_bytes": 0}
        )
        settings = self.settings.model_copy(update={"imports": imports})
        created = await upload(self.client, self.org, f"/v1/translation_memories/{tm_id}/import", content)
        assert created.status_code == 202, created.text
        self.caplog.clear()
        job = await run_import_now(self.db, settings, created.json()["id"])
        logs = [record.msg for record in self.caplog.records if isinstance(record.msg, dict)]
        columns = (TmUnit.unit_key, TmUnit.target_language, TmUnit.source_text, TmUnit.target_text,
                   TmUnit.change_date, TmUnit.properties, TmUnit.markup)  # fmt: skip
        statement = select(*columns).where(TmUnit.translation_memory_id == tm_id).order_by(TmUnit.id)
        return job, [tuple(row) for row in (await self.db.execute(statement)).all()], logs


@pytest.fixture
async def importer(
    db: AsyncSession, client: AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> Importer:
    caplog.set_level("INFO")  # the worker's structlog lines pass through logging
    return Importer(db, client, settings, caplog, await create_org(db))


def read_processes(logs: list[dict[str, Any]]) -> int | None:
    return next((log["read_processes"] for log in logs if log["event"] == "import.loaded"), None)


def fell_back(logs: list[dict[str, Any]]) -> bool:
    return any(log["event"] == "import.read_in_one_process" for log in logs)


async def test_an_import_read_by_three_processes_stores_what_one_process_stores(importer: Importer) -> None:
    content = tmx_document(mixed_units(3000))
    parallel_job, parallel_units, logs = await importer.into_new_tm(content, 3)
    assert read_processes(logs) == 3
    one_job, one_units, logs = await importer.into_new_tm(content, 1)
    assert read_processes(logs) == 1
    assert parallel_job.status == one_job.status == "succeeded"
    assert parallel_job.report == one_job.report and parallel_job.report is not None
    assert parallel_job.report["inserted"] > 2000 and parallel_job.report["rejected"] > 400
    assert parallel_units == one_units  # same rows, in the same id order


async def test_repeats_across_stretches_merge_as_in_one_process(importer: Importer) -> None:
    units = [tmx_unit(f"u{i}", f"Hello {i}", f"Hallo {i}") for i in range(3000)]
    units[2990] = tmx_unit("u5", "Hello 5", "Hallo fünf")  # u5 again, in the last stretch: it wins
    units[1500] = tmx_unit("u7", "Hello 7", "Hallo sieben")
    content = tmx_document(units)
    results = []
    for processes in (3, 1):
        tm = await create_translation_memory(importer.db, importer.org.id, name=f"repeats {processes}")
        await importer.into(tm.id, simple_tmx(10), 1)  # not empty: the import merges through staging
        results.append(await importer.into(tm.id, content, processes))
    (parallel_job, parallel_units, logs), (one_job, one_units, _) = results
    assert read_processes(logs) == 3 and parallel_job.report == one_job.report
    report = parallel_job.report
    assert report is not None and (report["inserted"], report["updated"], report["unchanged"]) == (2988, 2, 8)
    assert [r["unit"] for r in report["rejections"]] == ["u5", "u7"]
    assert sorted(parallel_units) == sorted(one_units)
    assert ("u5", "de-DE", "Hello 5", "Hallo fünf") in {unit[:4] for unit in parallel_units}

    # Into an empty TM the streamed COPY meets u5 twice; the import merges through staging instead.
    fresh_job, fresh_units, logs = await importer.into_new_tm(content, 3)
    assert any(log["event"] == "import.repeated_rows_in_file" for log in logs)
    assert fresh_job.report is not None and (fresh_job.report["inserted"], fresh_job.report["rejected"]) == (
        2998,
        2,
    )
    assert ("u7", "de-DE", "Hello 7", "Hallo sieben") in {unit[:4] for unit in fresh_units}


async def test_broken_files_fail_naming_the_same_place_and_a_comment_at_a_cut_still_imports(
    importer: Importer,
) -> None:
    whole = simple_tmx(3000)
    middle = whole.index(b"Hallo 1500")
    for broken in (whole[:-200], whole[:middle] + b"&undefined;" + whole[middle:]):
        parallel_job, parallel_units, logs = await importer.into_new_tm(broken, 3)
        one_job, _, _ = await importer.into_new_tm(broken, 1)
        assert parallel_job.status == "failed" and parallel_units == [] and fell_back(logs)
        assert parallel_job.error == one_job.error and parallel_job.error is not None

    hidden = "<!--\n" + "".join(tmx_unit(f"old{i}", "Old", "Alt") for i in range(3000)) + "-->\n"
    content = tmx_document([tmx_unit("a", "Yes", "Ja"), hidden, tmx_unit("b", "No", "Nein")])
    job, units, logs = await importer.into_new_tm(content, 3)
    assert job.status == "succeeded" and [unit[0] for unit in units] == ["a", "b"]
    assert read_processes(logs) == 1 and fell_back(logs)

"""A large TMX read by several processes, a stretch of whole units each, its batches kept in file order.

Reading a TMX is Python (expat calls back for every element) and holds the GIL, as does encoding the
COPY beside it: in one process an import keeps one core busy while the other only runs Postgres's
COPY. Here the file is cut into stretches (`shared.imports.tmx.split_tmx`): the import's own process
reads the first, in its reading thread, while each other stretch is parsed by a small reader process
(`shared.imports.stretch_reader`: it imports the readers only, so it costs a few MB, where a fork of
the worker would cost every page the two then write) that pickles its batches to a spool file. The
import then unpickles the spools in order: rows reach the table in the order one process would have
read them, so they and their ids come out the same. The first stretch is the shortest, since the
import's process also COPYs every row.

A stretch that is not well-formed on its own raises `Unreadable`: the caller reads the whole file in
one process, which names the place (a cut in the wrong place, inside a comment, makes one too).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from shared.imports import stretch_reader
from shared.imports.pipeline import in_thread
from shared.imports.records import Batch, ImportFileError
from shared.imports.tmx import Split, read_tmx_stretch

Reader = tuple[subprocess.Popen[str], Path]  # a reader process and its spool


class Unreadable(Exception):
    """A stretch is not well-formed TMX on its own; read the whole file in one process to say where."""


async def read_in_processes(
    open_stream: Callable[[], BinaryIO],
    split: Split,
    *,
    source_language: str | None,
    max_segment_chars: int,
    spool_dir: Path | None = None,
) -> AsyncGenerator[Batch, None]:
    """Every stretch's batches, in file order. Raises Unreadable, or RuntimeError when a reader failed;
    the readers are killed if this stops early."""
    with tempfile.TemporaryDirectory(dir=spool_dir, prefix="attune-import-") as folder, ExitStack() as files:
        readers: list[Reader] = []
        files.callback(_stop, readers, close=True)
        for number, stretch in enumerate(split.stretches[1:], start=1):
            stream = files.enter_context(open_stream())  # each reader its own file offset
            spool = Path(folder) / f"part-{number}.spool"
            job = {
                "parent": os.getpid(),
                "fd": stream.fileno(),
                "prefix_end": split.prefix_end,
                "start": stretch.start,
                "end": stretch.end,
                "last": stretch.last,
                "spool": str(spool),
                "source_language": source_language,
                "max_segment_chars": max_segment_chars,
            }
            command = [sys.executable, "-m", stretch_reader.__name__, json.dumps(job)]
            process = subprocess.Popen(  # noqa: ASYNC220 - starting one takes milliseconds
                command, stdout=subprocess.PIPE, pass_fds=(stream.fileno(),), text=True
            )
            readers.append((process, spool))

        def collect() -> Iterator[Batch]:
            with open_stream() as stream:
                try:
                    yield from read_tmx_stretch(
                        stream,
                        split.prefix_end,
                        split.stretches[0],
                        source_language=source_language,
                        max_segment_chars=max_segment_chars,
                    )
                except ImportFileError:
                    raise Unreadable from None
            for number, (process, spool) in enumerate(readers, start=1):
                yield from _spooled(number, process, spool)

        batches = in_thread(collect)
        try:
            async for batch in batches:
                yield batch
        finally:
            _stop(readers)  # a reading thread waiting on a reader sees it end, and can be joined
            await batches.aclose()


def _spooled(number: int, process: subprocess.Popen[str], spool: Path) -> Iterator[Batch]:
    """A reader's batches, read from its spool as it announces them, until it has ended well."""
    assert process.stdout is not None
    with ExitStack() as files:
        spooled = None
        for line in process.stdout:  # a line per batch written, then how it ended
            outcome = line.strip()
            if outcome.isdigit():
                if spooled is None:  # the reader creates it before its first line
                    spooled = files.enter_context(spool.open("rb", buffering=stretch_reader.BUFFER_BYTES))
                while spooled.tell() < int(outcome):
                    yield pickle.load(spooled)  # noqa: S301 - written by our own reader, just now
                continue
            if outcome == stretch_reader.UNREADABLE:
                raise Unreadable
            if outcome == stretch_reader.DONE and process.wait() == 0:
                return
            why = outcome.removeprefix(stretch_reader.FAILED)
            raise RuntimeError(f"import reader {number} failed: {why}")
    raise RuntimeError(f"import reader {number} ended with status {process.wait()} before its stretch did")


def _stop(readers: list[Reader], *, close: bool = False) -> None:
    for process, _ in readers:
        if process.poll() is None:
            process.kill()
        process.wait()
        if close and process.stdout is not None:
            process.stdout.close()

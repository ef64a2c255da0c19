"""One entry point over the four readers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from shared.imports.jsonl import read_jsonl
from shared.imports.options import ImportOptions
from shared.imports.records import Batch, ImportFormat
from shared.imports.tabular import read_csv
from shared.imports.tmx import read_tmx
from shared.imports.xliff import read_xliff


def read_file(
    import_format: ImportFormat,
    stream: BinaryIO,
    options: ImportOptions,
    *,
    max_segment_chars: int,
    received_at: datetime | None = None,
) -> Iterator[Batch]:
    """Batches of (rows, rejections, skipped); ImportFileError when the file as a whole is unreadable."""
    if import_format == "tmx":
        return read_tmx(stream, source_language=options.source_language, max_segment_chars=max_segment_chars)
    if import_format == "xliff":
        return read_xliff(
            stream,
            include_unapproved=options.include_unapproved,
            max_segment_chars=max_segment_chars,
            received_at=received_at,
        )
    if import_format == "csv":
        return read_csv(
            stream,
            columns=options.columns,
            source_language=options.source_language,
            target_language=options.target_language,
        )
    return read_jsonl(
        stream, source_language=options.source_language, target_language=options.target_language
    )

"""JSON Lines: one translation object per line, shaped like the batch API's rows."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from pydantic import ValidationError

from shared.imports.records import Batch, ImportFileError, Rejection, SourceRow
from shared.imports.sniff import text_encoding
from shared.imports.validation import FILE_ROW, FileRow, describe

MAX_LINE_CHARS = 1 << 20
BATCH_ROWS = 2000


def file_row(data: Any, source_language: str | None, target_language: str | None) -> FileRow:
    """Validate one row read from a file, filling in the languages the import options give."""
    if isinstance(data, dict):
        if source_language and "source_language" not in data:
            data["source_language"] = source_language
        if target_language and "target_language" not in data:
            data["target_language"] = target_language
    return FILE_ROW.validate_python(data)


def as_source_row(ordinal: int, line: int, row: FileRow) -> SourceRow:
    return (
        ordinal,
        line,
        row.key,
        row.source_language,
        row.target_language,
        row.source_text,
        row.target_text,
        row.context,
        row.approved_at,
        None,
        None,
        None,
    )


def read_jsonl(
    stream: BinaryIO, *, source_language: str | None = None, target_language: str | None = None
) -> Iterator[Batch]:
    """Rows and rejections (a bad line is rejected with its number); undecodable bytes fail the file."""
    head = stream.read(4)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=text_encoding(head), errors="strict", newline=None)
    try:
        yield from _read_lines(text, source_language, target_language)
    finally:
        text.detach()  # the caller owns (and closes) the binary stream


def _read_lines(
    text: io.TextIOWrapper, source_language: str | None, target_language: str | None
) -> Iterator[Batch]:
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    line_number = 0
    ordinal = 0
    while True:
        line_number += 1
        try:
            line = text.readline(MAX_LINE_CHARS)
            if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
                while (rest := text.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                    pass
                rejections.append(
                    Rejection(line_number, f"the line is longer than {MAX_LINE_CHARS} characters")
                )
                continue
        except UnicodeDecodeError:
            raise ImportFileError(
                "the file is not UTF-8 or UTF-16: undecodable bytes", line=line_number
            ) from None
        if not line:
            break
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            row = file_row(data, source_language, target_language)
        except json.JSONDecodeError as error:
            rejections.append(Rejection(line_number, f"invalid JSON: {error.msg} (column {error.colno})"))
        except RecursionError:
            rejections.append(Rejection(line_number, "invalid JSON: nested too deeply"))
        except ValidationError as error:
            key = data.get("key") if isinstance(data, dict) and isinstance(data.get("key"), str) else None
            rejections.append(Rejection(line_number, describe(error), key))
        else:
            ordinal += 1
            rows.append(as_source_row(ordinal, line_number, row))
        if len(rows) >= BATCH_ROWS:
            yield rows, rejections, 0
            rows, rejections = [], []
    yield rows, rejections, 0

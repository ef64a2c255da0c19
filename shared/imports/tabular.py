"""CSV (and TSV): the delimiter is sniffed, the header mapped to row fields by name or by option.

Headers are matched case-insensitively against each field's usual names (`source`, `target`,
`string_id`, `locale`...), or as `columns={"field": "Header"}` says. Two columns headed with language
tags (`en-US`, `de_DE`) serve as source and target text when no text columns are named. Cell values
are stored as text, exactly: a formula such as `=HYPERLINK(...)` is never evaluated.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import BinaryIO

from pydantic import ValidationError

from shared.imports.jsonl import as_source_row, file_row
from shared.imports.languages import InvalidLanguage, normalise_language
from shared.imports.records import ROW_FIELDS, Batch, ImportFileError, Rejection, SourceRow
from shared.imports.sniff import text_encoding
from shared.imports.validation import describe

SAMPLE_CHARS = 64 * 1024
BATCH_ROWS = 2000
ALIASES: dict[str, tuple[str, ...]] = {
    "key": ("key", "id", "string_key", "string_id", "resname", "identifier", "name", "tuid"),
    "source_text": ("source_text", "source", "src", "source_string", "original", "text"),
    "target_text": ("target_text", "target", "tgt", "translation", "target_string", "translated"),
    "source_language": ("source_language", "source_lang", "src_lang", "srclang", "source_locale"),
    "target_language": ("target_language", "target_lang", "tgt_lang", "trglang", "target_locale", "locale"),
    "context": ("context", "note", "notes", "comment", "comments", "description"),
    "approved_at": ("approved_at", "approval_date", "approved_on", "changedate"),
}


def _normal(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def map_header(
    header: list[str], columns: dict[str, str] | None, source_language: str | None
) -> tuple[dict[str, int], dict[str, str]]:
    """Field -> column index, and languages implied by language-tag headers."""
    positions = {_normal(name): index for index, name in enumerate(header)}
    mapping: dict[str, int] = {}
    for field in ROW_FIELDS:
        if columns and field in columns:
            wanted = _normal(columns[field])
            if wanted not in positions:
                raise ImportFileError(f"the header has no column {columns[field]!r} (for {field})", line=1)
            mapping[field] = positions[wanted]
            continue
        for alias in ALIASES[field]:
            if alias in positions:
                mapping[field] = positions[alias]
                break
    implied: dict[str, str] = {}
    if "source_text" not in mapping and "target_text" not in mapping:
        tagged: list[tuple[int, str]] = []
        taken = set(mapping.values())
        for index, name in enumerate(header):
            if index in taken:
                continue
            try:
                tagged.append((index, normalise_language(name)))
            except InvalidLanguage:
                continue
        if len(tagged) >= 2:
            source = next((item for item in tagged if item[1] == source_language), tagged[0])
            target = next(item for item in tagged if item is not source)
            mapping["source_text"], implied["source_language"] = source
            mapping["target_text"], implied["target_language"] = target
    missing = [field for field in ("source_text", "target_text") if field not in mapping]
    if missing:
        raise ImportFileError(
            f"the header names no column for {' or '.join(missing)} (found: {', '.join(header)})", line=1
        )
    return mapping, implied


def read_csv(
    stream: BinaryIO,
    *,
    columns: dict[str, str] | None = None,
    source_language: str | None = None,
    target_language: str | None = None,
) -> Iterator[Batch]:
    """Rows and rejections, the line of each rejection named; undecodable bytes fail the file."""
    head = stream.read(4)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=text_encoding(head), errors="strict", newline="")
    try:
        yield from _read_records(text, columns, source_language, target_language)
    finally:
        text.detach()  # the caller owns (and closes) the binary stream


def _read_records(
    text: io.TextIOWrapper,
    columns: dict[str, str] | None,
    source_language: str | None,
    target_language: str | None,
) -> Iterator[Batch]:
    try:
        sample_lines: list[str] = []
        size = 0
        while size < SAMPLE_CHARS and (line := text.readline()):
            sample_lines.append(line)
            size += len(line)
    except UnicodeDecodeError:
        raise ImportFileError(
            "the file is not UTF-8 or UTF-16: undecodable bytes", line=len(sample_lines) + 1
        ) from None
    sample = "".join(sample_lines)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(itertools.chain(sample_lines, text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    mapping, implied = map_header(header, columns, source_language)
    defaults = {"source_language": source_language, "target_language": target_language, **implied}
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    ordinal = 0
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise ImportFileError("the file is not UTF-8 or UTF-16: undecodable bytes", line=start) from None
        except csv.Error as error:
            raise ImportFileError(f"the CSV cannot be read: {error}", line=start) from None
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        data: dict[str, object] = {
            field: record[index]
            for field, index in mapping.items()
            if index < len(record) and record[index] != ""
        }
        for field, value in defaults.items():
            if value and field not in data:
                data[field] = value
        try:
            row = file_row(data, None, None)
        except ValidationError as error:
            key = data.get("key")
            rejections.append(Rejection(start, describe(error), key if isinstance(key, str) else None))
        else:
            ordinal += 1
            rows.append(as_source_row(ordinal, start, row))
        if len(rows) >= BATCH_ROWS:
            yield rows, rejections, 0
            rows, rejections = [], []
    yield rows, rejections, 0

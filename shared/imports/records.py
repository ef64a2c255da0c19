"""What every importer produces: rows to stage, rejections to report, or one error for the whole file.

Plain Python only (no pydantic): the processes that read a large TMX import just the readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from shared.errors import ValidationFailed, problem_type

ImportFormat = Literal["tmx", "xliff", "csv", "jsonl"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = ("tmx", "xliff", "csv", "jsonl")


# One translation pair, in the column order of the staging table. A plain tuple: a million of them are
# built per large import, and a NamedTuple costs ten times as much to make.
SourceRow = tuple[
    int,  # ordinal: position in the file, so the last of two rows with the same identity wins
    int,  # line where the row (or its unit) starts
    str | None,  # key: string key, TMX tuid or XLIFF unit id; None when the file has none
    str,  # source_language (BCP 47)
    str,  # target_language (BCP 47)
    str,  # source_text
    str,  # target_text
    str | None,  # context (a note)
    datetime | None,  # approved_at (TMX changedate)
    datetime | None,  # created_at (TMX creationdate)
    str | None,  # properties: JSON object text
    str | None,  # markup: JSON {"source": {placeholder: code}, "target": {...}} when codes were found
]
# What a reader yields per chunk: rows, rejections, and units skipped on purpose (unapproved XLIFF).
Batch = tuple[list[SourceRow], list["Rejection"], int]
ROW_COLUMNS = (
    "ordinal",
    "line",
    "key",
    "source_language",
    "target_language",
    "source_text",
    "target_text",
    "context",
    "approved_at",
    "created_at",
    "properties",
    "markup",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row left out of an import and why; `unit` names it in the file (tuid, unit id, key)."""

    line: int
    reason: str
    unit: str | None = None

    def as_report(self) -> dict[str, Any]:
        return {"line": self.line, "unit": self.unit, "reason": self.reason}


class ImportFileError(Exception):
    """The file as a whole is not what it says; nothing from it is stored."""

    def __init__(self, detail: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        where = where or (f" (line {line})" if line is not None else "")
        super().__init__(detail + where)
        self.detail = detail + where
        self.line = line
        self.column = column

    def as_problem(self) -> dict[str, Any]:
        return {
            "code": "invalid_import_file",
            "detail": self.detail,
            "line": self.line,
            "column": self.column,
        }


class InvalidImportFile(ValidationFailed):
    """The upload is not the file it says (empty, not UTF-8/16, not TMX/XLIFF): a 422 naming the place."""

    code = problem_type(
        "invalid_import_file",
        "The uploaded file cannot be imported as a whole (empty, not UTF-8 or UTF-16, not well-formed, "
        "not the format it claims); `line` and `column` say where. Nothing was stored.",
    )


ROW_FIELDS = (
    "key",
    "source_text",
    "target_text",
    "source_language",
    "target_language",
    "context",
    "approved_at",
)


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_json(value: dict[str, Any] | None) -> str | None:
    """Compact JSON for a jsonb column, or None for an empty mapping."""
    return _JSON.encode(value) if value else None


class ApprovedPair(NamedTuple):
    """What the dataset builder reads from a project's translations or a TM's units."""

    source_id: str  # `tr_<n>` or `tmu_<n>`
    key: str | None  # string key or tuid
    source_language: str
    target_language: str
    source_text: str
    target_text: str
    context: str | None
    approved_at: datetime | None  # translations: approved_at; TM units: changedate, else creationdate
    markup: dict[str, Any] | None

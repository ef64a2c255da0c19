"""Import objects: what was uploaded, where it goes, and the report once it ran."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.imports.records import ImportFormat

ImportStatus = Literal["queued", "running", "succeeded", "failed"]


class RejectedRow(BaseModel):
    line: int = Field(description="Line of the row (CSV, JSONL) or of the unit's start tag (TMX, XLIFF).")
    unit: str | None = Field(None, description="The row's key, tuid or unit id, when it has one.")
    reason: str


class ImportReport(BaseModel):
    rows: int = Field(
        description="Rows read: one per unit and target language (TMX), per unit, line or record."
    )
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int = Field(description='XLIFF units left out on purpose: not approved, or translate="no".')
    rejections: list[RejectedRow] = Field(description="The first rejected rows, by line, with the reason.")
    rejections_truncated: bool = Field(description="More rows were rejected than are listed.")


class ImportFailure(BaseModel):
    code: str
    detail: str = Field(description="What is wrong with the file, and where.")
    line: int | None = None
    column: int | None = None


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["import"] = "import"
    id: str
    status: ImportStatus
    format: ImportFormat
    file_name: str | None
    bytes: int = Field(validation_alias="byte_size", description="Size of the uploaded file.")
    sha256: str
    project_id: str | None
    translation_memory_id: str | None
    options: dict[str, Any]
    report: ImportReport | None = Field(
        description="Counts and rejected rows; null until the import has run."
    )
    error: ImportFailure | None = Field(description="Why the file failed as a whole (nothing was stored).")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The file, streamed."},
                        "format": {"type": "string", "enum": ["tmx", "xliff", "csv", "jsonl"]},
                        "include_unapproved": {"type": "boolean"},
                        "source_language": {"type": "string"},
                        "target_language": {"type": "string"},
                        "columns": {"type": "string", "description": "CSV: JSON object field -> header."},
                    },
                }
            }
        },
    }
}

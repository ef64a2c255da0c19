"""How to read an uploaded file: the options an import is created with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.imports.languages import InvalidLanguage, normalise_language
from shared.imports.records import ROW_FIELDS, ImportFormat


class ImportOptions(BaseModel):
    """How to read an uploaded file; everything may be left to detection."""

    model_config = ConfigDict(extra="forbid")

    format: ImportFormat | None = Field(
        None, description="tmx, xliff, csv or jsonl; detected from the file name and content when omitted."
    )
    include_unapproved: bool = Field(
        False, description="XLIFF: import every translated segment, not only approved/final ones."
    )
    source_language: str | None = Field(
        None, description="Source language for rows that do not name one (CSV/JSONL), or TMX `*all*` units."
    )
    target_language: str | None = Field(None, description="Target language for rows that do not name one.")
    columns: dict[str, str] | None = Field(
        None,
        description='CSV: field -> header, e.g. {"key": "String ID", "target_text": "German"}.',
    )

    @field_validator("source_language", "target_language")
    @classmethod
    def _bcp47(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_language(value)
        except InvalidLanguage as error:
            raise ValueError(str(error)) from None

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        unknown = sorted(set(value or {}) - set(ROW_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; fields are {', '.join(ROW_FIELDS)}")
        return value

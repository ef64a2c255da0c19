"""Project and translation shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from shared.errors import ValidationFailed
from shared.imports.bulk import public_id
from shared.imports.languages import InvalidLanguage, normalise_language
from shared.imports.validation import TranslationRow
from shared.projects.translations import MAX_BATCH_ROWS


def _language(value: str) -> str:
    try:
        return normalise_language(value)
    except InvalidLanguage as error:
        raise ValueError(str(error)) from None


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("target languages must be distinct (after normalisation)")
    return values


def query_language(value: str | None, name: str) -> str | None:
    """A language query parameter, normalised (422 naming the parameter when it is not a tag)."""
    try:
        return normalise_language(value) if value else None
    except InvalidLanguage as error:
        raise ValidationFailed(
            str(error), errors=[{"detail": str(error), "pointer": f"query/{name}"}]
        ) from None


Language = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_language)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    source_language: Language = Field(description="BCP 47 tag; `en_us` and `EN-US` become `en-US`.")
    target_languages: Annotated[list[Language], AfterValidator(_distinct)] = Field(
        min_length=1, max_length=200
    )


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    source_language: Language | None = None
    target_languages: Annotated[list[Language], AfterValidator(_distinct)] | None = Field(
        None, min_length=1, max_length=200
    )


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["project"] = "project"
    id: str
    name: str
    source_language: str
    target_languages: list[str]
    created_at: datetime
    updated_at: datetime


class TranslationBatch(BaseModel):
    """Rows are checked one by one: a bad row is reported, the others are stored."""

    model_config = ConfigDict(extra="forbid")

    translations: list[Annotated[Any, WithJsonSchema(TranslationRow.model_json_schema())]] = Field(
        max_length=MAX_BATCH_ROWS, description=f"Up to {MAX_BATCH_ROWS} rows."
    )


class RowErrorOut(BaseModel):
    index: int = Field(description="Position of the row in `translations`.")
    field: str = Field(description="The field at fault (`/` for the row as a whole).")
    detail: str
    pointer: str = Field(description="JSON Pointer to the field in the request body.")


class UpsertResultOut(BaseModel):
    object: Literal["translation.upsert_result"] = "translation.upsert_result"
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[RowErrorOut]


class TranslationOut(BaseModel):
    object: Literal["translation"] = "translation"
    id: str = Field(description="`tr_<n>`; also the list cursor.")
    project_id: str
    key: str
    source_language: str
    target_language: str
    source_text: str
    target_text: str
    context: str | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> TranslationOut:
        return cls(
            id=public_id("tr", row.id),
            project_id=row.project_id,
            key=row.key,
            source_language=row.source_language,
            target_language=row.target_language,
            source_text=row.source_text,
            target_text=row.target_text,
            context=row.context,
            approved_at=row.approved_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


__all__ = ["TranslationRow"]

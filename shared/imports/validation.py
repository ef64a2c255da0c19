"""The shape of one approved translation, checked the same way for the batch API, JSONL and CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.imports.languages import InvalidLanguage, normalise_language

MAX_KEY_CHARS = 500  # a key is in a unique index: at most 2,000 UTF-8 bytes fit comfortably
MAX_TEXT_CHARS = 100_000
MAX_CONTEXT_CHARS = 10_000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character (U+0000), which cannot be stored")
    return value


def _language(value: str) -> str:
    try:
        return normalise_language(value)
    except InvalidLanguage as error:
        raise ValueError(str(error)) from None


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # a time without an offset is taken as UTC
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_no_nul)]
Language = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_language)]


class TranslationRow(BaseModel):
    """One approved translation of one string into one target language."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    key: Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS), AfterValidator(_no_nul)] = Field(
        description="The string's key in the project; with the target language it identifies the row."
    )
    source_text: Text = Field(description="The source string.")
    target_text: Text = Field(description="Its approved translation.")
    source_language: Language = Field(description="BCP 47 tag; `en_us` and `EN-US` both mean `en-US`.")
    target_language: Language = Field(description="BCP 47 tag of the translation.")
    context: Annotated[str, Field(max_length=MAX_CONTEXT_CHARS), AfterValidator(_no_nul)] | None = Field(
        None, description="Where the string appears, a developer note, a screenshot caption."
    )
    approved_at: Annotated[datetime | None, AfterValidator(_utc)] = Field(
        None, description="When it was approved (dataset windows filter on it); UTC when no offset is given."
    )


ROWS = TypeAdapter(list[TranslationRow])


def row_errors(error: ValidationError, *, offset: int = 0) -> dict[int, list[tuple[str, str]]]:
    """Errors by row index (plus `offset`), each as (field, message)."""
    by_row: dict[int, list[tuple[str, str]]] = {}
    for item in error.errors(include_url=False, include_input=False):
        location = item["loc"]
        index = location[0] if location and isinstance(location[0], int) else None
        field = ".".join(str(part) for part in location[1:]) if index is not None else "/"
        by_row.setdefault((index or 0) + offset, []).append((field or "/", item["msg"]))
    return by_row


def validate_rows(
    rows: list[Any],
) -> tuple[list[tuple[int, TranslationRow]], dict[int, list[tuple[str, str]]]]:
    """Valid rows with their index, and the errors of the others; one pass when all are valid."""
    try:
        return list(enumerate(ROWS.validate_python(rows))), {}
    except ValidationError as error:
        errors = row_errors(error)
    valid = [index for index in range(len(rows)) if index not in errors]
    checked = ROWS.validate_python([rows[index] for index in valid])
    return list(zip(valid, checked, strict=True)), errors


class FileRow(TranslationRow):
    """A row read from a CSV or JSONL file: the key may be missing (a TM identifies units by content)."""

    key: Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS), AfterValidator(_no_nul)] | None = None  # type: ignore[assignment]


FILE_ROW = TypeAdapter(FileRow)


def describe(error: ValidationError) -> str:
    """`field: message; field: message` for a rejection reason."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "row"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)

"""A dataset recipe: which approved rows, rendered with which prompt, for which model, within which limits.

Recipes are canonicalised (ids and language pairs sorted and deduplicated, times in UTC) so that two
requests that mean the same thing store the same recipe and build byte-identical files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.imports.languages import InvalidLanguage, normalise_language

MAX_SOURCES = 100
DedupeMode = Literal["normalized", "exact", "none"]
MarkupMode = Literal["keep", "strip", "restore"]
OutputFormat = Literal["chat", "prompt_completion"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LanguagePair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="Source language (BCP 47); `en` also matches `en-US`, `en-GB`, ...")
    target: str = Field(description="Target language (BCP 47); `fr` also matches `fr-FR`, `fr-CA`, ...")

    @field_validator("source", "target")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        try:
            return normalise_language(value)
        except InvalidLanguage as error:
            raise ValueError(str(error)) from None


class SourceSelection(BaseModel):
    """Rows to read: projects' translations and TMs' units, approved in a window, in some language pairs."""

    model_config = ConfigDict(extra="forbid")

    project_ids: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)
    translation_memory_ids: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)
    approved_after: datetime | None = Field(None, description="Only rows approved at or after this time.")
    approved_before: datetime | None = Field(None, description="Only rows approved before this time.")
    language_pairs: list[LanguagePair] = Field(
        default_factory=list, description="Only these pairs (all pairs when empty)."
    )

    @field_validator("project_ids", "translation_memory_ids")
    @classmethod
    def _sorted_ids(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("language_pairs")
    @classmethod
    def _sorted_pairs(cls, value: list[LanguagePair]) -> list[LanguagePair]:
        return sorted(set(value), key=lambda pair: (pair.source, pair.target))

    @field_validator("approved_after", "approved_before")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.approved_after and self.approved_before and self.approved_after >= self.approved_before:
            raise ValueError("approved_after must be earlier than approved_before")
        return self


class Sources(SourceSelection):
    @model_validator(mode="after")
    def _some_source(self) -> Self:
        if not self.project_ids and not self.translation_memory_ids:
            raise ValueError("name at least one project_ids or translation_memory_ids entry")
        return self


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_file_bytes: int | None = Field(
        None, ge=1024, description="Largest training (and validation) file; the provider's limit by default."
    )
    min_examples: int | None = Field(
        None,
        ge=1,
        description="Fail below this many training examples (never fewer than the provider takes).",
    )
    max_examples: int | None = Field(None, ge=1, description="Sample down to this many training examples.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_examples and self.max_examples and self.min_examples > self.max_examples:
            raise ValueError("min_examples must not exceed max_examples")
        return self


class Validation(BaseModel):
    """Either a held-out share of the rows, or other rows (fields left out are the training sources')."""

    model_config = ConfigDict(extra="forbid")

    fraction: float | None = Field(None, gt=0, lt=1, description="Share of rows held out for validation.")
    sources: SourceSelection | None = Field(None, description="Validation rows from other sources or dates.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.fraction is None) == (self.sources is None):
            raise ValueError("give exactly one of `fraction` or `sources`")
        return self


class Cleaning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    normalize_unicode: bool = Field(True, description="Unicode NFC on source and target.")
    normalize_whitespace: bool = Field(
        True, description="Trim, unify line ends, collapse runs of spaces (no-break spaces are kept)."
    )
    drop_identical: bool = Field(True, description="Drop rows whose target equals the source.")
    min_length_ratio: float = Field(0.2, gt=0, description="Drop rows with target/source characters below.")
    max_length_ratio: float = Field(5.0, gt=0, description="Drop rows with target/source characters above.")
    length_ratio_min_chars: int = Field(
        20, ge=1, description="Length ratios are checked only when the longer text has this many characters."
    )
    check_placeholders: bool = Field(
        True, description="Drop rows whose placeholders ({0}, %s, {name}, ICU) or tags differ."
    )
    dedupe: DedupeMode = Field(
        "normalized",
        description="`normalized`: one row per language pair and normalised source, the latest approval "
        "wins; `exact`: drop only repeats of the same source and target; `none`.",
    )
    markup: MarkupMode = Field(
        "keep", description="TM inline codes: keep the ⟦b1⟧ placeholders, strip them, or restore the codes."
    )

    @model_validator(mode="after")
    def _ratios(self) -> Self:
        if self.min_length_ratio >= self.max_length_ratio:
            raise ValueError("min_length_ratio must be below max_length_ratio")
        return self


class Recipe(BaseModel):
    """What to build; every part but `sources` is optional."""

    model_config = ConfigDict(extra="forbid")

    sources: Sources
    prompt_id: str | None = Field(None, description="Prompt to render rows with; a plain default if none.")
    provider: str = Field("local", description="Provider kind (`openai`, `local`, ...) or credential id.")
    model: str | None = Field(None, description="Base model: picks the tokenizer and context limit.")
    format: OutputFormat = Field("chat", description="`chat` (messages) or `prompt_completion`.")
    limits: Limits = Field(default_factory=Limits)
    validation: Validation | None = None
    seed: int = Field(0, ge=0, lt=2**63, description="Decides the validation split and sampling.")
    since_job: str | None = Field(
        None, description="Only rows approved after the data cutoff of this fine-tuning job's dataset."
    )
    cleaning: Cleaning = Field(default_factory=Cleaning)

    def canonical(self) -> dict[str, Any]:
        """The stored form: JSON, sorted, defaults filled in."""
        return self.model_dump(mode="json")

"""Translation memory and TM unit shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.imports.bulk import public_id
from shared.models import TmUnit


class TranslationMemoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class TranslationMemoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class TranslationMemoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["translation_memory"] = "translation_memory"
    id: str
    name: str
    description: str | None
    languages: list[str] = Field(description="Every language imported so far (BCP 47).")
    unit_count: int = Field(description="Stored units (one per tu and target language).")
    created_at: datetime
    updated_at: datetime


class TmUnitOut(BaseModel):
    object: Literal["translation_memory.unit"] = "translation_memory.unit"
    id: str = Field(description="`tmu_<n>`; also the list cursor.")
    translation_memory_id: str
    tuid: str | None
    source_language: str
    target_language: str
    source_text: str = Field(description="With inline markup as placeholders such as ⟦b1⟧ ... ⟦e1⟧, ⟦p2⟧.")
    target_text: str
    context: str | None = Field(description="The unit's first note.")
    creation_date: datetime | None
    change_date: datetime | None = Field(description="The approval time dataset windows use.")
    properties: dict[str, Any] | None = Field(description="The unit's <prop>s and bookkeeping attributes.")
    markup: dict[str, Any] | None = Field(
        description="Native code behind each placeholder: {source: {}, target: {}}."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, unit: TmUnit) -> TmUnitOut:
        return cls(
            id=public_id("tmu", unit.id),
            translation_memory_id=unit.translation_memory_id,
            tuid=unit.tuid,
            source_language=unit.source_language,
            target_language=unit.target_language,
            source_text=unit.source_text,
            target_text=unit.target_text,
            context=unit.context,
            creation_date=unit.creation_date,
            change_date=unit.change_date,
            properties=unit.properties,
            markup=unit.markup,
            created_at=unit.created_at,
            updated_at=unit.updated_at,
        )

"""Prompt shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TEMPLATE_HELP = (
    "Named placeholders {source_language}, {target_language}, {context}, {source_text}; "
    "write a literal brace as {{ or }}."
)


class PromptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    system: str = Field(max_length=20_000, description="The system message. " + TEMPLATE_HELP)
    user_template: str = Field(
        min_length=1,
        max_length=20_000,
        description="The user message; must hold {source_text}. " + TEMPLATE_HELP,
    )


class PromptUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    system: str | None = Field(None, max_length=20_000)
    user_template: str | None = Field(None, min_length=1, max_length=20_000)


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["prompt"] = "prompt"
    id: str
    name: str
    system: str
    user_template: str
    created_at: datetime
    updated_at: datetime


class PromptPreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_language: str = "en-US"
    target_language: str = "de-DE"
    source_text: str = Field("Save your changes before closing.", max_length=20_000)
    context: str | None = None


class RenderedPromptOut(BaseModel):
    object: Literal["prompt.rendering"] = "prompt.rendering"
    system: str
    user: str

"""API key shapes: the plaintext key appears only in the response that creates it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="A label to tell keys apart.")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["api_key"] = "api_key"
    id: str
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key itself. Shown once: store it now.")


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["organization"] = "organization"
    id: str
    name: str
    created_at: datetime

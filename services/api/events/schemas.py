"""Event log and stream-token shapes; events use the one envelope `shared.events.envelope.EventEnvelope`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventEnvelope

__all__ = ["EventEnvelope", "StreamTokenCreate", "StreamTokenOut"]


class StreamTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: str | None = Field(
        None,
        max_length=64,
        description="The one subject (e.g. a fine-tuning job id) whose stream the token opens; "
        "omit for the organization's stream.",
    )


class StreamTokenOut(BaseModel):
    object: Literal["stream_token"] = "stream_token"
    token: str = Field(
        description="Pass as `?token=` to the stream URL; it opens that stream only, read-only."
    )
    subject_id: str | None
    expires_at: datetime = Field(
        description="After this the token opens nothing (a reconnect needs a new one)."
    )
    stream_url: str = Field(description="The stream URL with the token, ready for `new EventSource(url)`.")

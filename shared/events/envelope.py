"""The one event envelope `{id, type, created_at, data}`, shared by the event log, SSE and webhooks."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.models import Event

EVENT_ID_PREFIX = "evt_"
EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
# A subject's stream ends after one of these: the subject reached a final state.
FINAL_EVENT_SUFFIXES = (".succeeded", ".failed", ".cancelled")


class EventEnvelope(BaseModel):
    """What a client receives for one event, whatever the channel."""

    model_config = ConfigDict(json_schema_extra={"title": "Event"})

    id: str = Field(description="`evt_` and the event's position in the log; the SSE `id:` and `webhook-id`.")
    type: str = Field(description="Dotted event type, e.g. `fine_tuning.job.status_changed`.")
    created_at: datetime = Field(description="When the change the event describes was committed.")
    data: dict[str, Any] = Field(
        description="A small payload: ids, status and the few fields a receiver needs."
    )


def public_event_id(sequence: int) -> str:
    """`evt_42` for event 42."""
    return f"{EVENT_ID_PREFIX}{sequence}"


def parse_event_id(raw: str | None) -> int | None:
    """The sequence of `evt_42` (or a bare `42`); None for anything else."""
    if raw is None:
        return None
    value = raw.strip().removeprefix(EVENT_ID_PREFIX)
    return int(value) if value.isdigit() and len(value) < 19 else None


def envelope_of(event: Event) -> EventEnvelope:
    return EventEnvelope(
        id=public_event_id(event.id), type=event.type, created_at=event.created_at, data=event.data
    )


def envelope_json(event: Event) -> str:
    """The exact bytes (as text) sent as SSE `data:` and as a webhook body."""
    return envelope_json_of(event.id, event.type, event.created_at, event.data)


def envelope_json_of(sequence: int, type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """`envelope_json` from the event's columns (for readers that skip the ORM)."""
    return EventEnvelope(
        id=public_event_id(sequence), type=type, created_at=created_at, data=data
    ).model_dump_json()


def is_final_event_type(event_type: str) -> bool:
    """Whether an event marks its subject's end (`*.succeeded`, `*.failed`, `*.cancelled`)."""
    return event_type.endswith(FINAL_EVENT_SUFFIXES)

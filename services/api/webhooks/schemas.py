"""Webhook endpoint and delivery shapes: the secret appears only when created or rotated."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_FILTER = re.compile(r"^(\*|[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*(\.\*)?)$")


def _check_filters(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        if not EVENT_FILTER.match(value):
            raise ValueError(
                f"{value!r} is not an event type (dotted, e.g. `fine_tuning.job.succeeded` or `dataset.*`)"
            )
    return sorted(set(values))


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=2000, description="Where deliveries are POSTed (https recommended)."
    )
    event_types: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Types to send (`dataset.*` for a family); empty: all.",
    )
    description: str = Field("", max_length=500, description="What this endpoint is for.")
    enabled: bool = Field(True, description="Whether deliveries are sent.")

    _filters = field_validator("event_types")(_check_filters)


class WebhookEndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=8, max_length=2000, description="A new URL (checked again).")
    event_types: list[str] | None = Field(None, max_length=100, description="A new filter; empty: all types.")
    description: str | None = Field(None, max_length=500, description="A new description.")
    enabled: bool | None = Field(None, description="Enable (clears the failure clock) or disable.")

    _filters = field_validator("event_types")(_check_filters)


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    failing_since: datetime | None = Field(
        description="Since when every delivery has failed; null when healthy."
    )
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the rotated-out secret also signs."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointOut):
    secret: str = Field(description="The `whsec_` signing secret. Shown once: store it now.")


class WebhookAttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    latency_ms: float
    response: str = Field(description="The first bytes of the receiver's response body.")
    error: str | None


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint_id: str
    event_id: str = Field(description="The event delivered; also the `webhook-id` header.")
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    completed_at: datetime | None
    attempts: list[WebhookAttemptOut]
    created_at: datetime

    @field_validator("event_id", mode="before")
    @classmethod
    def _public_id(cls, value: Any) -> str:
        return f"evt_{value}" if isinstance(value, int) else str(value)


class WebhookReplay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime = Field(
        description="Re-send every event created at or after this time (with a timezone)."
    )

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2026-11-23T10:00:00Z")
        return value


class WebhookReplayOut(BaseModel):
    object: Literal["webhook_replay"] = "webhook_replay"
    endpoint_id: str
    since: datetime
    deliveries_queued: int

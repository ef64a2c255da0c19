"""Webhook deliveries: one event to one endpoint, with every attempt made to send it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


class WebhookDelivery(RecordBase):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        # The head of an endpoint's line: its earliest pending delivery (per-endpoint FIFO).
        Index(
            "ix_webhook_deliveries_pending_by_endpoint",
            "endpoint_id",
            "event_id",
            postgresql_where="status = 'pending'",
        ),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )
    id_prefix = "whdel"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=PENDING)
    # Every attempt ever made (it names the ARQ job); `schedule_step` restarts on a manual retry.
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    schedule_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # [{number, at, status_code, latency_ms, response, error}], newest last, capped.
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)

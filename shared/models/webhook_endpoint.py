"""Webhook endpoints: where an organization's events are POSTed, signed with a per-endpoint secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, Boolean, DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class WebhookEndpoint(RecordBase):
    __tablename__ = "webhook_endpoints"
    id_prefix = "we"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Empty means every event type.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)), nullable=False, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # `whsec_...` secrets, encrypted at rest; the previous one still signs until it expires (rotation).
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by the first failure after a success, cleared by any success: the clock that disables it.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(500))

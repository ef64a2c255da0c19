"""SQL for webhook endpoints and deliveries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Event, WebhookDelivery, WebhookEndpoint
from shared.models.webhook_delivery import FAILED, PENDING

# What a drain writes back for each attempt it made.
RECORDED_FIELDS = (
    "status",
    "attempt_count",
    "schedule_step",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "completed_at",
    "attempts",
)


RECORD_ATTEMPTS = text(
    """
    UPDATE webhook_deliveries AS d SET
        status = v.status, attempt_count = v.attempt_count, schedule_step = v.schedule_step,
        next_attempt_at = v.next_attempt_at, last_attempt_at = v.last_attempt_at,
        last_status_code = v.last_status_code, last_error = v.last_error,
        completed_at = v.completed_at, attempts = v.attempts::jsonb, updated_at = now()
    FROM unnest(
        CAST(:id AS varchar[]), CAST(:status AS varchar[]), CAST(:attempt_count AS integer[]),
        CAST(:schedule_step AS integer[]), CAST(:next_attempt_at AS timestamptz[]),
        CAST(:last_attempt_at AS timestamptz[]), CAST(:last_status_code AS integer[]),
        CAST(:last_error AS varchar[]), CAST(:completed_at AS timestamptz[]), CAST(:attempts AS text[])
    ) AS v(id, status, attempt_count, schedule_step, next_attempt_at, last_attempt_at,
           last_status_code, last_error, completed_at, attempts)
    WHERE d.id = v.id
    """
)


class LineEntry(NamedTuple):
    """A pending delivery with the event it carries, as a drain reads it (no ORM objects: it is hot)."""

    id: str
    event_id: int
    attempt_count: int
    schedule_step: int
    next_attempt_at: datetime | None
    attempts: list[dict[str, Any]]
    type: str
    created_at: datetime
    data: dict[str, Any]


LINE_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.event_id,
    WebhookDelivery.attempt_count,
    WebhookDelivery.schedule_step,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.attempts,
    Event.type,
    Event.created_at,
    Event.data,
)


class WebhookEndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[WebhookEndpoint]:
        return select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)

    async def get(self, organization_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.session.scalar(
            self.for_organization(organization_id).where(WebhookEndpoint.id == endpoint_id)
        )

    async def get_any(self, endpoint_id: str) -> WebhookEndpoint | None:
        """By id alone: for workers, which act on ids they were handed."""
        return await self.session.get(WebhookEndpoint, endpoint_id, populate_existing=True)

    async def enabled(self, organization_id: str) -> Sequence[WebhookEndpoint]:
        statement = self.for_organization(organization_id).where(WebhookEndpoint.enabled.is_(True))
        return list((await self.session.scalars(statement)).all())

    async def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()

    async def try_lock_for_delivery(self, endpoint_id: str) -> bool:
        """One sender per endpoint at a time (per-endpoint FIFO), until this transaction ends."""
        locked = await self.session.scalar(
            select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"webhooks:{endpoint_id}", 0)))
        )
        return bool(locked)


class WebhookDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[WebhookDelivery]:
        return select(WebhookDelivery).where(WebhookDelivery.organization_id == organization_id)

    async def get(self, organization_id: str, delivery_id: str) -> WebhookDelivery | None:
        return await self.session.scalar(
            self.for_organization(organization_id).where(WebhookDelivery.id == delivery_id)
        )

    async def get_any(self, delivery_id: str) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id)

    async def for_event(self, endpoint_id: str, event_id: int) -> WebhookDelivery | None:
        return await self.session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.event_id == event_id
            )
        )

    async def add_all(self, deliveries: Sequence[WebhookDelivery]) -> None:
        self.session.add_all(deliveries)
        await self.session.flush()

    async def claim_line(self, endpoint_id: str, limit: int) -> list[LineEntry]:
        """The first `limit` pending deliveries of the endpoint in event order, locked until commit.

        Plain FOR UPDATE, not SKIP LOCKED: the caller holds the endpoint's line lock, so the only other
        lockers are brief API writes (a manual retry), and skipping a row would send past it.
        """
        statement = (
            select(*LINE_COLUMNS)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
            .order_by(WebhookDelivery.event_id)
            .limit(limit)
            .with_for_update(of=WebhookDelivery)
        )
        return [LineEntry(*row) for row in (await self.session.execute(statement)).all()]

    async def record_attempts(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Write a batch of attempts' outcomes (keys of `RECORDED_FIELDS` and `id`) in one statement.

        One UPDATE joined to arrays (unnest) rather than one UPDATE per row: a drain records up to
        a batch of attempts per transaction, and this is most of its database time.
        """
        if not outcomes:
            return
        columns = {name: [outcome[name] for outcome in outcomes] for name in ("id", *RECORDED_FIELDS)}
        columns["attempts"] = [json.dumps(attempts) for attempts in columns["attempts"]]
        await self.session.execute(RECORD_ATTEMPTS, columns)

    async def due_endpoints(self, now: datetime, limit: int) -> list[str]:
        """For the sweep: endpoints whose head delivery (earliest pending) is due."""
        head = (
            select(WebhookDelivery.endpoint_id, func.min(WebhookDelivery.event_id).label("event_id"))
            .where(WebhookDelivery.status == PENDING)
            .group_by(WebhookDelivery.endpoint_id)
            .subquery()
        )
        statement = (
            select(WebhookDelivery.endpoint_id)
            .join(
                head,
                (head.c.endpoint_id == WebhookDelivery.endpoint_id)
                & (head.c.event_id == WebhookDelivery.event_id),
            )
            .where(WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return list((await self.session.scalars(statement)).all())

    async def fail_pending(self, endpoint_id: str, reason: str, now: datetime) -> int:
        """Close every pending delivery of an endpoint (it was disabled)."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
            .values(status=FAILED, last_error=reason[:500], completed_at=now, next_attempt_at=None)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

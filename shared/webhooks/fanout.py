"""Fan-out: one delivery per enabled endpoint that wants an event, in the event's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Event, WebhookDelivery, WebhookEndpoint
from shared.webhooks.lines import wake_line
from shared.webhooks.repository import WebhookDeliveryRepository, WebhookEndpointRepository


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether the endpoint's filter (exact types, `prefix.*`, or empty for all) takes the type."""
    if not endpoint.event_types:
        return True
    return any(
        pattern in (event_type, "*") or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
        for pattern in endpoint.event_types
    )


def new_delivery(endpoint: WebhookEndpoint, event: Event, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        organization_id=event.organization_id,
        endpoint_id=endpoint.id,
        event_id=event.id,
        next_attempt_at=now,
        attempt_count=0,
        schedule_step=0,
        attempts=[],
    )


async def fan_out(
    session: AsyncSession, event: Event, *, only: WebhookEndpoint | None = None
) -> list[WebhookDelivery]:
    """Create and queue the event's deliveries (to `only`, if given, whatever its filter)."""
    if only is not None:
        endpoints = [only]
    else:
        candidates = await WebhookEndpointRepository(session).enabled(event.organization_id)
        endpoints = [endpoint for endpoint in candidates if wants(endpoint, event.type)]
    if not endpoints:
        return []
    now = datetime.now(UTC)
    deliveries = [new_delivery(endpoint, event, now) for endpoint in endpoints]
    await WebhookDeliveryRepository(session).add_all(deliveries)
    for endpoint in endpoints:
        wake_line(session, endpoint.id)
    return deliveries

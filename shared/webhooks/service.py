"""Webhook endpoints: register (SSRF-checked), change, rotate secrets, test, retry and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.errors import NotFound, ValidationFailed
from shared.events.repository import EventRepository
from shared.events.service import record_event
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.models.webhook_delivery import PENDING
from shared.security import secret_box
from shared.webhooks.fanout import fan_out, new_delivery, wants
from shared.webhooks.lines import wake_line
from shared.webhooks.repository import WebhookDeliveryRepository, WebhookEndpointRepository
from shared.webhooks.signing import generate_secret
from shared.webhooks.ssrf import UnsafeWebhookUrl, check_webhook_url

MAX_REPLAY_EVENTS = 10_000


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str


async def _check_url(settings: Settings, url: str) -> None:
    try:
        await check_webhook_url(url, allow_private=settings.webhooks.allow_private_urls)
    except UnsafeWebhookUrl as error:
        raise ValidationFailed(
            f"The webhook URL is refused: {error}.", errors=[{"detail": str(error), "pointer": "#/url"}]
        ) from None


async def get_endpoint(session: AsyncSession, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await WebhookEndpointRepository(session).get(organization_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Webhook endpoint {endpoint_id!r} not found.")
    return endpoint


async def create_endpoint(
    session: AsyncSession,
    settings: Settings,
    organization_id: str,
    *,
    url: str,
    event_types: list[str],
    description: str,
    enabled: bool,
) -> EndpointWithSecret:
    """Register an endpoint with a fresh `whsec_` secret (returned here only, stored encrypted)."""
    await _check_url(settings, url)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=url,
        event_types=event_types,
        description=description,
        enabled=enabled,
        secret_encrypted=secret_box(settings).encrypt(secret.encode()),
    )
    # Recorded before the endpoint exists: other endpoints hear of it, it does not hear of itself.
    await record_event(
        session,
        organization_id,
        "webhook_endpoint.created",
        {"id": endpoint.id, "url": url},
        subject_id=endpoint.id,
    )
    await WebhookEndpointRepository(session).add(endpoint)
    return EndpointWithSecret(endpoint, secret)


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    organization_id: str,
    endpoint_id: str,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; enabling again clears the failure clock."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    if url is not None:
        await _check_url(settings, url)
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = event_types
    if description is not None:
        endpoint.description = description
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        if enabled:
            endpoint.failing_since = endpoint.disabled_at = endpoint.disabled_reason = None
        else:
            endpoint.disabled_at, endpoint.disabled_reason = datetime.now(UTC), "disabled by the API"
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    await WebhookEndpointRepository(session).delete(endpoint)
    return endpoint


async def rotate_secret(
    session: AsyncSession, settings: Settings, organization_id: str, endpoint_id: str
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing beside it for the rotation window."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    secret = generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = datetime.now(UTC) + timedelta(
        hours=settings.webhooks.secret_rotation_hours
    )
    endpoint.secret_encrypted = secret_box(settings).encrypt(secret.encode())
    await session.flush()
    return EndpointWithSecret(endpoint, secret)


async def send_test(session: AsyncSession, organization_id: str, endpoint_id: str) -> WebhookDelivery:
    """A `webhook_endpoint.test` event delivered to this endpoint only (even when disabled or filtered)."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    event = await record_event(
        session,
        organization_id,
        "webhook_endpoint.test",
        {"id": endpoint.id},
        subject_id=endpoint.id,
        webhooks=False,
    )
    (delivery,) = await fan_out(session, event, only=endpoint)
    return delivery


def _rearm(session: AsyncSession, delivery: WebhookDelivery) -> None:
    delivery.status, delivery.schedule_step, delivery.completed_at = PENDING, 0, None
    delivery.next_attempt_at = datetime.now(UTC)
    wake_line(session, delivery.endpoint_id)


async def retry_delivery(session: AsyncSession, organization_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (same `webhook-id`)."""
    delivery = await WebhookDeliveryRepository(session).get(organization_id, delivery_id)
    if delivery is None:
        raise NotFound(f"Webhook delivery {delivery_id!r} not found.")
    _rearm(session, delivery)
    await session.flush()
    return delivery


async def replay_since(session: AsyncSession, organization_id: str, endpoint_id: str, since: datetime) -> int:
    """Re-send every event since `since` that the endpoint wants (recover after an outage)."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    events = await EventRepository(session).since(organization_id, since, limit=MAX_REPLAY_EVENTS + 1)
    if len(events) > MAX_REPLAY_EVENTS:
        raise ValidationFailed(
            f"More than {MAX_REPLAY_EVENTS} events since {since.isoformat()}; choose a later time.",
            errors=[{"detail": "too many events to replay", "pointer": "#/since"}],
        )
    deliveries = WebhookDeliveryRepository(session)
    queued, now = 0, datetime.now(UTC)
    for event in events:
        if event.type == "webhook_endpoint.test" or not wants(endpoint, event.type):
            continue
        existing = await deliveries.for_event(endpoint.id, event.id)
        if existing is None:
            delivery = new_delivery(endpoint, event, now)
            await deliveries.add_all([delivery])
            wake_line(session, delivery.endpoint_id)
        elif existing.status != PENDING:
            _rearm(session, existing)
        else:
            continue
        queued += 1
    await session.flush()
    return queued

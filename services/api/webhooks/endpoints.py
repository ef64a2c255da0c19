"""Webhook endpoints, their delivery log, test pings, retries and replays."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from services.api.webhooks.schemas import (
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
    WebhookReplay,
    WebhookReplayOut,
)
from shared.errors import NotFound
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.webhooks import service
from shared.webhooks.repository import WebhookDeliveryRepository, WebhookEndpointRepository

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["webhooks"])


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(
        **WebhookEndpointOut.model_validate(endpoint).model_dump(), secret=secret
    )


@router.post(
    "/webhook_endpoints",
    operation_id="create_webhook_endpoint",
    response_model=WebhookEndpointWithSecret,
    status_code=status.HTTP_201_CREATED,
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate, session: SessionDep, organization_id: OrgDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    """Register an endpoint; its signing secret is in this response only."""
    created = await service.create_endpoint(session, settings, organization_id, **body.model_dump())
    await session.refresh(created.endpoint)
    return _with_secret(created.endpoint, created.secret)


@router.get(
    "/webhook_endpoints", operation_id="list_webhook_endpoints", response_model=Page[WebhookEndpointOut]
)
async def list_webhook_endpoints(
    session: SessionDep, organization_id: OrgDep, page: PageDep
) -> Page[WebhookEndpointOut]:
    """The organization's webhook endpoints, newest first."""
    statement = WebhookEndpointRepository(session).for_organization(organization_id)
    rows, has_more = await paginate(session, statement, WebhookEndpoint.id, page)
    return to_page([WebhookEndpointOut.model_validate(row) for row in rows], has_more)


@router.get(
    "/webhook_endpoints/{endpoint_id}", operation_id="get_webhook_endpoint", response_model=WebhookEndpointOut
)
async def get_webhook_endpoint(
    endpoint_id: str, session: SessionDep, organization_id: OrgDep
) -> WebhookEndpointOut:
    """One webhook endpoint (without its secret)."""
    return WebhookEndpointOut.model_validate(
        await service.get_endpoint(session, organization_id, endpoint_id)
    )


@router.patch(
    "/webhook_endpoints/{endpoint_id}",
    operation_id="update_webhook_endpoint",
    response_model=WebhookEndpointOut,
)
async def update_webhook_endpoint(
    endpoint_id: str,
    body: WebhookEndpointUpdate,
    session: SessionDep,
    organization_id: OrgDep,
    settings: SettingsDep,
) -> WebhookEndpointOut:
    """Change an endpoint's URL, filter, description or whether it is enabled."""
    endpoint = await service.update_endpoint(
        session, settings, organization_id, endpoint_id, **body.model_dump(exclude_unset=True)
    )
    await session.refresh(endpoint)
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "/webhook_endpoints/{endpoint_id}",
    operation_id="delete_webhook_endpoint",
    response_model=WebhookEndpointOut,
)
async def delete_webhook_endpoint(
    endpoint_id: str, session: SessionDep, organization_id: OrgDep
) -> WebhookEndpointOut:
    """Delete an endpoint and its delivery log."""
    endpoint = await service.delete_endpoint(session, organization_id, endpoint_id)
    return WebhookEndpointOut.model_validate(endpoint)


@router.post(
    "/webhook_endpoints/{endpoint_id}/rotate_secret",
    operation_id="rotate_webhook_endpoint_secret",
    response_model=WebhookEndpointWithSecret,
)
async def rotate_webhook_endpoint_secret(
    endpoint_id: str, session: SessionDep, organization_id: OrgDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    """A new signing secret (shown once); the old one keeps signing beside it for 24 hours."""
    rotated = await service.rotate_secret(session, settings, organization_id, endpoint_id)
    await session.refresh(rotated.endpoint)
    return _with_secret(rotated.endpoint, rotated.secret)


@router.post(
    "/webhook_endpoints/{endpoint_id}/test",
    operation_id="test_webhook_endpoint",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def test_webhook_endpoint(
    endpoint_id: str, session: SessionDep, organization_id: OrgDep
) -> WebhookDeliveryOut:
    """Send a `webhook_endpoint.test` ping to this endpoint."""
    delivery = await service.send_test(session, organization_id, endpoint_id)
    await session.refresh(delivery)
    return WebhookDeliveryOut.model_validate(delivery)


@router.post(
    "/webhook_endpoints/{endpoint_id}/replay",
    operation_id="replay_webhook_endpoint",
    response_model=WebhookReplayOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def replay_webhook_endpoint(
    endpoint_id: str, body: WebhookReplay, session: SessionDep, organization_id: OrgDep
) -> WebhookReplayOut:
    """Re-send every event since a time that the endpoint wants (recover after an outage)."""
    queued = await service.replay_since(session, organization_id, endpoint_id, body.since)
    return WebhookReplayOut(endpoint_id=endpoint_id, since=body.since, deliveries_queued=queued)


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=Page[WebhookDeliveryOut],
)
async def list_webhook_deliveries(
    endpoint_id: str,
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    delivery_status: Annotated[
        Literal["pending", "succeeded", "failed"] | None,
        Query(alias="status", description="Only deliveries in this state."),
    ] = None,
) -> Page[WebhookDeliveryOut]:
    """The endpoint's delivery log, newest first: every attempt with status code, latency and response."""
    await service.get_endpoint(session, organization_id, endpoint_id)
    statement = (
        WebhookDeliveryRepository(session)
        .for_organization(organization_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    if delivery_status is not None:
        statement = statement.where(WebhookDelivery.status == delivery_status)
    rows, has_more = await paginate(session, statement, WebhookDelivery.id, page)
    return to_page([WebhookDeliveryOut.model_validate(row) for row in rows], has_more)


@router.get(
    "/webhook_deliveries/{delivery_id}",
    operation_id="get_webhook_delivery",
    response_model=WebhookDeliveryOut,
)
async def get_webhook_delivery(
    delivery_id: str, session: SessionDep, organization_id: OrgDep
) -> WebhookDeliveryOut:
    """One delivery with its attempts."""
    delivery = await WebhookDeliveryRepository(session).get(organization_id, delivery_id)
    if delivery is None:
        raise NotFound(f"Webhook delivery {delivery_id!r} not found.")
    return WebhookDeliveryOut.model_validate(delivery)


@router.post(
    "/webhook_deliveries/{delivery_id}/retry",
    operation_id="retry_webhook_delivery",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def retry_webhook_delivery(
    delivery_id: str, session: SessionDep, organization_id: OrgDep
) -> WebhookDeliveryOut:
    """Send a delivery again (same `webhook-id`), from the start of the retry schedule."""
    delivery = await service.retry_delivery(session, organization_id, delivery_id)
    await session.refresh(delivery)
    return WebhookDeliveryOut.model_validate(delivery)

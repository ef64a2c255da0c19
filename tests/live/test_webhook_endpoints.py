"""Webhook endpoints over the API: secret shown once and encrypted, SSRF refused, rotation, test, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.events.service import record_event
from shared.models import WebhookDelivery, WebhookEndpoint
from tests.fixtures.live import with_private_webhooks
from tests.fixtures.organizations import create_org


@pytest.fixture
def private_ok(app: FastAPI, settings: Settings) -> None:
    app.state.settings = with_private_webhooks(settings)


async def test_secret_is_shown_once_and_encrypted_at_rest(
    client: AsyncClient, db: AsyncSession, private_ok: None
) -> None:
    org = await create_org(db)
    created = await client.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["fine_tuning.job.*"], "description": "ci"},
        headers=org.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["fine_tuning.job.*"]
    read = (await client.get(f"/v1/webhook_endpoints/{body['id']}", headers=org.headers)).json()
    listed = (await client.get("/v1/webhook_endpoints", headers=org.headers)).json()["data"]
    assert "secret" not in read and all("secret" not in item for item in listed)
    stored = await db.scalar(select(WebhookEndpoint.secret_encrypted).where(WebhookEndpoint.id == body["id"]))
    assert stored is not None and body["secret"].encode() not in stored
    # Creating it is itself an event of the organization.
    events = (await client.get("/v1/events", headers=org.headers)).json()["data"]
    assert events[0]["type"] == "webhook_endpoint.created" and events[0]["data"]["id"] == body["id"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
    ],
)
async def test_private_and_malformed_urls_are_refused(
    client: AsyncClient, db: AsyncSession, url: str
) -> None:
    org = await create_org(db)
    response = await client.post("/v1/webhook_endpoints", json={"url": url}, headers=org.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed" and problem["errors"][0]["pointer"] == "#/url"


async def test_filters_are_validated(client: AsyncClient, db: AsyncSession, private_ok: None) -> None:
    org = await create_org(db)
    response = await client.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/", "event_types": ["bad type!"]},
        headers=org.headers,
    )
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "#/event_types"


async def test_update_rotate_delete_and_isolation(
    client: AsyncClient, db: AsyncSession, private_ok: None
) -> None:
    org, other = await create_org(db, "Acme"), await create_org(db, "Globex")
    endpoint = (
        await client.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/a"}, headers=org.headers)
    ).json()
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("POST", "/rotate_secret"),
    ]:
        response = await client.request(
            method, path + suffix, headers=other.headers, json={} if method != "GET" else None
        )
        assert response.status_code == 404, (method, suffix)
    patched = await client.patch(path, json={"enabled": False, "description": "paused"}, headers=org.headers)
    assert patched.json()["enabled"] is False and patched.json()["disabled_reason"] == "disabled by the API"
    enabled = (await client.patch(path, json={"enabled": True}, headers=org.headers)).json()
    assert enabled["enabled"] and enabled["disabled_at"] is None
    rotated = (await client.post(f"{path}/rotate_secret", headers=org.headers)).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    assert datetime.fromisoformat(rotated["previous_secret_expires_at"]) > datetime.now(UTC) + timedelta(
        hours=23
    )
    assert (await client.delete(path, headers=org.headers)).status_code == 200
    assert (await client.get(path, headers=org.headers)).status_code == 404


async def test_test_ping_retry_and_replay_queue_deliveries(
    client: AsyncClient, db: AsyncSession, private_ok: None
) -> None:
    org = await create_org(db)
    endpoint = (
        await client.post(
            "/v1/webhook_endpoints",
            json={"url": "http://127.0.0.1:9/", "event_types": ["dataset.*"]},
            headers=org.headers,
        )
    ).json()
    ping = await client.post(f"/v1/webhook_endpoints/{endpoint['id']}/test", headers=org.headers)
    assert ping.status_code == 202 and ping.json()["status"] == "pending"
    await record_event(db, org.id, "dataset.ready", {"id": "ds_1"})
    await record_event(db, org.id, "fine_tuning.job.metrics", {"step": 1})  # filtered out
    deliveries = (
        await client.get(f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", headers=org.headers)
    ).json()
    assert len(deliveries["data"]) == 2  # the ping and dataset.ready
    # Mark everything delivered, then replay: the dataset event is re-armed, the ping is not replayed.
    for delivery in (await db.scalars(select(WebhookDelivery))).all():
        delivery.status = "succeeded"
    await db.flush()
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    replay = await client.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/replay", json={"since": since}, headers=org.headers
    )
    assert replay.status_code == 202 and replay.json()["deliveries_queued"] == 1
    pending = (
        await client.get(
            f"/v1/webhook_endpoints/{endpoint['id']}/deliveries?status=pending", headers=org.headers
        )
    ).json()["data"]
    assert len(pending) == 1
    retried = await client.post(f"/v1/webhook_deliveries/{ping.json()['id']}/retry", headers=org.headers)
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    naive = await client.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/replay",
        json={"since": "2026-01-01T00:00:00"},
        headers=org.headers,
    )
    assert naive.status_code == 422

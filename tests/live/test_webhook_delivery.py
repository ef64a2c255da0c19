"""Delivering webhooks to a real local receiver: signatures checked by `standardwebhooks` itself,
per-endpoint order, the multi-day schedule on a fake clock, 410, 3xx, disabling, SSRF at send time."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from shared.config import Settings
from shared.events.service import record_event
from shared.models import Event, WebhookDelivery, WebhookEndpoint
from shared.webhooks.delivery import deliver_line
from shared.webhooks.sender import WebhookSender
from shared.webhooks.service import rotate_secret
from tests.fixtures.live import (
    FakeClock,
    WebhookReceiver,
    create_webhook_endpoint,
    serve,
    with_private_webhooks,
)
from tests.fixtures.organizations import create_org


@pytest.fixture
def private_settings(settings: Settings) -> Settings:
    return with_private_webhooks(settings)


@pytest.fixture
async def sender(private_settings: Settings) -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(private_settings.webhooks)
    yield sender
    await sender.aclose()


async def _deliveries(db: AsyncSession, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.event_id)
    )
    return list((await db.scalars(statement.execution_options(populate_existing=True))).all())


async def test_deliveries_verify_with_the_standardwebhooks_library(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, secret = await create_webhook_endpoint(
            db, private_settings, org.id, f"{url}/hooks", event_types=["fine_tuning.job.*"]
        )
        events = [
            await record_event(
                db, org.id, "fine_tuning.job.status_changed", {"id": "ftjob_1", "status": "running"}
            ),
            await record_event(
                db, org.id, "fine_tuning.job.metrics", {"id": "ftjob_1", "step": 3, "train_loss": 0.9}
            ),
        ]
        await record_event(db, org.id, "dataset.ready", {"id": "ds_1"})  # not wanted by the filter
        first = (await _deliveries(db, endpoint))[0]
        result = await deliver_line(db, private_settings, sender, first.id)
    assert result.sent == result.succeeded == 2
    assert receiver.ids() == [f"evt_{e.id}" for e in events]
    for received, event in zip(receiver.received, events, strict=True):
        payload = Webhook(secret).verify(received.body, received.headers)
        assert payload == json.loads(received.body)
        assert set(payload) == {"id", "type", "created_at", "data"} and payload["type"] == event.type
        assert received.headers["content-type"] == "application/json"
    stored = await _deliveries(db, endpoint)
    assert [d.status for d in stored] == ["succeeded", "succeeded"]
    assert stored[0].attempts[0]["status_code"] == 200 and stored[0].attempts[0]["response"] == "answered 200"
    assert stored[0].attempts[0]["latency_ms"] > 0


async def test_rotation_signs_with_old_and_new_secrets(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, old_secret = await create_webhook_endpoint(db, private_settings, org.id, url)
        new_secret = (await rotate_secret(db, private_settings, org.id, endpoint.id)).secret
        await record_event(db, org.id, "dataset.ready", {"id": "ds_1"})
        (delivery,) = await _deliveries(db, endpoint)
        await deliver_line(db, private_settings, sender, delivery.id)
    (received,) = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(received.body, received.headers)


async def test_a_receiver_down_for_ten_minutes_gets_every_event_in_order(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    clock = FakeClock()
    down_until = clock.now.timestamp() + 600
    receiver = WebhookReceiver(answer=lambda _: 503 if clock.now.timestamp() < down_until else 200)
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, secret = await create_webhook_endpoint(db, private_settings, org.id, url)
        events = [
            await record_event(db, org.id, "fine_tuning.job.metrics", {"step": step}) for step in range(5)
        ]
        head = (await _deliveries(db, endpoint))[0]
        # Walk the schedule: run the line whenever its head is due, jumping the clock between attempts.
        for _ in range(20):
            await deliver_line(db, private_settings, sender, head.id, clock=clock, rng=lambda: 0.5)
            pending = [d for d in await _deliveries(db, endpoint) if d.status == "pending"]
            if not pending:
                break
            assert pending[0].next_attempt_at is not None
            clock.now = max(clock.now, pending[0].next_attempt_at)
    expected = [f"evt_{e.id}" for e in events]
    delivered = [r.webhook_id for r in receiver.received if receiver.answer(r) == 200]
    assert set(receiver.ids()) == set(expected)  # nothing missing, nothing foreign
    assert delivered[-5:] == expected  # after recovery: each once, in order
    # The head was retried on the schedule (0, 5 s, 5 min, 30 min): same webhook-id, fresh signatures.
    head_attempts = [r for r in receiver.received if r.webhook_id == expected[0]]
    assert len(head_attempts) == 4
    assert all(Webhook(secret).verify(r.body, r.headers) for r in head_attempts)
    stored = await _deliveries(db, endpoint)
    assert all(d.status == "succeeded" for d in stored)
    assert [a["status_code"] for a in stored[0].attempts] == [503, 503, 503, 200]
    times = [datetime.fromisoformat(a["at"]) for a in stored[0].attempts]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [5, 300, 1800]
    await db.refresh(endpoint)
    assert endpoint.enabled and endpoint.failing_since is None


async def test_fifo_later_deliveries_wait_behind_a_failing_head(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    receiver = WebhookReceiver(answer=lambda _: 500)
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, _ = await create_webhook_endpoint(db, private_settings, org.id, url)
        for step in range(3):
            await record_event(db, org.id, "fine_tuning.job.metrics", {"step": step})
        deliveries = await _deliveries(db, endpoint)
        # The job of the third delivery runs first: the line still starts at its head.
        await deliver_line(db, private_settings, sender, deliveries[2].id, clock=FakeClock())
    assert len(receiver.received) == 1 and receiver.ids()[0] == f"evt_{deliveries[0].event_id}"
    stored = await _deliveries(db, endpoint)
    assert [d.attempt_count for d in stored] == [1, 0, 0]
    assert stored[0].last_status_code == 500 and stored[0].next_attempt_at is not None


async def test_redirects_are_failures_and_410_disables_at_once(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    answers = iter([302, 410])
    receiver = WebhookReceiver(answer=lambda _: next(answers))
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, _ = await create_webhook_endpoint(db, private_settings, org.id, url)
        await record_event(db, org.id, "dataset.ready", {"id": "ds_1"})
        await record_event(db, org.id, "dataset.ready", {"id": "ds_2"})
        clock = FakeClock()
        head = (await _deliveries(db, endpoint))[0]
        await deliver_line(db, private_settings, sender, head.id, clock=clock)
        stored = await _deliveries(db, endpoint)
        assert stored[0].status == "pending" and stored[0].last_status_code == 302
        clock.advance(seconds=10)
        await deliver_line(db, private_settings, sender, head.id, clock=clock)
    await db.refresh(endpoint)
    assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
    assert [d.status for d in await _deliveries(db, endpoint)] == ["failed", "failed"]
    disabled = await db.scalar(
        select(Event).where(Event.type == "webhook_endpoint.disabled", Event.organization_id == org.id)
    )
    assert disabled is not None and disabled.data["id"] == endpoint.id


async def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event(
    db: AsyncSession, private_settings: Settings, sender: WebhookSender
) -> None:
    receiver = WebhookReceiver(answer=lambda _: 500)
    async with serve(receiver.app()) as url:
        org = await create_org(db)
        endpoint, _ = await create_webhook_endpoint(db, private_settings, org.id, url)
        clock = FakeClock()
        for day in range(7):
            await record_event(db, org.id, "dataset.ready", {"day": day})
            for _ in range(12):
                pending = [d for d in await _deliveries(db, endpoint) if d.status == "pending"]
                if not pending or not endpoint.enabled:
                    break
                assert pending[0].next_attempt_at is not None
                clock.now = max(clock.now, pending[0].next_attempt_at)
                await deliver_line(db, private_settings, sender, pending[0].id, clock=clock)
                await db.refresh(endpoint)
            clock.advance(days=1)
    await db.refresh(endpoint)
    assert not endpoint.enabled and "120 hours" in (endpoint.disabled_reason or "")
    types = (await db.scalars(select(Event.type).where(Event.organization_id == org.id))).all()
    assert types.count("webhook_endpoint.disabled") == 1


async def test_private_addresses_are_refused_again_at_send_time(
    db: AsyncSession, settings: Settings, private_settings: Settings
) -> None:
    receiver = WebhookReceiver()
    strict = WebhookSender(settings.webhooks)  # allow_private_urls is off
    try:
        async with serve(receiver.app()) as url:
            org = await create_org(db)
            endpoint, _ = await create_webhook_endpoint(db, private_settings, org.id, url)
            await record_event(db, org.id, "dataset.ready", {"id": "ds_1"})
            (delivery,) = await _deliveries(db, endpoint)
            await deliver_line(db, settings, strict, delivery.id, clock=FakeClock())
    finally:
        await strict.aclose()
    assert receiver.received == []
    (stored,) = await _deliveries(db, endpoint)
    assert stored.status == "pending" and (stored.last_error or "").startswith("refused:")

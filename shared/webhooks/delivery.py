"""Draining an endpoint's line of deliveries in order, with retries on a multi-day schedule.

Per-endpoint FIFO: one drain holds an endpoint's line at a time (a transaction lock per endpoint)
and sends its pending deliveries in event order; a delivery waits while an earlier one is pending.
A drain works in batches, one transaction each: it claims up to `drain_batch_size` deliveries (rows
locked), sends the due ones from the head until one fails (its retry is scheduled and a job deferred
to it) or the time budget is spent (a continuation is queued), then records every attempt in one
statement and commits. A worker killed mid-batch commits nothing, so the batch is sent again
(receivers de-duplicate by `webhook-id`). Time comes from an injected clock, so tests can walk a
multi-day schedule without sleeping.

The SSRF check resolves the URL once per drain (not per send) and every send of the drain connects to
that checked address; a drain lasts at most `drain_budget_seconds`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.events.envelope import envelope_json_of, public_event_id
from shared.events.service import record_event
from shared.models import WebhookEndpoint
from shared.models.webhook_delivery import FAILED, PENDING, SUCCEEDED
from shared.security import secret_box
from shared.webhooks.lines import advance_generation, current_generation, wake_line, wake_line_at
from shared.webhooks.repository import LineEntry, WebhookDeliveryRepository, WebhookEndpointRepository
from shared.webhooks.sender import AttemptResult, Destination, WebhookSender
from shared.webhooks.signing import Signer
from shared.webhooks.ssrf import UnsafeWebhookUrl

log = structlog.get_logger()
Clock = Callable[[], datetime]
MAX_LOGGED_ATTEMPTS = 25
# How often a drain that found the line taken looks again (doubling up to the maximum).
LINE_WAIT_SECONDS = 0.05
LINE_WAIT_MAX_SECONDS = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DrainResult:
    sent: int = 0
    succeeded: int = 0
    # Another drain held the line for the whole budget: try again later.
    busy: bool = False


def retry_delay(
    settings: Settings, step: int, result: AttemptResult, rng: Callable[[], float]
) -> float | None:
    """Seconds before attempt `step + 1` of a series, or None once the schedule is spent."""
    schedule = settings.webhooks.retry_schedule_seconds
    if step >= len(schedule):
        return None
    jitter = settings.webhooks.retry_jitter
    delay = schedule[step] * (1 - jitter + 2 * jitter * rng())
    if result.retry_after_seconds is not None:
        delay = max(delay, min(result.retry_after_seconds, 86400.0))
    return delay


def signing_secrets(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, plus the previous one while its rotation window lasts."""
    box = secret_box(settings)
    secrets = [box.decrypt(endpoint.secret_encrypted).decode()]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted is not None and expires is not None and expires > now:
        secrets.append(box.decrypt(endpoint.previous_secret_encrypted).decode())
    return secrets


def attempt_outcome(entry: LineEntry, result: AttemptResult, now: datetime) -> dict[str, Any]:
    """The delivery's columns after this attempt (still pending; the caller settles the status)."""
    logged = {
        "number": entry.attempt_count + 1,
        "at": now.isoformat(),
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "response": result.response_excerpt,
        "error": result.error,
    }
    return {
        "id": entry.id,
        "status": PENDING,
        "attempt_count": entry.attempt_count + 1,
        "schedule_step": entry.schedule_step + 1,
        "next_attempt_at": entry.next_attempt_at,
        "last_attempt_at": now,
        "last_status_code": result.status_code,
        "last_error": result.error or (None if result.succeeded else f"HTTP {result.status_code}"),
        "completed_at": None,
        "attempts": [*entry.attempts, logged][-MAX_LOGGED_ATTEMPTS:],
    }


async def disable_endpoint(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    """Stop sending to an endpoint, close its line, and record `webhook_endpoint.disabled`."""
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:500]
    await WebhookDeliveryRepository(session).fail_pending(endpoint.id, f"endpoint disabled: {reason}", now)
    await record_event(
        session,
        endpoint.organization_id,
        "webhook_endpoint.disabled",
        {"id": endpoint.id, "url": endpoint.url, "reason": reason},
        subject_id=endpoint.id,
    )
    log.warning("webhooks.endpoint_disabled", endpoint_id=endpoint.id, reason=reason)


@dataclass
class _Drain:
    """One drain of one endpoint: what it checked once, and what it has done."""

    session: AsyncSession
    settings: Settings
    sender: WebhookSender
    endpoint_id: str
    redis: Redis | None
    clock: Clock
    rng: Callable[[], float]
    deadline: float
    result: DrainResult = field(default_factory=DrainResult)
    held_line: bool = False
    signer: Signer | None = None
    signed_with: bytes | None = None
    target_url: str | None = None
    target: Destination | None = None
    refusal: str | None = None

    async def take_line(self) -> bool:
        """Hold the endpoint's line until this transaction ends; False when another drain covers it."""
        endpoints = WebhookEndpointRepository(self.session)
        seen = await current_generation(self.redis, self.endpoint_id) if self.redis is not None else 0
        pause = LINE_WAIT_SECONDS
        while not await endpoints.try_lock_for_delivery(self.endpoint_id):
            await self.session.rollback()  # hand the connection back while waiting
            if self.held_line or self.redis is None:
                # After a batch of ours: whoever took the line reads it from the head after our commit.
                self.result.busy = not self.held_line
                return False
            if time.monotonic() > self.deadline:
                self.result.busy = True
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, LINE_WAIT_MAX_SECONDS)
            if await current_generation(self.redis, self.endpoint_id) > seen:
                return False  # another drain took the line after we were woken, and reads it after
        if self.redis is not None:
            await advance_generation(self.redis, self.endpoint_id)
        self.held_line = True
        return True

    async def prepare(self, endpoint: WebhookEndpoint, now: datetime) -> None:
        """Secrets and the SSRF-checked address: once per drain (again if the secret or URL changed)."""
        if self.signer is None or self.signed_with != endpoint.secret_encrypted:
            self.signer = Signer(signing_secrets(self.settings, endpoint, now))
            self.signed_with = endpoint.secret_encrypted
        if self.target_url != endpoint.url:
            self.target_url, self.target, self.refusal = endpoint.url, None, None
            try:
                self.target = await self.sender.resolve(endpoint.url)
            except UnsafeWebhookUrl as error:
                self.refusal = f"refused: {error}"

    async def send(self, entry: LineEntry) -> AttemptResult:
        if self.target is None or self.signer is None:
            return AttemptResult(None, 0.0, "", self.refusal or "refused")
        body = envelope_json_of(entry.event_id, entry.type, entry.created_at, entry.data).encode()
        return await self.sender.send(self.target, self.signer, public_event_id(entry.event_id), body)

    async def batch(self) -> bool:
        """One transaction: claim, send in order, record; True when the line may hold more that is due."""
        if not await self.take_line():
            return False
        session, hooks = self.session, self.settings.webhooks
        endpoint = await WebhookEndpointRepository(session).get_any(self.endpoint_id)
        if endpoint is None:
            return False  # deleted, and its deliveries with it
        deliveries = WebhookDeliveryRepository(session)
        if not endpoint.enabled:
            await deliveries.fail_pending(endpoint.id, "endpoint disabled", self.clock())
            await session.commit()
            return False
        line = await deliveries.claim_line(endpoint.id, hooks.drain_batch_size)
        if not line:
            await session.commit()
            return False
        await self.prepare(endpoint, self.clock())
        outcomes: list[dict[str, Any]] = []
        # Every `break` stops the drain: the head waits, failed, or the budget is spent.
        stopped, disable_reason = True, None
        for entry in line:
            now = self.clock()
            assert entry.next_attempt_at is not None
            if entry.next_attempt_at > now:
                # The head waits for its retry; everything behind it waits too.
                wait = (entry.next_attempt_at - now).total_seconds()
                wake_line_at(session, endpoint.id, f"due:{entry.id}:{entry.attempt_count}", wait)
                break
            if time.monotonic() > self.deadline:
                wake_line(session, endpoint.id)  # budget spent: a fresh job goes on
                break
            attempt = await self.send(entry)
            now = self.clock()
            outcome = attempt_outcome(entry, attempt, now)
            outcomes.append(outcome)
            self.result.sent += 1
            if attempt.succeeded:
                self.result.succeeded += 1
                outcome.update(status=SUCCEEDED, completed_at=now, next_attempt_at=None)
                if endpoint.failing_since is not None:
                    endpoint.failing_since = None
                continue
            if attempt.gone:
                disable_reason = "the receiver answered 410 Gone"
                break
            endpoint.failing_since = endpoint.failing_since or now
            if now - endpoint.failing_since >= timedelta(hours=hooks.disable_after_hours):
                disable_reason = f"every delivery failed for {hooks.disable_after_hours:g} hours"
                break
            delay = retry_delay(self.settings, outcome["schedule_step"], attempt, self.rng)
            if delay is None:
                # Schedule spent: this one has failed for good and the line moves on.
                outcome.update(status=FAILED, completed_at=now, next_attempt_at=None)
                continue
            outcome["next_attempt_at"] = now + timedelta(seconds=delay)
            wake_line_at(session, endpoint.id, f"retry:{entry.id}:{outcome['attempt_count']}", delay)
            log.info(
                "webhooks.delivery_failed",
                delivery_id=entry.id,
                attempt=outcome["attempt_count"],
                status_code=attempt.status_code,
                error=attempt.error,
                retry_in_seconds=round(delay, 1),
            )
            break
        else:
            stopped = len(line) < hooks.drain_batch_size  # the whole line was in this batch
        await deliveries.record_attempts(outcomes)
        if disable_reason is not None:
            await disable_endpoint(session, endpoint, disable_reason, self.clock())
        await session.commit()
        return not stopped


async def drain_line(
    session: AsyncSession,
    settings: Settings,
    sender: WebhookSender,
    endpoint_id: str,
    *,
    redis: Redis | None = None,
    clock: Clock = utcnow,
    rng: Callable[[], float] = random.random,
) -> DrainResult:
    """Send the endpoint's due deliveries in order, a batch per transaction (each one committed).

    With `redis` (the worker), the drain advances the line's generation whenever it takes the line,
    and waits (up to its budget) for a line another drain holds; without it a held line is `busy`.
    """
    drain = _Drain(
        session,
        settings,
        sender,
        endpoint_id,
        redis,
        clock,
        rng,
        deadline=time.monotonic() + settings.webhooks.drain_budget_seconds,
    )
    while await drain.batch():
        pass
    return drain.result


async def deliver_line(
    session: AsyncSession,
    settings: Settings,
    sender: WebhookSender,
    delivery_id: str,
    *,
    clock: Clock = utcnow,
    rng: Callable[[], float] = random.random,
) -> DrainResult:
    """Drain the line the delivery belongs to (from its head, whichever delivery is named)."""
    delivery = await WebhookDeliveryRepository(session).get_any(delivery_id)
    if delivery is None or delivery.status != PENDING:
        return DrainResult()  # Already handled: a duplicate or late job.
    return await drain_line(session, settings, sender, delivery.endpoint_id, clock=clock, rng=rng)

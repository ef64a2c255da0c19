"""The relay: committed events go to Redis pub/sub right after commit; the sweep sends what it missed.

`record_event` leaves a message on the session; once the transaction commits, the relay publishes it
from a background task and marks the row published. A crash between commit and publish leaves the row
unpublished, and `republish_unpublished` (the sweep) sends it later. Subscribers (the SSE hub) order
and de-duplicate by id, so a message published twice or late does no harm.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.events.envelope import envelope_json
from shared.events.repository import EventRepository
from shared.models import Event

log = structlog.get_logger()

CHANNEL = "attune:events"
PENDING_EVENTS = "attune.pending_events"


@dataclass(frozen=True)
class EventMessage:
    """What goes over pub/sub: routing fields plus the envelope, serialised once."""

    id: int
    previous_id: int | None
    organization_id: str
    subject_id: str | None
    type: str
    envelope: str

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: bytes | str) -> EventMessage:
        fields: dict[str, Any] = json.loads(raw)
        return cls(**fields)

    @classmethod
    def of(cls, event: Event) -> EventMessage:
        return cls(
            event.id,
            event.previous_id,
            event.organization_id,
            event.subject_id,
            event.type,
            envelope_json(event),
        )


async def publish(redis: Redis, messages: Sequence[EventMessage]) -> None:
    """Publish in id order in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for message in sorted(messages, key=lambda m: m.id):
            pipe.publish(CHANNEL, message.encode())
        await pipe.execute()


class EventRelay:
    """Publishes each committed transaction's events; one per process, configured by its edge.

    Publishing happens at once (it is what streams wait for); marking rows published is one UPDATE
    at a time per process, covering every event published meanwhile, so a busy producer does not
    pay a second transaction per commit.
    """

    def __init__(self) -> None:
        self.redis: Redis | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._owner: object | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unmarked: list[int] = []
        self._marker: asyncio.Task[None] | None = None

    def configure(self, redis: Redis, sessionmaker: async_sessionmaker[AsyncSession]) -> object:
        """Start publishing after commit; returns a token for `release` (the first caller owns it)."""
        token = object()
        if self._owner is None:
            self.redis, self.sessionmaker, self._owner = redis, sessionmaker, token
        return token

    async def release(self, token: object) -> None:
        """Wait for in-flight publishes and marks, then stop (only the owner's release does)."""
        if token is not self._owner:
            return
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._marker is not None:
            await asyncio.wait([self._marker], timeout=5)
        self.redis, self.sessionmaker, self._owner = None, None, None

    def schedule(self, messages: list[EventMessage]) -> None:
        if self.redis is None or not messages:
            return  # Not configured here: the sweep publishes them.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._publish(self.redis, self.sessionmaker, messages))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(
        self,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession] | None,
        messages: list[EventMessage],
    ) -> None:
        try:
            await publish(redis, messages)
        except Exception:
            log.warning("events.relay_failed", count=len(messages), exc_info=True)
            return
        if sessionmaker is None:
            return
        self._unmarked.extend(m.id for m in messages)
        loop = asyncio.get_running_loop()
        # (A marker of another event loop is one a test left behind: it never runs again.)
        if self._marker is None or self._marker.done() or self._marker.get_loop() is not loop:
            self._marker = loop.create_task(self._mark(sessionmaker))

    async def _mark(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        while self._unmarked:
            event_ids, self._unmarked = self._unmarked, []
            try:
                async with sessionmaker() as session:
                    await EventRepository(session).mark_published(event_ids)
                    await session.commit()
            except Exception:
                # Published but not marked: the sweep publishes them again (subscribers de-duplicate).
                log.warning("events.relay_mark_failed", count=len(event_ids), exc_info=True)


relay = EventRelay()


@orm_event.listens_for(Session, "after_commit")
def _publish_committed_events(session: Session) -> None:
    pending: list[EventMessage] = session.info.pop(PENDING_EVENTS, [])
    relay.schedule(pending)


@orm_event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_events(session: Session, previous_transaction: object) -> None:
    if not session.in_transaction():
        session.info.pop(PENDING_EVENTS, None)


async def republish_unpublished(
    session: AsyncSession, redis: Redis, *, older_than_seconds: float, limit: int = 500
) -> int:
    """The sweep: publish committed events the relay missed (crash, Redis blip) and mark them."""
    repository = EventRepository(session)
    events = await repository.claim_unpublished(older_than_seconds, limit)
    if not events:
        return 0
    await publish(redis, [EventMessage.of(event) for event in events])
    await repository.mark_published([event.id for event in events])
    log.info("events.republished", count=len(events), first_id=events[0].id, last_id=events[-1].id)
    return len(events)

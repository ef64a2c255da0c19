"""The per-process event hub: one Redis subscription fanned out to every open stream's mailbox.

Per organization the hub keeps the last event id it has handed out. Events of an organization commit
in id order and name their predecessor (`previous_id`), so a message whose predecessor the hub has not
seen reveals a gap (a relay published late, out of order, or Redis dropped it): the hub reads the
missing events from Postgres before going on. Streams therefore get every event once, in order.

Fan-out is the hot path (every event, times every stream): each event is framed once, and a stream's
mailbox is a deque plus one waiter, so a stream that fell behind takes everything pending in one go.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import deque
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.envelope import envelope_json, public_event_id
from shared.events.relay import CHANNEL, EventMessage
from shared.events.repository import EventRepository

log = structlog.get_logger()
# How often the hub looks whether the server is shutting down (to end every stream).
SHUTDOWN_POLL_SECONDS = 0.5


def sse_frame(event_id: int, envelope: str) -> bytes:
    """One SSE event: `id:` is the event id, `data:` the envelope (JSON has no raw newlines)."""
    return f"id: {public_event_id(event_id)}\ndata: {envelope}\n\n".encode()


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    type: str
    subject_id: str | None
    frame: bytes


class Subscription:
    """One stream's mailbox. `lagging`: it overflowed or the hub lost track, so re-read Postgres."""

    __slots__ = (
        "_timer",
        "_timer_at",
        "_waiter",
        "closed",
        "lagging",
        "limit",
        "organization_id",
        "pending",
        "start_id",
        "subject_id",
    )

    def __init__(self, organization_id: str, subject_id: str | None, start_id: int, limit: int) -> None:
        self.organization_id = organization_id
        self.subject_id = subject_id
        self.start_id = start_id
        self.limit = limit
        self.pending: deque[LiveEvent] = deque()
        self.lagging = False
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def offer(self, event: LiveEvent) -> None:
        if self.lagging or (self.subject_id is not None and event.subject_id != self.subject_id):
            return
        if len(self.pending) >= self.limit:
            self.mark_lagging()  # a slow client: it catches up from the database
            return
        self.pending.append(event)
        self._wake()

    def mark_lagging(self) -> None:
        self.lagging = True
        self.pending.clear()
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()
        if self._timer is not None:
            self._timer.cancel()

    def take(self) -> list[LiveEvent]:
        """Everything pending, oldest first."""
        taken = list(self.pending)
        self.pending.clear()
        return taken

    async def wait(self, until: float) -> None:
        """Until something is pending, the stream lags or closes, or the loop's clock reaches `until`.

        It may also return early (a timer set for an earlier `until`): callers check the clock. The
        timer is kept across events, so a busy stream sets one per ping interval, not one per event.
        """
        if self.pending or self.lagging or self.closed:
            return
        loop = asyncio.get_running_loop()
        if until <= loop.time():
            return
        if self._timer is None or self._timer_at > until:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = loop.call_at(until, self._ring), until
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _ring(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass
class _Organization:
    last_id: int
    subscriptions: set[Subscription] = field(default_factory=set)


class EventHub:
    def __init__(
        self, redis_url: str, sessionmaker: async_sessionmaker[AsyncSession], queue_size: int
    ) -> None:
        self.redis_url = redis_url
        self.sessionmaker = sessionmaker
        self.queue_size = queue_size
        self._organizations: dict[str, _Organization] = {}
        # One read of an organization's log position however many streams open at once.
        self._loading: dict[str, asyncio.Task[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self.closing = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="event-hub"),
            asyncio.create_task(self._close_on_shutdown(), name="event-hub-shutdown"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)

    async def stop(self) -> None:
        self.close_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def stream_count(self) -> int:
        return sum(len(org.subscriptions) for org in self._organizations.values())

    async def subscribe(self, organization_id: str, subject_id: str | None) -> Subscription:
        """Register a stream; `start_id` is the newest event it may assume it has already seen."""
        state = self._organizations.get(organization_id)
        if state is None:
            last_id = await self._log_position(organization_id)
            state = self._organizations.setdefault(organization_id, _Organization(last_id))
        subscription = Subscription(organization_id, subject_id, state.last_id, self.queue_size)
        if self.closing:
            subscription.close()
        state.subscriptions.add(subscription)
        return subscription

    async def _log_position(self, organization_id: str) -> int:
        loading = self._loading.get(organization_id)
        if loading is None:
            # A task of its own: a client that hangs up while connecting must not cancel the others' read.
            loading = self._loading[organization_id] = asyncio.ensure_future(
                self._read_position(organization_id)
            )
            loading.add_done_callback(lambda _: self._loading.pop(organization_id, None))
        return await asyncio.shield(loading)

    async def _read_position(self, organization_id: str) -> int:
        async with self.sessionmaker() as session:
            return await EventRepository(session).last_id(organization_id)

    def unsubscribe(self, subscription: Subscription) -> None:
        state = self._organizations.get(subscription.organization_id)
        if state is None:
            return
        state.subscriptions.discard(subscription)
        if not state.subscriptions:
            del self._organizations[subscription.organization_id]

    def close_all(self) -> None:
        """End every stream (the server is shutting down: clients reconnect elsewhere)."""
        self.closing = True
        for state in self._organizations.values():
            for subscription in state.subscriptions:
                subscription.close()

    async def _close_on_shutdown(self) -> None:
        # Uvicorn waits for open responses before its lifespan shutdown runs, so watch its flag.
        while not _server_exiting():  # noqa: ASYNC110 - uvicorn's flag has no event to wait on
            await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
        self.close_all()

    async def _read_forever(self) -> None:
        backoff = 0.5
        while True:
            client = Redis.from_url(self.redis_url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                if self._subscribed.is_set():
                    # Reconnected: whatever was published meanwhile is only in Postgres.
                    self._resync_all()
                self._subscribed.set()
                backoff = 0.5
                async for raw in pubsub.listen():
                    if raw.get("type") == "message":
                        await self.dispatch(EventMessage.decode(raw["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("events.hub_disconnected", retry_in_seconds=backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    def _resync_all(self) -> None:
        for state in self._organizations.values():
            for subscription in state.subscriptions:
                subscription.mark_lagging()

    async def dispatch(self, message: EventMessage) -> None:
        """Hand one published event to the organization's streams, filling any gap from Postgres first."""
        state = self._organizations.get(message.organization_id)
        if state is None or message.id <= state.last_id:
            return  # nobody listening here, or already handed out
        if (message.previous_id or 0) > state.last_id:
            await self._fill_gap(message.organization_id, state, message.id)
            return
        state.last_id = message.id
        self._offer(
            state,
            LiveEvent(message.id, message.type, message.subject_id, sse_frame(message.id, message.envelope)),
        )

    async def _fill_gap(self, organization_id: str, state: _Organization, until_id: int) -> None:
        try:
            async with self.sessionmaker() as session:
                events = await EventRepository(session).after(
                    organization_id, state.last_id, until_id=until_id, limit=10_000
                )
        except Exception:
            log.warning("events.hub_gap_fill_failed", organization_id=organization_id, exc_info=True)
            state.last_id = until_id
            for subscription in state.subscriptions:
                subscription.mark_lagging()
            return
        for event in events:
            if event.id > state.last_id:
                state.last_id = event.id
                self._offer(
                    state,
                    LiveEvent(
                        event.id, event.type, event.subject_id, sse_frame(event.id, envelope_json(event))
                    ),
                )
        state.last_id = max(state.last_id, until_id)

    @staticmethod
    def _offer(state: _Organization, event: LiveEvent) -> None:
        for subscription in state.subscriptions:
            subscription.offer(event)


def _server_exiting() -> bool:
    """Whether the uvicorn server of this process was told to stop (found through its SIGTERM handler)."""
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return bool(getattr(server, "should_exit", False))

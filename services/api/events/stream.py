"""Event streams over SSE: replay from Postgres after `Last-Event-ID`, then live events from the hub.

`stream_events` is generic: the organization's stream (`subject_id=None`) or one subject's (a
fine-tuning job's), which can end after the subject's final event. The jobs API mounts it at
`/v1/fine_tuning/jobs/{id}/stream` with `StreamAccessDep` for authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from services.api.deps import SettingsDep, bearer, get_principal
from services.api.events.hub import EventHub, LiveEvent, Subscription, sse_frame
from shared.config import Settings
from shared.db import transaction
from shared.errors import BadRequest, NotFound
from shared.events.envelope import envelope_json, is_final_event_type, parse_event_id
from shared.events.repository import EventRepository
from shared.events.tokens import read_stream_token

REPLAY_BATCH = 500
# A comment line: keeps idle connections (and the proxies on their way) open.
PING = b": ping\n\n"
EndsWith = Callable[[str], bool]
# No compression anywhere on this path: a gzip layer would hold events back.
SSE_HEADERS = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}
SSE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Server-sent events: `id:` is the event id, `data:` the envelope; pings every 15 s.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@dataclass(frozen=True)
class StreamAccess:
    """Who may read which stream: an API key reads any; a stream token only the one it was minted for."""

    organization_id: str
    token_subject_id: str | None
    via_token: bool

    def require(self, subject_id: str | None) -> None:
        """404 unless this caller may open the stream of `subject_id` (None: the organization's)."""
        if self.via_token and self.token_subject_id != subject_id:
            raise NotFound("This stream token was minted for another stream.")


async def get_stream_access(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[
        str | None, Query(description="A stream token from POST /v1/events/stream_tokens (for EventSource).")
    ] = None,
) -> StreamAccess:
    # No request-wide session: a token needs no database, and streams open by the thousand.
    if token is not None and credentials is None:
        grant = read_stream_token(settings, token)
        return StreamAccess(grant.organization_id, grant.subject_id, via_token=True)
    async with transaction(request.app.state.sessionmaker) as session:
        principal = await get_principal(session, credentials, request)
    return StreamAccess(principal.organization_id, None, via_token=False)


StreamAccessDep = Annotated[StreamAccess, Depends(get_stream_access)]


async def resume_point(
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event (sent by EventSource)."),
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(alias="last_event_id", description="Same as the Last-Event-ID header, for new EventSources."),
    ] = None,
) -> int | None:
    raw = last_event_id if last_event_id is not None else last_event_id_query
    if raw is None or raw == "":
        return None
    parsed = parse_event_id(raw)
    if parsed is None:
        raise BadRequest(
            f"Last-Event-ID {raw!r} is not an event id (evt_<number>).",
            errors=[{"detail": "not an event id", "pointer": "header/Last-Event-ID"}],
        )
    return parsed


ResumeDep = Annotated[int | None, Depends(resume_point)]


async def _replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: str,
    subject_id: str | None,
    after_id: int,
) -> AsyncIterator[list[LiveEvent]]:
    """Committed events after `after_id` from Postgres, a batch at a time."""
    while True:
        async with sessionmaker() as session:
            events = await EventRepository(session).after(
                organization_id, after_id, subject_id=subject_id, limit=REPLAY_BATCH
            )
        if events:
            after_id = events[-1].id
            yield [
                LiveEvent(event.id, event.type, event.subject_id, sse_frame(event.id, envelope_json(event)))
                for event in events
            ]
        if len(events) < REPLAY_BATCH:
            return


@dataclass
class _Stream:
    """One client's stream: replay from Postgres when needed, then live events from the hub."""

    hub: EventHub
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    organization_id: str
    subject_id: str | None
    resume_after: int | None
    from_start: bool
    ends_with: EndsWith | None
    cursor: int = 0
    ended: bool = False
    subscription: Subscription | None = None

    def hang_up(self) -> None:
        """The client went away: end now rather than at the next event or ping."""
        self.ended = True
        if self.subscription is not None:
            self.subscription.close()

    def frames(self, events: list[LiveEvent]) -> bytes:
        """The frames of events past the cursor, as one chunk; sets `ended` after a final event."""
        chunk: list[bytes] = []
        for event in events:
            if event.id <= self.cursor:
                continue  # already sent (a replay and the live mailbox overlap)
            self.cursor = event.id
            chunk.append(event.frame)
            if self.ends_with is not None and self.ends_with(event.type):
                self.ended = True
                break
        return chunk[0] if len(chunk) == 1 else b"".join(chunk)

    async def run(self, send: Send) -> None:
        events, clock = self.settings.events, asyncio.get_running_loop().time
        deadline = clock() + events.sse_max_stream_seconds
        await _send_body(send, f"retry: {events.sse_retry_ms}\n\n".encode())
        self.subscription = subscription = await self.hub.subscribe(self.organization_id, self.subject_id)
        if self.ended:
            subscription.close()
        self.cursor = self.resume_after if self.resume_after is not None else subscription.start_id
        if self.from_start and self.resume_after is None:
            self.cursor = 0
        # A fresh stream starts at the hub's position: everything after it reaches its mailbox.
        catch_up = self.resume_after is not None or self.from_start
        ping_at = clock() + events.sse_ping_seconds
        try:
            while not self.ended and not subscription.closed:
                if catch_up:
                    subscription.lagging = False
                    subscription.take()
                    async for batch in _replay(
                        self.sessionmaker, self.organization_id, self.subject_id, self.cursor
                    ):
                        if chunk := self.frames(batch):
                            await _send_body(send, chunk)
                        if self.ended:
                            return
                    catch_up = False
                await subscription.wait(min(ping_at, deadline))
                now = clock()
                if subscription.lagging:
                    catch_up = True
                    continue
                if subscription.pending:
                    if chunk := self.frames(subscription.take()):
                        await _send_body(send, chunk)
                        ping_at = now + events.sse_ping_seconds
                elif now >= ping_at and not subscription.closed:
                    await _send_body(send, PING)
                    ping_at = now + events.sse_ping_seconds
                if now >= deadline:
                    return  # stream age cap: the client reconnects with Last-Event-ID
        finally:
            self.hub.unsubscribe(subscription)


async def _send_body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _until_disconnect(receive: Receive, stream: _Stream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.hang_up()


class EventStreamResponse(EventSourceResponse):
    """An SSE response fed by the event hub: one task per stream (plus one that hears a disconnect).

    sse-starlette's own `EventSourceResponse` runs four tasks per stream and a cancel scope per
    chunk; at thousands of streams that is most of the process's time and memory. This keeps its
    headers and contract (no compression, pings on idle streams, ends on shutdown) and is typed as one.
    """

    def __init__(self, stream: _Stream) -> None:
        super().__init__(_never(), headers=SSE_HEADERS, ping=0)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        listener = asyncio.create_task(_until_disconnect(receive, self.stream))
        try:
            await self.stream.run(send)
        finally:
            listener.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _never() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def stream_events(
    request: Request,
    organization_id: str,
    *,
    subject_id: str | None = None,
    last_event_id: int | None = None,
    from_start: bool = False,
    ends_with: EndsWith | None = None,
) -> EventSourceResponse:
    """An SSE response of the organization's events (or one subject's), resumed after `last_event_id`.

    Without `last_event_id` the stream starts from now, or from the subject's first event when
    `from_start`. `ends_with(type)` true ends the stream after that event (e.g. `is_final_event_type`).
    """
    return EventStreamResponse(
        _Stream(
            request.app.state.event_hub,
            request.app.state.sessionmaker,
            request.app.state.settings,
            organization_id,
            subject_id,
            last_event_id,
            from_start,
            ends_with,
        )
    )


def job_stream_ends_with(event_type: str) -> bool:
    """The default end of a subject stream: its `*.succeeded`, `*.failed` or `*.cancelled` event."""
    return is_final_event_type(event_type)

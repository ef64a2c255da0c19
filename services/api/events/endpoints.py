"""The organization's event log, its live stream (SSE) and stream tokens for browsers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, status
from sse_starlette import EventSourceResponse

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.events.schemas import EventEnvelope, StreamTokenCreate, StreamTokenOut
from services.api.events.stream import SSE_RESPONSES, ResumeDep, StreamAccessDep, stream_events
from services.api.pagination import Page, PageDep, to_page
from services.api.routing import AttuneRoute
from shared.errors import BadRequest, NotFound
from shared.events.envelope import EVENT_TYPE_PATTERN, envelope_of, is_final_event_type, parse_event_id
from shared.events.repository import EventRepository
from shared.events.tokens import mint_stream_token
from shared.models import Event

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["events"])


def _event_id(raw: str, pointer: str) -> int:
    parsed = parse_event_id(raw)
    if parsed is None:
        raise BadRequest(
            f"{raw!r} is not an event id (evt_<number>).",
            errors=[{"detail": "not an event id", "pointer": pointer}],
        )
    return parsed


@router.get("/events", operation_id="list_events", response_model=Page[EventEnvelope])
async def list_events(
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    type: Annotated[
        list[str] | None,
        Query(description="Only these types (repeat it; `fine_tuning.job.*` takes a family)."),
    ] = None,
    subject_id: Annotated[
        str | None, Query(max_length=64, description="Only events about this object.")
    ] = None,
) -> Page[EventEnvelope]:
    """The organization's events, newest first."""
    types = type or []
    for index, event_type in enumerate(types):
        if not EVENT_TYPE_PATTERN.match(event_type.removesuffix(".*")):
            raise BadRequest(
                f"{event_type!r} is not an event type.",
                errors=[{"detail": "not an event type", "pointer": f"query/type/{index}"}],
            )
    statement = EventRepository(session).for_organization(organization_id, types=types, subject_id=subject_id)
    if page.after is not None:
        statement = statement.where(Event.id < _event_id(page.after, "query/after"))
    rows = list((await session.scalars(statement.order_by(Event.id.desc()).limit(page.limit + 1))).all())
    return to_page([envelope_of(row) for row in rows[: page.limit]], len(rows) > page.limit)


@router.get(
    "/events/stream",
    operation_id="stream_events",
    response_class=EventSourceResponse,
    response_model=None,
    responses=SSE_RESPONSES,
)
async def stream_organization_events(
    request: Request,
    access: StreamAccessDep,
    resume_after: ResumeDep,
    subject_id: Annotated[
        str | None,
        Query(max_length=64, description="Only this object's events; the stream ends after its final one."),
    ] = None,
) -> EventSourceResponse:
    """Live events of the organization (or of one object) as server-sent events."""
    access.require(subject_id)
    if subject_id is not None:
        async with request.app.state.sessionmaker() as session:
            known = await EventRepository(session).has_subject(access.organization_id, subject_id)
        if not known:
            raise NotFound(f"No events about {subject_id!r} in your organization.")
    return stream_events(
        request,
        access.organization_id,
        subject_id=subject_id,
        last_event_id=resume_after,
        from_start=subject_id is not None,
        ends_with=is_final_event_type if subject_id is not None else None,
    )


@router.post(
    "/events/stream_tokens",
    operation_id="create_stream_token",
    response_model=StreamTokenOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_stream_token(
    body: StreamTokenCreate, organization_id: OrgDep, settings: SettingsDep
) -> StreamTokenOut:
    """Mint a short-lived, read-only token that opens one event stream (for browsers' EventSource)."""
    minted = mint_stream_token(settings, organization_id, body.subject_id)
    query = {"token": minted.token, **({"subject_id": body.subject_id} if body.subject_id else {})}
    url = f"{settings.api.public_url}/v1/events/stream?{urlencode(query)}"
    return StreamTokenOut(
        token=minted.token, subject_id=body.subject_id, expires_at=minted.expires_at, stream_url=url
    )


@router.get("/events/{event_id}", operation_id="get_event", response_model=EventEnvelope)
async def get_event(event_id: str, session: SessionDep, organization_id: OrgDep) -> EventEnvelope:
    """One event of the organization."""
    sequence = parse_event_id(event_id)
    event = await EventRepository(session).get(organization_id, sequence) if sequence is not None else None
    if event is None:
        raise NotFound(f"Event {event_id!r} not found.")
    return envelope_of(event)

"""Writing events: the outbox row goes in the same transaction as the change it describes.

Every event of an organization is written under a per-organization transaction lock, so events of
one organization commit in id order and each row names the one before it (`previous_id`): a reader
that has seen id N and receives an event whose `previous_id` is N has missed nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.events.relay import PENDING_EVENTS, EventMessage
from shared.events.repository import EventRepository
from shared.models import Event
from shared.webhooks.fanout import fan_out

# Per transaction: organization -> its newest event id (we hold its lock, so it cannot move).
LOG_TAIL = "attune.event_log_tail"


async def record_event(
    session: AsyncSession,
    organization_id: str,
    type: str,
    data: dict[str, Any],
    *,
    subject_id: str | None = None,
    webhooks: bool = True,
) -> Event:
    """Append `{type, data}` to the organization's event log; visible to readers once the caller commits.

    Call it late in the transaction: it holds the organization's event lock until commit. With
    `webhooks` (the default) a delivery is queued for every enabled endpoint that wants the type.
    """
    repository = EventRepository(session)
    info = session.sync_session.info
    tails: dict[str, int] = info.setdefault(LOG_TAIL, {})
    if organization_id in tails and session.in_transaction():
        previous_id: int | None = tails[organization_id]
    else:
        await repository.lock_organization_log(organization_id)
        previous_id = await repository.last_id(organization_id) or None
    event = Event(
        organization_id=organization_id, type=type, data=data, subject_id=subject_id, previous_id=previous_id
    )
    session.add(event)
    await session.flush()
    tails[organization_id] = event.id
    if webhooks:
        await fan_out(session, event)
    info.setdefault(PENDING_EVENTS, []).append(EventMessage.of(event))
    return event


@orm_event.listens_for(Session, "after_commit")
def _forget_log_tail_on_commit(session: Session) -> None:
    session.info.pop(LOG_TAIL, None)


@orm_event.listens_for(Session, "after_soft_rollback")
def _forget_log_tail_on_rollback(session: Session, previous_transaction: object) -> None:
    session.info.pop(LOG_TAIL, None)

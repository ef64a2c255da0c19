"""SQL for the event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Event


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_organization_log(self, organization_id: str) -> None:
        """Serialise event writers of one organization until commit, so commit order is id order."""
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"events:{organization_id}", 0)))
        )

    async def last_id(self, organization_id: str) -> int:
        """The organization's newest committed (or own) event id; 0 when it has none."""
        value = await self.session.scalar(
            select(func.max(Event.id)).where(Event.organization_id == organization_id)
        )
        return int(value or 0)

    def for_organization(
        self, organization_id: str, *, types: Sequence[str] = (), subject_id: str | None = None
    ) -> Select[Event]:
        statement = select(Event).where(Event.organization_id == organization_id)
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        if exact or prefixes:
            conditions: list[ColumnElement[bool]] = [Event.type.in_(exact)] if exact else []
            conditions += [Event.type.startswith(prefix, autoescape=True) for prefix in prefixes]
            statement = statement.where(or_(*conditions))
        if subject_id is not None:
            statement = statement.where(Event.subject_id == subject_id)
        return statement

    async def has_subject(self, organization_id: str, subject_id: str) -> bool:
        found = await self.session.scalar(
            select(Event.id)
            .where(Event.organization_id == organization_id, Event.subject_id == subject_id)
            .limit(1)
        )
        return found is not None

    async def get(self, organization_id: str, event_id: int) -> Event | None:
        return await self.session.scalar(self.for_organization(organization_id).where(Event.id == event_id))

    async def after(
        self,
        organization_id: str,
        after_id: int,
        *,
        subject_id: str | None = None,
        until_id: int | None = None,
        limit: int = 500,
    ) -> list[Event]:
        """Events after a cursor in id order (= commit order within an organization)."""
        statement = self.for_organization(organization_id, subject_id=subject_id).where(Event.id > after_id)
        if until_id is not None:
            statement = statement.where(Event.id <= until_id)
        return list((await self.session.scalars(statement.order_by(Event.id).limit(limit))).all())

    async def since(self, organization_id: str, since: datetime, *, limit: int) -> list[Event]:
        statement = self.for_organization(organization_id).where(Event.created_at >= since)
        return list((await self.session.scalars(statement.order_by(Event.id).limit(limit))).all())

    async def claim_unpublished(self, older_than_seconds: float, limit: int) -> list[Event]:
        """Committed events the after-commit relay did not publish; locked so two sweeps share the work."""
        statement = (
            select(Event)
            .where(
                Event.published_at.is_(None),
                Event.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
            .order_by(Event.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    async def mark_published(self, event_ids: Sequence[int]) -> None:
        await self.session.execute(
            update(Event)
            .where(Event.id.in_(event_ids), Event.published_at.is_(None))
            .values(published_at=func.now())
            .execution_options(synchronize_session=False)
        )

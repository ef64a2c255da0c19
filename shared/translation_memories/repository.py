"""SQL for translation memories and their units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import TmUnit, TranslationMemory

# The approval time of a unit, for dataset windows: its changedate, else its creationdate.
APPROVED_AT = func.coalesce(TmUnit.change_date, TmUnit.creation_date)


@dataclass(frozen=True)
class UnitFilters:
    source_language: str | None = None
    target_language: str | None = None
    approved_after: datetime | None = None
    approved_before: datetime | None = None
    text: str | None = None
    tuid: str | None = None


class TranslationMemoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[TranslationMemory]:
        return select(TranslationMemory).where(
            TranslationMemory.organization_id == organization_id, TranslationMemory.deleted_at.is_(None)
        )

    async def get(
        self, organization_id: str, translation_memory_id: str, *, for_update: bool = False
    ) -> TranslationMemory | None:
        statement = self.for_organization(organization_id).where(
            TranslationMemory.id == translation_memory_id
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, translation_memory: TranslationMemory) -> TranslationMemory:
        self.session.add(translation_memory)
        await self.session.flush()
        return translation_memory

    async def refresh_statistics(self, translation_memory: TranslationMemory, languages: set[str]) -> None:
        """Add the imported languages and recount the units (an index-only count)."""
        count = (
            select(func.count())
            .select_from(TmUnit)
            .where(TmUnit.translation_memory_id == translation_memory.id)
        )
        await self.session.execute(
            update(TranslationMemory)
            .where(TranslationMemory.id == translation_memory.id)
            .values(
                unit_count=count.scalar_subquery(),
                languages=sorted(set(translation_memory.languages) | languages),
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(translation_memory)


class TmUnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def listing(self, translation_memory_id: str, filters: UnitFilters) -> Select[TmUnit]:
        statement = select(TmUnit).where(TmUnit.translation_memory_id == translation_memory_id)
        if filters.source_language:
            statement = statement.where(TmUnit.source_language == filters.source_language)
        if filters.target_language:
            statement = statement.where(TmUnit.target_language == filters.target_language)
        if filters.approved_after:
            statement = statement.where(filters.approved_after <= APPROVED_AT)
        if filters.approved_before:
            statement = statement.where(filters.approved_before > APPROVED_AT)
        if filters.tuid:
            statement = statement.where(TmUnit.unit_key == filters.tuid)
        if filters.text:
            pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(TmUnit.source_text.ilike(pattern), TmUnit.target_text.ilike(pattern))
            )
        return statement

    async def page(
        self, translation_memory_id: str, filters: UnitFilters, *, after: int | None, limit: int
    ) -> tuple[list[TmUnit], bool]:
        """Newest first; `after` is the sequence number of the previous page's last unit."""
        statement = self.listing(translation_memory_id, filters)
        if after is not None:
            statement = statement.where(TmUnit.id < after)
        rows = list((await self.session.scalars(statement.order_by(TmUnit.id.desc()).limit(limit + 1))).all())
        return rows[:limit], len(rows) > limit

    async def batch_after(
        self, translation_memory_id: str, filters: UnitFilters, *, after: int, limit: int
    ) -> list[Row[int, str, str, str, str, str, str | None, datetime | None, dict[str, Any] | None]]:
        """Oldest first from `after`, as plain rows (keyset pagination; nothing kept in the session)."""
        statement = (
            self.listing(translation_memory_id, filters)
            .with_only_columns(
                TmUnit.id,
                TmUnit.unit_key,
                TmUnit.source_language,
                TmUnit.target_language,
                TmUnit.source_text,
                TmUnit.target_text,
                TmUnit.context,
                APPROVED_AT,
                TmUnit.markup,
            )
            .where(TmUnit.id > after)
            .order_by(TmUnit.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).all())

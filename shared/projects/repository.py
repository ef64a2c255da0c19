"""SQL for projects and their translations (bulk upserts go through asyncpg arrays)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.imports.bulk import driver_connection
from shared.models import Project, Translation

# One statement per batch: unnest the columns, upsert, and count what happened. `xmax = 0` marks a
# freshly inserted row; rows whose values did not change are skipped by the WHERE and not returned.
UPSERT_TRANSLATIONS = """
WITH incoming AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::timestamptz[])
        AS r(key, source_language, target_language, source_text, target_text, context, approved_at)
), merged AS (
    INSERT INTO translations AS t
        (project_id, key, source_language, target_language, source_text, target_text, context, approved_at)
    SELECT $1, key, source_language, target_language, source_text, target_text, context, approved_at
    FROM incoming
    ON CONFLICT (project_id, key, target_language) DO UPDATE SET
        source_language = excluded.source_language, source_text = excluded.source_text,
        target_text = excluded.target_text, context = excluded.context,
        approved_at = excluded.approved_at, updated_at = now()
    WHERE (t.source_language, t.source_text, t.target_text, t.context, t.approved_at)
        IS DISTINCT FROM (excluded.source_language, excluded.source_text, excluded.target_text,
                          excluded.context, excluded.approved_at)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged
"""

TranslationValues = tuple[str, str, str, str, str, str | None, datetime | None]


@dataclass(frozen=True)
class TranslationFilters:
    source_language: str | None = None
    target_language: str | None = None
    approved_after: datetime | None = None
    approved_before: datetime | None = None
    text: str | None = None


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[Project]:
        return select(Project).where(Project.organization_id == organization_id, Project.deleted_at.is_(None))

    async def get(self, organization_id: str, project_id: str, *, for_update: bool = False) -> Project | None:
        statement = self.for_organization(organization_id).where(Project.id == project_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_any(self, project_id: str) -> Project | None:
        """A project even if deleted (imports and datasets that already reference it)."""
        return await self.session.get(Project, project_id)

    async def add(self, project: Project) -> Project:
        self.session.add(project)
        await self.session.flush()
        return project


class TranslationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, project_id: str, rows: Sequence[TranslationValues]) -> tuple[int, int]:
        """Insert or update rows (unique on key and target language); returns (inserted, updated)."""
        if not rows:
            return 0, 0
        columns = list(zip(*rows, strict=True))
        connection = await driver_connection(self.session)
        record = await connection.fetchrow(UPSERT_TRANSLATIONS, project_id, *columns)
        assert record is not None
        return int(record["inserted"]), int(record["updated"])

    def listing(self, project_id: str, filters: TranslationFilters) -> Select[Translation]:
        statement = select(Translation).where(Translation.project_id == project_id)
        if filters.source_language:
            statement = statement.where(Translation.source_language == filters.source_language)
        if filters.target_language:
            statement = statement.where(Translation.target_language == filters.target_language)
        if filters.approved_after:
            statement = statement.where(Translation.approved_at >= filters.approved_after)
        if filters.approved_before:
            statement = statement.where(Translation.approved_at < filters.approved_before)
        if filters.text:
            pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(Translation.source_text.ilike(pattern), Translation.target_text.ilike(pattern))
            )
        return statement

    async def page(
        self, project_id: str, filters: TranslationFilters, *, after: int | None, limit: int
    ) -> tuple[list[Translation], bool]:
        """Newest first; `after` is the sequence number of the previous page's last row."""
        statement = self.listing(project_id, filters)
        if after is not None:
            statement = statement.where(Translation.id < after)
        statement = statement.order_by(Translation.id.desc()).limit(limit + 1)
        rows = list((await self.session.scalars(statement)).all())
        return rows[:limit], len(rows) > limit

    async def batch_after(
        self, project_id: str, filters: TranslationFilters, *, after: int, limit: int
    ) -> list[Row[int, str, str, str, str, str, str | None, datetime | None]]:
        """Oldest first from `after`, as plain rows (keyset pagination; nothing kept in the session)."""
        statement = (
            self.listing(project_id, filters)
            .with_only_columns(
                Translation.id,
                Translation.key,
                Translation.source_language,
                Translation.target_language,
                Translation.source_text,
                Translation.target_text,
                Translation.context,
                Translation.approved_at,
            )
            .where(Translation.id > after)
            .order_by(Translation.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).all())

    async def count(self, project_id: str) -> int:
        statement = select(func.count()).select_from(Translation).where(Translation.project_id == project_id)
        return int(await self.session.scalar(statement) or 0)

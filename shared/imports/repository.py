"""SQL for imports: the import rows, and loading rows by COPY into a destination or a staging table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.imports.bulk import driver_connection
from shared.models import ImportJob

ACTIVE_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class Destination:
    """Where rows go: a project's translations or a TM's units (names are constants, never user input)."""

    table: str
    owner_column: str
    owner_id: str
    columns: tuple[str, ...]  # record order, owner column first
    identity: tuple[str, ...]  # unique with the owner column
    compared: tuple[str, ...]  # updated when they differ

    @property
    def conflict_target(self) -> str:
        return ", ".join((self.owner_column, *self.identity))


def translations_destination(project_id: str) -> Destination:
    return Destination(
        "translations",
        "project_id",
        project_id,
        (
            "project_id",
            "key",
            "source_language",
            "target_language",
            "source_text",
            "target_text",
            "context",
            "approved_at",
        ),
        ("key", "target_language"),
        ("source_language", "source_text", "target_text", "context", "approved_at"),
    )


def tm_units_destination(translation_memory_id: str) -> Destination:
    return Destination(
        "tm_units",
        "translation_memory_id",
        translation_memory_id,
        (
            "translation_memory_id",
            "unit_key",
            "source_language",
            "target_language",
            "source_text",
            "target_text",
            "context",
            "creation_date",
            "change_date",
            "properties",
            "markup",
        ),
        ("unit_key", "target_language"),
        (
            "source_language",
            "source_text",
            "target_text",
            "context",
            "creation_date",
            "change_date",
            "properties",
            "markup",
        ),
    )


@dataclass(frozen=True)
class MergeCounts:
    distinct: int
    inserted: int
    updated: int


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[ImportJob]:
        return select(ImportJob).where(ImportJob.organization_id == organization_id)

    async def get(self, organization_id: str, import_id: str) -> ImportJob | None:
        statement = self.for_organization(organization_id).where(ImportJob.id == import_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_for_update(self, import_id: str) -> ImportJob | None:
        statement = select(ImportJob).where(ImportJob.id == import_id).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, job: ImportJob) -> ImportJob:
        self.session.add(job)
        await self.session.flush()
        return job

    async def due(self, older_than: datetime, limit: int = 500) -> list[str]:
        """Ids of queued or running imports nobody has touched since `older_than` (lost or crashed)."""
        statement = (
            select(ImportJob.id)
            .where(ImportJob.status.in_(ACTIVE_STATUSES), ImportJob.updated_at < older_than)
            .order_by(ImportJob.updated_at)
            .limit(limit)
        )
        return list((await self.session.scalars(statement)).all())


class Loader:
    """COPY batches into a destination (when it starts empty) or into a staging table merged at the end."""

    def __init__(self, session: AsyncSession, destination: Destination) -> None:
        self.session = session
        self.destination = destination
        self.staging: str | None = None

    async def lock_destination(self) -> None:
        """One import at a time per destination, until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"import:{self.destination.owner_id}"},
        )

    async def destination_is_empty(self) -> bool:
        d = self.destination
        statement = text(f"SELECT NOT EXISTS (SELECT 1 FROM {d.table} WHERE {d.owner_column} = :owner)")  # noqa: S608
        return bool(await self.session.scalar(statement, {"owner": d.owner_id}))

    async def create_staging(self) -> None:
        d = self.destination
        self.staging = f"import_staging_{uuid.uuid4().hex[:16]}"
        columns = ", ".join(d.columns)
        await self.session.execute(
            text(
                f"CREATE TEMP TABLE {self.staging} ON COMMIT DROP AS "  # noqa: S608
                f"SELECT 0::bigint AS ordinal, 0::int AS line, {columns} FROM {d.table} WITH NO DATA"
            )
        )

    async def copy(self, records: Iterable[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]]) -> None:
        """COPY records (a list, or streamed as they come): into staging as (ordinal, line, *columns),
        else straight into the destination."""
        connection = await driver_connection(self.session)
        if self.staging is not None:
            await connection.copy_records_to_table(self.staging, records=records)
        else:
            await connection.copy_records_to_table(
                self.destination.table, records=records, columns=list(self.destination.columns)
            )

    async def merge(self) -> MergeCounts:
        """Upsert the staged rows, the last of repeated identities winning; unchanged rows are left alone."""
        d, staging = self.destination, self.staging
        assert staging is not None
        columns = ", ".join(d.columns)
        identity = ", ".join(d.identity)
        updates = ", ".join(f"{column} = excluded.{column}" for column in d.compared)
        current = ", ".join(f"t.{column}" for column in d.compared)
        incoming = ", ".join(f"excluded.{column}" for column in d.compared)
        statement = f"""
            WITH latest AS MATERIALIZED (
                SELECT DISTINCT ON ({identity}) {columns} FROM {staging} ORDER BY {identity}, ordinal DESC
            ), merged AS (
                INSERT INTO {d.table} AS t ({columns}) SELECT {columns} FROM latest
                ON CONFLICT ({d.conflict_target}) DO UPDATE SET {updates}, updated_at = now()
                WHERE ({current}) IS DISTINCT FROM ({incoming})
                RETURNING xmax = 0 AS inserted
            )
            SELECT (SELECT count(*) FROM latest) AS distinct_rows,
                   count(*) FILTER (WHERE inserted) AS inserted,
                   count(*) FILTER (WHERE NOT inserted) AS updated
            FROM merged
        """  # noqa: S608
        await self.session.execute(text("SET LOCAL work_mem = '256MB'"))
        row = (await self.session.execute(text(statement))).one()
        return MergeCounts(int(row.distinct_rows), int(row.inserted), int(row.updated))

    async def superseded(self, limit: int) -> list[tuple[int, str | None, int]]:
        """(line, key, line of the later row that won) for rows repeated later in the file."""
        d, staging = self.destination, self.staging
        assert staging is not None
        identity = ", ".join(d.identity)
        statement = f"""
            SELECT line, {d.identity[0]} AS key, next_line FROM (
                SELECT line, {d.identity[0]},
                       lead(line) OVER (PARTITION BY {identity} ORDER BY ordinal) AS next_line
                FROM {staging}
            ) repeated WHERE next_line IS NOT NULL ORDER BY line LIMIT :limit
        """  # noqa: S608
        rows = (await self.session.execute(text(statement), {"limit": limit})).all()
        return [(int(row.line), row.key, int(row.next_line)) for row in rows]

    async def drop_staging(self) -> None:
        if self.staging is not None:
            await self.session.execute(text(f"DROP TABLE IF EXISTS {self.staging}"))
            self.staging = None

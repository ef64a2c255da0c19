"""SQL of datasets: the rows, their rejects (COPY in, keyset pages out), and the source rows they read.

Source rows (`shared.datasets.source_rows`) stream through a server-side cursor on the session's own
connection and transaction (one consistent snapshot, which a build's worker processes adopt), a batch
at a time: a million rows never sit in memory together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.datasets.source_rows import SourceQuery, extent, stream_rows
from shared.imports.bulk import driver_connection
from shared.models import Dataset, DatasetReject, File, FineTuningJob

REJECT_COLUMNS = ("dataset_id", "row_id", "source_id", "reason", "detail", "source_excerpt", "target_excerpt")


class DatasetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[Dataset]:
        return select(Dataset).where(Dataset.organization_id == organization_id)

    async def get(self, organization_id: str, dataset_id: str) -> Dataset | None:
        return await self.session.scalar(
            self.for_organization(organization_id).where(Dataset.id == dataset_id)
        )

    async def get_any(self, dataset_id: str) -> Dataset | None:
        """A dataset whatever its organization (workers act on ids they were given)."""
        return await self.session.get(Dataset, dataset_id, populate_existing=True)

    async def lock(self, organization_id: str, dataset_id: str) -> Dataset | None:
        """The organization's dataset, row-locked until the transaction ends."""
        return await self.session.scalar(
            self.for_organization(organization_id)
            .where(Dataset.id == dataset_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def claim(self, dataset_id: str) -> Dataset | None:
        """The dataset, row-locked, or None when another build holds it (or it does not exist)."""
        return await self.session.scalar(
            select(Dataset)
            .where(Dataset.id == dataset_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )

    async def add(self, dataset: Dataset) -> Dataset:
        self.session.add(dataset)
        await self.session.flush()
        return dataset

    async def stale_builds(self, older_than: datetime, limit: int) -> list[str]:
        """Datasets still building that nobody has touched since `older_than`."""
        rows = await self.session.scalars(
            select(Dataset.id)
            .where(Dataset.status == "building", Dataset.updated_at < older_than)
            .order_by(Dataset.updated_at)
            .limit(limit)
        )
        return list(rows)

    async def finished_with_waiting_jobs(self, limit: int) -> list[str]:
        """Ready or failed datasets that jobs still wait on in `building_dataset` (created as it finished)."""
        rows = await self.session.scalars(
            select(Dataset.id)
            .join(FineTuningJob, FineTuningJob.dataset_id == Dataset.id)
            .where(Dataset.status != "building", FineTuningJob.status == "building_dataset")
            .distinct()
            .limit(limit)
        )
        return list(rows)

    async def jobs_using(self, dataset: Dataset, limit: int = 5) -> list[str]:
        """Fine-tuning jobs that name the dataset or one of its files."""
        file_ids = [file_id for file_id in (dataset.training_file_id, dataset.validation_file_id) if file_id]
        conditions = [FineTuningJob.dataset_id == dataset.id]
        if file_ids:
            conditions += [
                FineTuningJob.training_file_id.in_(file_ids),
                FineTuningJob.validation_file_id.in_(file_ids),
            ]
        rows = await self.session.scalars(
            select(FineTuningJob.id).where(or_(*conditions)).order_by(FineTuningJob.id).limit(limit)
        )
        return list(rows)

    async def waiting_jobs(self, dataset_id: str) -> list[str]:
        """Fine-tuning jobs in `building_dataset` on this dataset."""
        rows = await self.session.scalars(
            select(FineTuningJob.id)
            .where(FineTuningJob.dataset_id == dataset_id, FineTuningJob.status == "building_dataset")
            .order_by(FineTuningJob.id)
        )
        return list(rows)

    async def files(self, dataset_id: str) -> list[File]:
        return list(await self.session.scalars(select(File).where(File.dataset_id == dataset_id)))

    async def delete(self, dataset: Dataset) -> None:
        """Delete the dataset, its rejects and its File rows (the stored objects go after commit)."""
        await self.session.execute(delete(File).where(File.dataset_id == dataset.id))
        await self.session.execute(delete(DatasetReject).where(DatasetReject.dataset_id == dataset.id))
        await self.session.delete(dataset)
        await self.session.flush()


class RejectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def copy_csv(self, csv: IO[bytes]) -> None:
        """Append rejects from CSV whose columns are REJECT_COLUMNS (NULL: an unquoted empty field)."""
        connection = await driver_connection(self.session)
        await connection.copy_to_table("dataset_rejects", source=csv, columns=REJECT_COLUMNS, format="csv")

    async def clear(self, dataset_id: str) -> None:
        await self.session.execute(delete(DatasetReject).where(DatasetReject.dataset_id == dataset_id))

    async def page(
        self, dataset_id: str, reason: str | None, *, after: int | None, limit: int
    ) -> tuple[list[DatasetReject], bool]:
        """Rejects in the order they were found; `after` is the previous page's last reject number."""
        statement = select(DatasetReject).where(DatasetReject.dataset_id == dataset_id)
        if reason is not None:
            statement = statement.where(DatasetReject.reason == reason)
        if after is not None:
            statement = statement.where(DatasetReject.id > after)
        rows = list((await self.session.scalars(statement.order_by(DatasetReject.id).limit(limit + 1))).all())
        return rows[:limit], len(rows) > limit

    async def counts(self, dataset_id: str) -> dict[str, int]:
        rows = await self.session.execute(
            select(DatasetReject.reason, func.count())
            .where(DatasetReject.dataset_id == dataset_id)
            .group_by(DatasetReject.reason)
        )
        return {reason: int(count) for reason, count in rows}


class SourceRowRepository:
    """Approved rows of one project or TM, oldest id first, through a server-side cursor."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stream(self, query: SourceQuery, batch_rows: int) -> AsyncIterator[Sequence[Any]]:
        """Batches of rows matching the query, on the session's own connection and transaction."""
        async for rows in stream_rows(await driver_connection(self.session), query, batch_rows):
            yield rows

    async def extent(self, query: SourceQuery) -> tuple[int, int | None, int | None]:
        return await extent(await driver_connection(self.session), query)

    async def export_snapshot(self) -> str:
        """The id of this transaction's snapshot, which another connection may adopt while it lasts."""
        snapshot: str = await (await driver_connection(self.session)).fetchval("SELECT pg_export_snapshot()")
        return snapshot

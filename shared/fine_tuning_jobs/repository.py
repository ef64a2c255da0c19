"""SQL of fine-tuning jobs and what hangs off them: events, metrics, checkpoints, output models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Select, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.ids import new_id
from shared.models import (
    FineTunedModel,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    FineTuningJobMetric,
)
from shared.models.job_metric import METRIC_NAMES


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: str, job_id: str) -> FineTuningJob | None:
        return await self.session.scalar(
            select(FineTuningJob).where(
                FineTuningJob.id == job_id, FineTuningJob.organization_id == organization_id
            )
        )

    async def get_any(self, job_id: str) -> FineTuningJob | None:
        """A job whatever its organization (workers act on ids they were given)."""
        return await self.session.get(FineTuningJob, job_id, populate_existing=True)

    async def lock(self, job_id: str) -> FineTuningJob | None:
        """The job, re-read and row-locked until the transaction ends."""
        return await self.session.scalar(
            select(FineTuningJob)
            .where(FineTuningJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def claim_step(self, job_id: str) -> tuple[FineTuningJob | None, bool]:
        """The job, and whether this transaction took its provider-work lock (False: another step has it).

        One round trip: the lock is tried in the same statement that reads the job.
        """
        lock = func.pg_try_advisory_xact_lock(func.hashtextextended(f"ftjob-step:{job_id}", 0))
        statement = (
            select(FineTuningJob, lock)
            .where(FineTuningJob.id == job_id)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], bool(row[1])) if row is not None else (None, False)

    def filtered(
        self,
        organization_id: str,
        *,
        statuses: Sequence[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        metadata: dict[str, str] | None = None,
        without_metadata: bool = False,
    ) -> Select[FineTuningJob]:
        statement = select(FineTuningJob).where(FineTuningJob.organization_id == organization_id)
        if statuses:
            statement = statement.where(FineTuningJob.status.in_(statuses))
        if created_after is not None:
            statement = statement.where(FineTuningJob.created_at > created_after)
        if created_before is not None:
            statement = statement.where(FineTuningJob.created_at < created_before)
        if metadata:
            statement = statement.where(FineTuningJob.job_metadata.contains(metadata))  # GIN @>
        if without_metadata:
            statement = statement.where(FineTuningJob.job_metadata.is_(None))
        return statement

    async def overdue(self, before: datetime, limit: int) -> list[tuple[str, int]]:
        """(job id, poll sequence) of jobs whose next provider step should have run before `before`."""
        rows = await self.session.execute(
            select(FineTuningJob.id, FineTuningJob.poll_sequence)
            .where(FineTuningJob.next_poll_at < before)
            .order_by(FineTuningJob.next_poll_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    # Events -----------------------------------------------------------------------------------

    async def add_provider_events(self, job: FineTuningJob, events: Sequence[dict[str, Any]]) -> int:
        """Insert events not stored yet (by provider event id); returns how many were new."""
        if not events:
            return 0
        rows = [{"organization_id": job.organization_id, "job_id": job.id, **event} for event in events]
        for row in rows:
            row.setdefault("id", new_id(FineTuningJobEvent.id_prefix))
        statement = (
            insert(FineTuningJobEvent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["job_id", "provider_event_id"])
            .returning(FineTuningJobEvent.id)
        )
        return len((await self.session.execute(statement)).all())

    async def events_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[FineTuningJobEvent], bool]:
        """Newest first; `after` is the id of the last event of the previous page."""
        statement = select(FineTuningJobEvent).where(FineTuningJobEvent.job_id == job_id)
        if after is not None:
            cursor = select(FineTuningJobEvent.sequence).where(
                FineTuningJobEvent.job_id == job_id, FineTuningJobEvent.id == after
            )
            statement = statement.where(FineTuningJobEvent.sequence < cursor.scalar_subquery())
        rows = list(
            (
                await self.session.scalars(
                    statement.order_by(FineTuningJobEvent.sequence.desc()).limit(limit + 1)
                )
            ).all()
        )
        return rows[:limit], len(rows) > limit

    # Metrics ----------------------------------------------------------------------------------

    async def upsert_metrics(
        self, job: FineTuningJob, rows: Sequence[dict[str, Any]], source: str
    ) -> list[FineTuningJobMetric]:
        """Store step metrics, merging values into steps seen before; returns the rows that are new."""
        if not rows:
            return []
        values = [
            {"job_id": job.id, "organization_id": job.organization_id, "source": source, **row}
            for row in rows
        ]
        keys = {key for row in values for key in row}
        for row in values:
            for key in keys:
                row.setdefault(key, None)
        statement = insert(FineTuningJobMetric).values(values)
        merged = {
            name: func.coalesce(statement.excluded[name], getattr(FineTuningJobMetric, name))
            for name in (*METRIC_NAMES, "total_steps")
            if name in keys
        }
        upsert = statement.on_conflict_do_update(index_elements=["job_id", "step"], set_=merged)
        # xmax is 0 for a row this statement inserted, not for one it updated.
        returning = upsert.returning(FineTuningJobMetric, literal_column("xmax = 0", Boolean))
        result = await self.session.execute(returning.execution_options(populate_existing=True))
        return sorted((metric for metric, inserted in result.all() if inserted), key=lambda m: m.step)

    async def metrics_page(
        self, job_id: str, after_step: int | None, limit: int
    ) -> tuple[list[FineTuningJobMetric], bool]:
        statement = select(FineTuningJobMetric).where(FineTuningJobMetric.job_id == job_id)
        if after_step is not None:
            statement = statement.where(FineTuningJobMetric.step > after_step)
        rows = list(
            (await self.session.scalars(statement.order_by(FineTuningJobMetric.step).limit(limit + 1))).all()
        )
        return rows[:limit], len(rows) > limit

    async def metric_rows(self, job_id: str) -> list[tuple[Any, ...]]:
        """Every step in order as plain tuples `(step, total_steps, *METRIC_NAMES)` (CSV downloads)."""
        columns = [FineTuningJobMetric.step, FineTuningJobMetric.total_steps]
        columns += [getattr(FineTuningJobMetric, name) for name in METRIC_NAMES]
        statement = (
            select(*columns).where(FineTuningJobMetric.job_id == job_id).order_by(FineTuningJobMetric.step)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    # Checkpoints ------------------------------------------------------------------------------

    async def add_checkpoints(self, job: FineTuningJob, checkpoints: Sequence[dict[str, Any]]) -> int:
        if not checkpoints:
            return 0
        rows = [
            {
                "id": new_id(FineTuningJobCheckpoint.id_prefix),
                "organization_id": job.organization_id,
                "job_id": job.id,
                **c,
            }
            for c in checkpoints
        ]
        statement = (
            insert(FineTuningJobCheckpoint)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["job_id", "provider_checkpoint_id"])
            .returning(FineTuningJobCheckpoint.id)
        )
        return len((await self.session.execute(statement)).all())

    async def checkpoints_page(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[FineTuningJobCheckpoint], bool]:
        """Latest step first (ids made in one batch do not sort by step); `after` is a checkpoint id."""
        order = (FineTuningJobCheckpoint.step_number, FineTuningJobCheckpoint.id)
        statement = select(FineTuningJobCheckpoint).where(FineTuningJobCheckpoint.job_id == job_id)
        if after is not None:
            cursor = select(*order).where(
                FineTuningJobCheckpoint.job_id == job_id, FineTuningJobCheckpoint.id == after
            )
            statement = statement.where(tuple_(*order) < cursor.scalar_subquery())
        statement = statement.order_by(*(column.desc() for column in order)).limit(limit + 1)
        rows = list((await self.session.scalars(statement)).all())
        return rows[:limit], len(rows) > limit

    # Models -----------------------------------------------------------------------------------

    async def model_by_name(self, organization_id: str, name: str) -> FineTunedModel | None:
        return await self.session.scalar(
            select(FineTunedModel).where(
                FineTunedModel.organization_id == organization_id, FineTunedModel.name == name
            )
        )

    async def add_model(self, values: dict[str, Any]) -> None:
        """Record an output model once (a job re-polled after success adds nothing)."""
        row = {"id": new_id(FineTunedModel.id_prefix), **values}
        await self.session.execute(insert(FineTunedModel).values(row).on_conflict_do_nothing())

    def models(self, organization_id: str) -> Select[FineTunedModel]:
        return select(FineTunedModel).where(FineTunedModel.organization_id == organization_id)

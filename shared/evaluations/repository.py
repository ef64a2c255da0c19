"""SQL of job evaluations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import JobEvaluation

UNFINISHED = ("queued", "running")


class EvaluationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, evaluation: JobEvaluation) -> JobEvaluation:
        self.session.add(evaluation)
        await self.session.flush()
        return evaluation

    async def latest(self, organization_id: str, job_id: str) -> JobEvaluation | None:
        """The job's newest evaluation (ids sort by creation time)."""
        return await self.session.scalar(
            select(JobEvaluation)
            .where(JobEvaluation.organization_id == organization_id, JobEvaluation.job_id == job_id)
            .order_by(JobEvaluation.id.desc())
            .limit(1)
        )

    async def unfinished(self, job_id: str) -> JobEvaluation | None:
        """The job's queued or running evaluation, if any."""
        return await self.session.scalar(
            select(JobEvaluation)
            .where(JobEvaluation.job_id == job_id, JobEvaluation.status.in_(UNFINISHED))
            .order_by(JobEvaluation.id.desc())
            .limit(1)
        )

    async def claim(self, evaluation_id: str) -> JobEvaluation | None:
        """The evaluation, row-locked, or None when another transaction holds it (or it does not exist)."""
        return await self.session.scalar(
            select(JobEvaluation)
            .where(JobEvaluation.id == evaluation_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )

    async def lock(self, evaluation_id: str) -> JobEvaluation | None:
        """The evaluation, re-read and row-locked until the transaction ends."""
        return await self.session.scalar(
            select(JobEvaluation)
            .where(JobEvaluation.id == evaluation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def due(self, before: datetime, limit: int) -> list[tuple[str, int]]:
        """(id, attempts) of queued evaluations due before `before` and running ones whose lease ended."""
        rows = await self.session.execute(
            select(JobEvaluation.id, JobEvaluation.attempts)
            .where(JobEvaluation.status.in_(UNFINISHED), JobEvaluation.due_at < before)
            .order_by(JobEvaluation.due_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

"""SQL for estimates: how fast the built-in trainer has actually trained (from finished jobs)."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import FineTuningJob

RECENT_JOBS = 20


def _running_since(transitions: list[dict[str, Any]]) -> float | None:
    """Unix time of the job's first `running` transition."""
    return next((float(t["at"]) for t in transitions if t.get("status") == "running" and "at" in t), None)


class ThroughputRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def measured_tokens_per_second(self, model: str) -> tuple[float, int] | None:
        """Median trained tokens per second of recent succeeded built-in jobs on `model`, and how many."""
        rows = await self.session.execute(
            select(FineTuningJob.trained_tokens, FineTuningJob.finished_at, FineTuningJob.transitions)
            .where(
                FineTuningJob.provider_kind == "local",
                FineTuningJob.status == "succeeded",
                FineTuningJob.model == model,
                FineTuningJob.trained_tokens.is_not(None),
                FineTuningJob.finished_at.is_not(None),
            )
            .order_by(FineTuningJob.finished_at.desc())
            .limit(RECENT_JOBS)
        )
        speeds: list[float] = []
        for trained_tokens, finished_at, transitions in rows:
            started = _running_since(transitions or [])
            finished: datetime = finished_at
            if started is None or not trained_tokens:
                continue
            seconds = finished.timestamp() - started
            if seconds > 0:
                speeds.append(trained_tokens / seconds)
        if not speeds:
            return None
        return statistics.median(speeds), len(speeds)

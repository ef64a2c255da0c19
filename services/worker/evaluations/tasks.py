"""The `evaluations` queue: evaluate a succeeded job's fine-tuned model against its base model."""

from __future__ import annotations

import structlog

from services.worker.registry import TaskContext, task
from shared.config import get_settings
from shared.evaluations import service  # registers the `evaluations` sweep
from shared.evaluations.run import EvaluationContext, record_crash, run_evaluation

log = structlog.get_logger()


@task("evaluations", service.EVALUATE_TASK, timeout_seconds=get_settings().evaluations.timeout_seconds)
async def evaluate(ctx: TaskContext, evaluation_id: str) -> str:
    """Run evaluation `evaluation_id`; a duplicate or a finished one does nothing, a crash is retried."""
    context = EvaluationContext(ctx.session, ctx.redis, ctx.settings)
    try:
        return await run_evaluation(context, evaluation_id)
    except Exception as error:
        log.exception("fine_tuning_job.evaluation_crashed", evaluation_id=evaluation_id)
        await ctx.session.rollback()
        return await record_crash(context, evaluation_id, error)

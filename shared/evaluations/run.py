"""One run of an evaluation: translate the validation segments with both models, score them, store the report.

The run claims its evaluation (`running`, a lease until `due_at`) and commits before it talks to the
provider, so no transaction stays open across hundreds of chat calls; it re-locks the row to store
the report only if it is still the current attempt. A second copy of the task finds the lease held
and does nothing; a crashed run is taken over once its lease has passed (the `evaluations` sweep
enqueues it), and after `max_attempts` runs the evaluation fails. The job's status never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.errors import AttuneError
from shared.evaluations import scoring
from shared.evaluations.examples import Segment, read_segments
from shared.evaluations.repository import EvaluationRepository
from shared.evaluations.service import emit_finished, enqueue_run
from shared.files.repository import FileRepository
from shared.fine_tuning_jobs.events import add_job_event
from shared.models import FineTuningJob, JobEvaluation
from shared.providers.base import PermanentProviderError, ProviderAdapter, RateLimited, TransientProviderError
from shared.providers.registry import adapter_for
from shared.storage import get_storage

log = structlog.get_logger()
FINISHED = ("succeeded", "failed")
# Room above the reference's length for a longer (or differently tokenized) translation.
MIN_NEW_TOKENS = 16


@dataclass
class EvaluationContext:
    session: AsyncSession
    redis: Redis
    settings: Settings
    client: httpx.AsyncClient | None = None  # tests route chat calls to an in-process fake


class Unusable(Exception):
    """The evaluation cannot run (no file, no usable segment): it fails with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def max_tokens(settings: Settings, segment: Segment) -> int:
    """16 tokens plus one per reference character (about 3x its tokens), capped: ramblers are cut off."""
    return min(settings.evaluations.max_tokens, MIN_NEW_TOKENS + len(segment.reference))


async def translate(
    adapter: ProviderAdapter, settings: Settings, models: Sequence[str], segments: Sequence[Segment]
) -> list[list[str]]:
    """Each model's outputs for every segment, greedy (temperature 0), a bounded number in flight."""
    gate = asyncio.Semaphore(settings.evaluations.concurrency)

    async def one(model: str, segment: Segment) -> str:
        async with gate:
            answer = await adapter.chat_completion(
                model, segment.messages, temperature=0, max_tokens=max_tokens(settings, segment)
            )
        return answer.content.strip()

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [[group.create_task(one(model, s)) for s in segments] for model in models]
    except BaseExceptionGroup as failed:
        # The first failure stands for all: the group has already cancelled the other requests.
        raise failed.exceptions[0] from None
    return [[task.result() for task in row] for row in tasks]


async def _claim(ctx: EvaluationContext, evaluation_id: str) -> tuple[JobEvaluation, str] | str:
    """(evaluation, why it is taken) when this run may go ahead, else what it found."""
    evaluation = await EvaluationRepository(ctx.session).claim(evaluation_id)
    if evaluation is None:
        return "busy_or_missing"
    if evaluation.status in FINISHED:
        return evaluation.status
    now = datetime.now(UTC)
    if evaluation.status == "running" and evaluation.due_at is not None and evaluation.due_at > now:
        return "running"  # another run holds the lease
    return evaluation, "resumed" if evaluation.status == "running" else "started"


async def run_evaluation(ctx: EvaluationContext, evaluation_id: str) -> str:
    """Run a queued evaluation (or take over a crashed one); idempotent, returns what it did."""
    claimed = await _claim(ctx, evaluation_id)
    if isinstance(claimed, str):
        return claimed
    evaluation, how = claimed
    config = ctx.settings.evaluations
    if evaluation.attempts >= config.max_attempts:
        last = evaluation.error_message or "the run stopped without a word (killed or timed out)"
        await _fail(
            ctx, evaluation, "evaluation_incomplete", f"{evaluation.attempts} runs failed; last: {last}"
        )
        return "failed"
    job = await ctx.session.get(FineTuningJob, evaluation.job_id)
    assert job is not None
    file = (
        await FileRepository(ctx.session).get_any(job.validation_file_id) if job.validation_file_id else None
    )
    try:
        adapter = await adapter_for(
            ctx.session, ctx.redis, ctx.settings, job.organization_id, job.provider, client=ctx.client
        )
    except AttuneError as error:  # the provider credential was deleted, or cannot be decrypted
        await _fail(ctx, evaluation, error.code, error.detail)
        return "failed"
    now = datetime.now(UTC)
    evaluation.status, evaluation.started_at = "running", now
    evaluation.attempts += 1
    evaluation.due_at = now + timedelta(seconds=config.timeout_seconds)
    attempt = evaluation.attempts
    await ctx.session.commit()  # the lease is visible before the first chat request leaves
    log.info("fine_tuning_job.evaluation_running", evaluation_id=evaluation_id, attempt=attempt, how=how)
    try:
        if file is None:
            raise Unusable(
                "validation_file_missing", f"The validation file of job {job.id} no longer exists."
            )
        try:
            segments = await asyncio.to_thread(
                read_segments, get_storage(ctx.settings), file.storage_key, config.max_segments
            )
        except (OSError, ValueError) as error:  # gone from storage, or not JSONL after all
            raise Unusable("validation_file_unreadable", f"Validation file {file.id}: {error}") from error
        if not segments:
            raise Unusable(
                "no_segments", f"Validation file {file.id} has no example with a user turn and a reply."
            )
        base, fine_tuned = await translate(
            adapter, ctx.settings, [evaluation.base_model, evaluation.fine_tuned_model], segments
        )
        summary, rows = await asyncio.to_thread(
            scoring.score, [s.source for s in segments], [s.reference for s in segments], base, fine_tuned
        )
    except (TransientProviderError, RateLimited) as error:
        message = error.message if isinstance(error, TransientProviderError) else str(error)
        return await _after_failure(ctx, evaluation_id, attempt, "provider_unavailable", message, retry=True)
    except PermanentProviderError as error:
        code = error.code or f"provider_http_{error.status_code}"
        return await _after_failure(ctx, evaluation_id, attempt, code, error.message, retry=False)
    except Unusable as error:
        return await _after_failure(ctx, evaluation_id, attempt, error.code, error.message, retry=False)
    current = await _current(ctx, evaluation_id, attempt)
    if current is None:
        return "superseded"
    for segment, row in zip(segments, rows, strict=True):
        row["line"] = segment.line
    current.segments, current.summary, current.segment_count = rows, summary, len(rows)
    current.status, current.finished_at, current.due_at = "succeeded", datetime.now(UTC), None
    current.error_code = current.error_message = None
    base_chrf, tuned_chrf = summary["base"]["chrf_pp"], summary["fine_tuned"]["chrf_pp"]
    message = f"Evaluation {current.id}: chrF++ {base_chrf} (base) -> {tuned_chrf} (fine-tuned)"
    await add_job_event(
        ctx.session, job, f"{message} on {len(rows)} segments",
        data={"evaluation_id": current.id, "summary": summary},
    )  # fmt: skip
    await emit_finished(ctx.session, current)
    log.info("fine_tuning_job.evaluated", evaluation_id=evaluation_id, base=base_chrf, fine_tuned=tuned_chrf)
    return "succeeded"


async def _current(ctx: EvaluationContext, evaluation_id: str, attempt: int) -> JobEvaluation | None:
    """The evaluation row-locked, or None when another run has taken it over (or it finished)."""
    current = await EvaluationRepository(ctx.session).lock(evaluation_id)
    if current is None or current.status != "running" or current.attempts != attempt:
        return None
    return current


async def _after_failure(
    ctx: EvaluationContext, evaluation_id: str, attempt: int, code: str, message: str, *, retry: bool
) -> str:
    """Record the error; a transient one queues another attempt while attempts remain."""
    current = await _current(ctx, evaluation_id, attempt)
    if current is None:
        return "superseded"
    current.error_code, current.error_message = code, message[:10_000]
    log.warning("fine_tuning_job.evaluation_error", evaluation_id=evaluation_id, code=code, retry=retry)
    if retry and current.attempts < ctx.settings.evaluations.max_attempts:
        current.status = "queued"
        enqueue_run(ctx.session, current, ctx.settings.evaluations.retry_delay_seconds * current.attempts)
        return "will_retry"
    await _fail(ctx, current, code, message)
    return "failed"


async def record_crash(ctx: EvaluationContext, evaluation_id: str, error: BaseException) -> str:
    """A run raised something unexpected: counted as a transient failure of its attempt."""
    current = await EvaluationRepository(ctx.session).lock(evaluation_id)
    if current is None or current.status in FINISHED:
        return "skipped"
    if current.status == "queued":
        # It crashed before its claim committed: that still uses up an attempt, or it would loop.
        current.status = "running"
        current.attempts += 1
    return await _after_failure(
        ctx,
        evaluation_id,
        current.attempts,
        "evaluation_crashed",
        f"{type(error).__name__}: {error}",
        retry=True,
    )


async def _fail(ctx: EvaluationContext, evaluation: JobEvaluation, code: str, message: str) -> None:
    evaluation.status, evaluation.finished_at, evaluation.due_at = "failed", datetime.now(UTC), None
    evaluation.error_code, evaluation.error_message = code, message[:10_000]
    job = await ctx.session.get(FineTuningJob, evaluation.job_id)
    if job is not None:
        await add_job_event(
            ctx.session, job, f"Evaluation {evaluation.id} failed: {message}", level="warn",
            data={"evaluation_id": evaluation.id, "code": code},
        )  # fmt: skip
    await emit_finished(ctx.session, evaluation)

"""Evaluation shapes: corpus scores of both models, their difference, and every segment's outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.models import JobEvaluation


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


class SystemScores(BaseModel):
    """Corpus-level scores of one model's outputs against the references."""

    chrf_pp: float = Field(description="chrF++ (sacrebleu `CHRF(word_order=2)`), 0-100, higher is better.")
    bleu: float = Field(description="BLEU (sacrebleu, `13a` tokenizer), 0-100, higher is better.")
    ter: float = Field(description="Translation edit rate, lower is better.")
    placeholder_errors: int = Field(
        description="Checked segments whose output lost or added a placeholder/tag."
    )
    placeholder_checked: int = Field(
        description="Segments whose reference keeps the source's placeholders, so the check applies."
    )


class ScoreDelta(BaseModel):
    """Fine-tuned minus base."""

    chrf_pp: float
    bleu: float
    ter: float = Field(description="Negative means fewer edits: better.")
    placeholder_errors: int = Field(description="Negative means fewer errors: better.")


class EvaluationSummary(BaseModel):
    base: SystemScores
    fine_tuned: SystemScores
    delta: ScoreDelta
    signatures: dict[str, str] = Field(description="sacrebleu's signature of each metric (reproducibility).")


class EvaluationSegment(BaseModel):
    """One validation example: what was asked, the reference, and both models' answers."""

    line: int = Field(description="1-based line of the validation file.")
    source: str = Field(description="The user message the models were sent (with the system prompt).")
    reference: str = Field(description="The validation example's assistant message.")
    base_output: str
    fine_tuned_output: str
    base_chrf_pp: float
    fine_tuned_chrf_pp: float
    base_placeholder_ok: bool | None = Field(
        description="null when the segment's placeholders are not checked."
    )
    fine_tuned_placeholder_ok: bool | None
    base_placeholder_problem: str | None
    fine_tuned_placeholder_problem: str | None


class EvaluationError(BaseModel):
    code: str
    message: str | None


class FineTuningJobEvaluationOut(BaseModel):
    object: Literal["fine_tuning.job.evaluation"] = "fine_tuning.job.evaluation"
    id: str
    fine_tuning_job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    trigger: Literal["job_succeeded", "request"] = Field(
        description="`job_succeeded` (automatic) or `request` (POST …/evaluation)."
    )
    base_model: str = Field(description="The model the job started from.")
    fine_tuned_model: str
    created_at: int
    started_at: int | None
    finished_at: int | None
    attempts: int = Field(description="Runs so far (a provider outage or a crash starts another).")
    segment_count: int | None
    summary: EvaluationSummary | None
    error: EvaluationError | None = Field(
        description="Why it failed; while `queued` again, why the last attempt did not finish."
    )
    segments: list[EvaluationSegment]

    @classmethod
    def of(cls, evaluation: JobEvaluation) -> FineTuningJobEvaluationOut:
        error = (
            EvaluationError(code=evaluation.error_code, message=evaluation.error_message)
            if evaluation.error_code
            else None
        )
        return cls(
            id=evaluation.id,
            fine_tuning_job_id=evaluation.job_id,
            status=evaluation.status,
            trigger=evaluation.trigger,
            base_model=evaluation.base_model,
            fine_tuned_model=evaluation.fine_tuned_model,
            created_at=int(evaluation.created_at.timestamp()),
            started_at=unix(evaluation.started_at),
            finished_at=unix(evaluation.finished_at),
            attempts=evaluation.attempts,
            segment_count=evaluation.segment_count,
            summary=EvaluationSummary.model_validate(evaluation.summary) if evaluation.summary else None,
            error=error,
            segments=[EvaluationSegment.model_validate(segment) for segment in evaluation.segments],
        )

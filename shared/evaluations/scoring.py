"""Scores of one system's outputs against the references: chrF++, BLEU, TER (sacrebleu) and placeholders.

Corpus-level numbers are sacrebleu's defaults (chrF++ is `CHRF(word_order=2)`, BLEU with its `13a`
tokenizer, TER case-sensitive), so they compare with scores reported elsewhere. Placeholder integrity
reuses the dataset builder's check: an output must carry the source's placeholders and tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The dataset builder's own check, so training data and evaluation judge placeholders alike.
from shared.imports.placeholders import placeholder_problem, tag_problem

DIGITS = 2  # sacrebleu reports scores to two decimals; more suggests a precision they do not have


@dataclass(frozen=True)
class SystemScores:
    """Corpus scores of one model; `placeholder_checked` counts segments whose check applies."""

    chrf_pp: float
    bleu: float
    ter: float
    placeholder_errors: int
    placeholder_checked: int
    signatures: dict[str, str] = field(default_factory=dict, compare=False)  # sacrebleu's, per metric

    def as_dict(self) -> dict[str, Any]:
        return {
            "chrf_pp": self.chrf_pp,
            "bleu": self.bleu,
            "ter": self.ter,
            "placeholder_errors": self.placeholder_errors,
            "placeholder_checked": self.placeholder_checked,
        }


def integrity_problem(source: str, output: str) -> str | None:
    """Why `output` does not keep the placeholders and tags of `source`, or None when it does."""
    return placeholder_problem(source, output) or tag_problem(source, output)


def checkable(source: str, reference: str) -> bool:
    """Whether the source's placeholders can judge a translation: its own reference must pass.

    The source is the rendered prompt: a template that adds braces or tags of its own (or a reference
    that legitimately drops one) would flag every output, so such segments are not checked at all.
    """
    return integrity_problem(source, reference) is None


def segment_chrf(output: str, reference: str) -> float:
    """Sentence-level chrF++ of one output."""
    from sacrebleu.metrics.chrf import CHRF

    return round(float(CHRF(word_order=2).sentence_score(output, [reference]).score), DIGITS)


def corpus_scores(
    outputs: Sequence[str], references: Sequence[str], placeholder_ok: Sequence[bool | None]
) -> SystemScores:
    """chrF++, BLEU and TER over all segments, and the placeholder errors among the checked ones."""
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF
    from sacrebleu.metrics.ter import TER

    hypotheses, refs = list(outputs), [list(references)]
    metrics = {"chrf_pp": CHRF(word_order=2), "bleu": BLEU(), "ter": TER()}
    values = {
        name: round(float(m.corpus_score(hypotheses, refs).score), DIGITS) for name, m in metrics.items()
    }
    return SystemScores(
        **values,
        placeholder_errors=sum(1 for ok in placeholder_ok if ok is False),
        placeholder_checked=sum(1 for ok in placeholder_ok if ok is not None),
        # After scoring: a signature names the reference count, which sacrebleu learns from the corpus.
        signatures={name: str(m.get_signature()) for name, m in metrics.items()},
    )


def delta(base: SystemScores, fine_tuned: SystemScores) -> dict[str, float | int]:
    """Fine-tuned minus base: positive is better for chrF++ and BLEU, negative for TER and errors."""
    return {
        "chrf_pp": round(fine_tuned.chrf_pp - base.chrf_pp, DIGITS),
        "bleu": round(fine_tuned.bleu - base.bleu, DIGITS),
        "ter": round(fine_tuned.ter - base.ter, DIGITS),
        "placeholder_errors": fine_tuned.placeholder_errors - base.placeholder_errors,
    }


def score(
    sources: Sequence[str],
    references: Sequence[str],
    base_outputs: Sequence[str],
    fine_tuned_outputs: Sequence[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-segment rows) of base and fine-tuned outputs of the same segments."""
    segments: list[dict[str, Any]] = []
    base_ok: list[bool | None] = []
    fine_tuned_ok: list[bool | None] = []
    for source, reference, base, fine_tuned in zip(
        sources, references, base_outputs, fine_tuned_outputs, strict=True
    ):
        check = checkable(source, reference)
        base_problem = integrity_problem(source, base) if check else None
        fine_tuned_problem = integrity_problem(source, fine_tuned) if check else None
        base_ok.append(base_problem is None if check else None)
        fine_tuned_ok.append(fine_tuned_problem is None if check else None)
        segments.append(
            {
                "source": source,
                "reference": reference,
                "base_output": base,
                "fine_tuned_output": fine_tuned,
                "base_chrf_pp": segment_chrf(base, reference),
                "fine_tuned_chrf_pp": segment_chrf(fine_tuned, reference),
                "base_placeholder_ok": base_ok[-1],
                "fine_tuned_placeholder_ok": fine_tuned_ok[-1],
                "base_placeholder_problem": base_problem,
                "fine_tuned_placeholder_problem": fine_tuned_problem,
            }
        )
    base_scores = corpus_scores(base_outputs, references, base_ok)
    fine_tuned_scores = corpus_scores(fine_tuned_outputs, references, fine_tuned_ok)
    summary = {
        "base": base_scores.as_dict(),
        "fine_tuned": fine_tuned_scores.as_dict(),
        "delta": delta(base_scores, fine_tuned_scores),
        "signatures": base_scores.signatures,
    }
    return summary, segments

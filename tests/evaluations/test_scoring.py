"""Scoring with known answers, placeholder integrity, and reading segments from a validation file."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.evaluations import scoring
from shared.evaluations.examples import segment_of
from shared.evaluations.run import max_tokens

REFERENCES = ["Enregistrer le fichier", "Vous avez {count} nouveaux messages"]
SOURCES = ["Save the file", "You have {count} new messages"]


def test_identical_outputs_score_perfectly() -> None:
    scores = scoring.corpus_scores(REFERENCES, REFERENCES, [True, True])
    assert (scores.chrf_pp, scores.bleu, scores.ter) == (100.0, 100.0, 0.0)
    assert (scores.placeholder_errors, scores.placeholder_checked) == (0, 2)
    assert scoring.segment_chrf(REFERENCES[0], REFERENCES[0]) == 100.0


def test_an_unrelated_output_scores_low_and_chrf_pp_counts_word_bigrams() -> None:
    scores = scoring.corpus_scores(["zzz qqq", "xx"], REFERENCES, [None, None])
    assert scores.chrf_pp < 5 and scores.bleu == 0.0 and scores.ter == 100.0
    assert scores.placeholder_checked == 0
    # chrF++ (word_order=2) sits below plain chrF when the words are right but in another order.
    from sacrebleu.metrics.chrf import CHRF

    shuffled, reference = "fichier le Enregistrer", REFERENCES[0]
    assert scoring.segment_chrf(shuffled, reference) < CHRF().sentence_score(shuffled, [reference]).score


@pytest.mark.parametrize(
    ("source", "output", "problem"),
    [
        ("You have {count} new messages", "Vous avez {count} messages", None),
        ("You have {count} new messages", "Vous avez des messages", "placeholder(s) {count}"),
        ("Delete %s forever?", "Supprimer définitivement ?", "placeholder(s) %s"),
        ("Open <b>settings</b>", "Ouvrir paramètres", "tag(s) </b>, <b>"),
        ("Hi {name}", "Salut {name} {name}", "extra placeholder(s) {name}"),
    ],
)
def test_placeholder_integrity_uses_the_dataset_builders_check(
    source: str, output: str, problem: str | None
) -> None:
    found = scoring.integrity_problem(source, output)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_segment_whose_reference_disagrees_with_its_source_is_not_checked() -> None:
    # The prompt wraps the source in braces of its own: the approved translation cannot match them.
    summary, segments = scoring.score(
        ["Translate {source}: Save", "Save {name}"],
        ["Enregistrer", "Enregistrer {name}"],
        ["Enregistrer", "Enregistrer"],
        ["Enregistrer", "Enregistrer {name}"],
    )
    assert [s["base_placeholder_ok"] for s in segments] == [None, False]
    assert [s["fine_tuned_placeholder_ok"] for s in segments] == [None, True]
    assert "{name}" in segments[1]["base_placeholder_problem"]
    assert summary["base"]["placeholder_errors"] == 1 and summary["fine_tuned"]["placeholder_errors"] == 0
    assert summary["base"]["placeholder_checked"] == summary["fine_tuned"]["placeholder_checked"] == 1


def test_the_summary_compares_both_models_and_names_the_metrics() -> None:
    summary, segments = scoring.score(SOURCES, REFERENCES, ["Le fichier", "Vous avez messages"], REFERENCES)
    assert summary["fine_tuned"]["chrf_pp"] == 100.0 and summary["fine_tuned"]["ter"] == 0.0
    assert summary["delta"]["chrf_pp"] == round(
        summary["fine_tuned"]["chrf_pp"] - summary["base"]["chrf_pp"], 2
    )
    assert summary["delta"]["chrf_pp"] > 0 and summary["delta"]["ter"] < 0
    assert summary["delta"]["placeholder_errors"] == -1
    assert "nw:2" in summary["signatures"]["chrf_pp"] and "tok:13a" in summary["signatures"]["bleu"]
    assert segments[0]["fine_tuned_chrf_pp"] == 100.0 > segments[0]["base_chrf_pp"]


def test_segments_are_the_prompt_the_model_was_trained_on_and_its_reference() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "Translate to French."},
            {"role": "user", "content": [{"type": "text", "text": "Save"}, {"type": "text", "text": " it"}]},
            {"role": "assistant", "content": "Enregistrez-le", "weight": 1},
        ]
    }
    segment = segment_of(3, example)
    assert segment is not None
    assert [(m.role, m.content) for m in segment.messages] == [
        ("system", "Translate to French."),
        ("user", "Save it"),
    ]
    assert (segment.line, segment.source, segment.reference) == (3, "Save it", "Enregistrez-le")
    assert segment_of(1, {"messages": [{"role": "user", "content": "no answer"}]}) is None
    assert segment_of(1, {"messages": [{"role": "assistant", "content": "no question"}]}) is None


def test_generation_is_bounded_by_the_reference_and_the_setting(settings: Settings) -> None:
    short = segment_of(
        1, {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    )
    long = segment_of(
        1, {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b" * 5000}]}
    )
    assert short is not None and long is not None
    assert max_tokens(settings, short) == 17
    assert max_tokens(settings, long) == settings.evaluations.max_tokens

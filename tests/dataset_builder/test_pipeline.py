"""The pipeline on in-memory rows: determinism, splits without leakage, limits, formats, too-long rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from services.dataset_builder.models import ModelProfile
from services.dataset_builder.parallel import Parallel, id_ranges
from services.dataset_builder.pipeline import (
    BuildPlan,
    BuildResult,
    DatasetTooSmall,
    Pipeline,
    Row,
    SourceSpec,
)
from services.dataset_builder.tokens import TiktokenCounter
from shared.datasets.recipe import Recipe
from shared.prompts.service import compile_prompt
from shared.storage import LocalStorage, StorageWriter

PROMPT = compile_prompt("Translate from {source_language} to {target_language}.", "{source_text}")


def rows(count: int, *, start: int = 0, approved: int = 1000) -> list[Row]:
    return [
        (start + i, "en", "de", f"Save file number {start + i}", f"Datei Nummer {start + i} speichern", None,
         approved + i, None)
        for i in range(count)
    ]  # fmt: skip


class Harness:
    def __init__(self, tmp_path: Path, sources: dict[str, list[Row]]) -> None:
        self.storage = LocalStorage(tmp_path)
        self.sources = sources
        self.rejects: list[list[str]] = []  # CSV rows: dataset, row, source, reason, detail, excerpts
        self.builds = 0
        self.broken_source: str | None = None

    async def run(self, context_tokens: int | None = None, max_file_bytes: int | None = None,
                  min_examples: int = 1, processes: int = 1, **recipe: Any) -> BuildResult:  # fmt: skip
        spec = Recipe.model_validate({"sources": {"project_ids": ["p1"]}, **recipe})
        specs = [SourceSpec("translations", name.split(":")[0], name.split(":")[1]) for name in self.sources]
        profile = ModelProfile(
            TiktokenCounter("o200k_base"), "o200k_base", True, None, context_tokens, None, 1
        )
        plan = BuildPlan(spec, PROMPT, profile, specs, max_file_bytes, min_examples, token_threads=2)
        plan.parallel = self.parallel(processes, self.broken_source) if processes > 1 else None
        self.builds += 1
        build = self.builds
        self.rejects = []

        async def stream(source: SourceSpec) -> AsyncIterator[Sequence[Row]]:
            found = self.sources[f"{source.id}:{source.role}"]
            for start in range(0, len(found), 7):  # small batches: many in flight
                yield found[start : start + 7]

        async def sink(found: IO[bytes]) -> None:
            self.rejects += [row[1:] for row in csv.reader(io.StringIO(found.read().decode()))]

        async def open_writer(name: str) -> StorageWriter:
            return await self.storage.open_writer(f"b{build}/{name}.jsonl")

        return await Pipeline(plan, stream, sink, open_writer).run()

    def parallel(self, processes: int, broken_source: str | None = None) -> Parallel:
        """Forked pass-1 workers over the in-memory rows (every build forks: no minimum); reading
        `broken_source` fails in the worker."""

        def found(source: SourceSpec) -> list[Row]:
            return self.sources[f"{source.id}:{source.role}"]

        async def extent(source: SourceSpec) -> tuple[int, int | None, int | None]:
            ids = [row[0] for row in found(source)]
            return len(ids), min(ids, default=None), max(ids, default=None)

        async def before_fork() -> None:
            return None

        @asynccontextmanager
        async def part_rows() -> AsyncIterator[Any]:
            async def rows_of(source: SourceSpec, id_range: tuple[int, int]) -> AsyncIterator[Sequence[Row]]:
                if source.id == broken_source:
                    raise ConnectionError(f"lost the connection reading {source.id}")
                share = [row for row in found(source) if id_range[0] <= row[0] <= id_range[1]]
                for start in range(0, len(share), 7):
                    yield share[start : start + 7]

            yield rows_of

        return Parallel(processes, 0, extent, before_fork, part_rows)

    def lines(self, result: BuildResult, which: str = "training") -> list[dict[str, Any]]:
        built = result.training if which == "training" else result.validation
        assert built is not None
        text = self.storage.path(built.stored.key).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reject in self.rejects:
            counts[reject[2]] = counts.get(reject[2], 0) + 1
        return counts


async def test_same_rows_same_bytes_and_hash(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(300)})
    first = await harness.run(validation={"fraction": 0.2}, seed=5)
    second = await harness.run(validation={"fraction": 0.2}, seed=5)
    assert first.content_hash == second.content_hash
    assert first.training.stored.sha256 == second.training.stored.sha256
    other_seed = await harness.run(validation={"fraction": 0.2}, seed=6)
    assert other_seed.content_hash != first.content_hash


def _mixed_rows() -> list[Row]:
    """Rows whose duplicates, rejects and language pairs straddle any split of the id range."""
    data = rows(120)
    data += [
        (500 + i, "en", "fr", f"Save file number {i}", f"Fichier {i}", None, 4000 + i, None)
        for i in range(60)
    ]  # the same sources in another pair
    data += [
        (900 + i, "en", "de", f"Save file number {i}", f"Neu {i}", None, 9000 + i, None)
        for i in range(0, 120, 3)
    ]  # newer translations of early rows: they win across workers
    data += [
        (1200, "en", "de", "Open {0}", "Öffnen", None, 1, None),
        (1201, "en", "de", "Same", "Same", None, 1, None),
    ]
    return data  # fmt: skip


@pytest.mark.parametrize("processes", [2, 3])
async def test_forked_workers_write_the_same_files_as_one_process(tmp_path: Path, processes: int) -> None:
    sources = {
        "p1:training": _mixed_rows(),
        "p2:training": rows(40, start=2000),
        "p3:validation": rows(20, start=5),
    }
    harness = Harness(tmp_path, sources)
    recipes: list[dict[str, Any]] = [
        {"validation": {"fraction": 0.2}, "seed": 4},
        {"validation": {"sources": {"approved_after": "2026-01-01T00:00:00Z"}},
         "limits": {"max_examples": 90}},
    ]  # fmt: skip
    for recipe in recipes:
        alone = await harness.run(**recipe)
        alone_rejects = sorted(map(tuple, harness.rejects))
        forked = await harness.run(processes=processes, **recipe)
        assert (alone.stats["timings"]["read_processes"], forked.stats["timings"]["read_processes"]) == (
            1,
            processes,
        )
        assert forked.content_hash == alone.content_hash
        assert forked.training.stored.sha256 == alone.training.stored.sha256
        assert sorted(map(tuple, harness.rejects)) == alone_rejects and alone_rejects
        assert {k: v for k, v in forked.stats.items() if k != "timings"} == {
            k: v for k, v in alone.stats.items() if k != "timings"
        }


async def test_a_failing_worker_fails_the_build_and_says_why(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(50), "p2:training": rows(50, start=100)})
    harness.broken_source = "p2"
    with pytest.raises(
        RuntimeError, match=r"dataset build worker \d failed: ConnectionError: lost the connection"
    ):
        await harness.run(processes=2)
    assert not list(tmp_path.rglob("*.spill")), "the work folder is removed"


def test_id_ranges_cover_the_span_without_overlap() -> None:
    assert id_ranges(1, 10, 3) == [(1, 3), (4, 6), (7, 10)]
    assert id_ranges(5, 5, 3) == [(5, 5)]
    assert id_ranges(0, 1, 4) == [(0, 0), (1, 1)]


async def test_lines_are_what_json_dumps_writes(tmp_path: Path) -> None:
    odd = [
        (1, "en", "de", 'Quote " back\\slash \u2028 tab\tend', 'Zitat " \\ \u2028 Tab\tEnde', None, 1, None)
    ]
    harness = Harness(tmp_path, {"p1:training": odd})
    result = await harness.run(cleaning={"normalize_whitespace": False})
    raw = harness.storage.path(result.training.stored.key).read_text(encoding="utf-8")
    assert raw.count("\n") == 1 and "\u2028" not in raw
    assert harness.lines(result)[0] == {
        "messages": [
            {"role": "system", "content": "Translate from en to de."},
            {"role": "user", "content": odd[0][3]},
            {"role": "assistant", "content": odd[0][4]},
        ]
    }


async def test_held_out_validation_never_shares_a_source_with_training(tmp_path: Path) -> None:
    # The same source in two language pairs must land on one side only.
    data = rows(200) + [(1000 + i, "en", "fr", f"Save file number {i}", f"Fichier {i}", None, 5000 + i, None)
                        for i in range(200)]  # fmt: skip
    harness = Harness(tmp_path, {"p1:training": data})
    result = await harness.run(validation={"fraction": 0.25}, seed=1)
    training = {line["messages"][1]["content"].casefold() for line in harness.lines(result)}
    validation = {line["messages"][1]["content"].casefold() for line in harness.lines(result, "validation")}
    assert training and validation and not training & validation
    assert result.training.examples + (result.validation.examples if result.validation else 0) == 400


async def test_validation_sources_win_over_training(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(50), "p1:validation": rows(10, start=45, approved=9000)})
    result = await harness.run(validation={"sources": {"approved_after": "2026-01-01T00:00:00Z"}})
    assert result.validation is not None and result.validation.examples == 10
    assert harness.reasons() == {"in_validation": 5}
    assert result.training.examples == 45


async def test_dedupe_keeps_the_latest_approval(tmp_path: Path) -> None:
    data = [
        (1, "en", "de", "Save", "Speichern", None, 100, None),
        (2, "en", "de", "save ", "Sichern", None, 300, None),  # same normalised source, newer: wins
        (3, "en", "de", "Save", "Speichern", None, 200, None),
        (4, "en", "de", "Save", "Speichern", None, None, None),  # no approval time: oldest
    ]
    harness = Harness(tmp_path, {"p1:training": data})
    result = await harness.run()
    assert [line["messages"][2]["content"] for line in harness.lines(result)] == ["Sichern"]
    assert sorted((r[0], r[2]) for r in harness.rejects) == [
        ("tr_1", "superseded"), ("tr_3", "superseded"), ("tr_4", "superseded")
    ]  # fmt: skip
    exact = await harness.run(cleaning={"dedupe": "exact"})
    assert exact.training.examples == 2 and harness.reasons() == {"duplicate": 2}
    none = await harness.run(cleaning={"dedupe": "none"})
    assert none.training.examples == 4


async def test_max_examples_samples_exactly_and_reports_the_rest(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(100)})
    result = await harness.run(limits={"max_examples": 30}, seed=3)
    assert result.training.examples == 30
    assert harness.reasons() == {"over_max_examples": 70}
    kept = [line["messages"][1]["content"] for line in harness.lines(result)]
    assert kept == sorted(kept, key=lambda text: int(text.rsplit(" ", 1)[1]))  # source order is kept


async def test_max_file_bytes(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(100)})
    result = await harness.run(max_file_bytes=2000)
    assert 0 < result.training.stored.size <= 2000
    assert harness.reasons()["over_max_file_bytes"] == 100 - result.training.examples


async def test_examples_longer_than_the_context_are_dropped(tmp_path: Path) -> None:
    data = [*rows(5), (99, "en", "de", "word " * 60, "Wort " * 60, None, 1, None)]
    harness = Harness(tmp_path, {"p1:training": data})
    result = await harness.run(context_tokens=60)
    assert result.training.examples == 5
    assert harness.reasons() == {"too_long": 1}
    assert "context is 60" in (harness.rejects[0][3] or "")


async def test_below_the_minimum_the_build_fails_with_counts(tmp_path: Path) -> None:
    data = [
        *rows(3),
        (50, "en", "de", "Open {0}", "Öffnen", None, 1, None),
        (51, "en", "de", "x", "", None, 1, None),
    ]
    harness = Harness(tmp_path, {"p1:training": data})
    with pytest.raises(DatasetTooSmall) as failure:
        await harness.run(min_examples=10)
    assert "3 training example(s); at least 10" in failure.value.detail
    assert "placeholder_mismatch: 1" in failure.value.detail and "empty_target: 1" in failure.value.detail
    assert failure.value.stats["rejected"] == {"empty_target": 1, "placeholder_mismatch": 1}


async def test_no_rows_at_all(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": []})
    with pytest.raises(DatasetTooSmall, match="0 training example"):
        await harness.run()


async def test_prompt_completion_format(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(2)})
    result = await harness.run(format="prompt_completion")
    assert harness.lines(result)[0] == {
        "prompt": "Translate from en to de.\n\nSave file number 0",
        "completion": "Datei Nummer 0 speichern",
    }


async def test_tm_markup_can_be_stripped_or_restored(tmp_path: Path) -> None:
    markup = json.dumps(
        {"source": {"⟦b1⟧": "<b>", "⟦e1⟧": "</b>"}, "target": {"⟦b1⟧": "<b>", "⟦e1⟧": "</b>"}}
    )
    data = [(1, "en", "de", "Click ⟦b1⟧here⟦e1⟧", "⟦b1⟧Hier⟦e1⟧ klicken", None, 1, markup)]
    harness = Harness(tmp_path, {"p1:training": data})
    kept = harness.lines(await harness.run())[0]["messages"][1]["content"]
    stripped = harness.lines(await harness.run(cleaning={"markup": "strip"}))[0]["messages"][1]["content"]
    restored = harness.lines(await harness.run(cleaning={"markup": "restore"}))[0]["messages"][2]["content"]
    assert (kept, stripped, restored) == ("Click ⟦b1⟧here⟦e1⟧", "Click here", "<b>Hier</b> klicken")


async def test_stats_count_tokens_per_file(tmp_path: Path) -> None:
    harness = Harness(tmp_path, {"p1:training": rows(20)})
    result = await harness.run(validation={"fraction": 0.3}, seed=2)
    stats = result.stats
    training = stats["training"]
    assert training["examples"] == result.training.examples
    assert training["tokens"] == result.training.tokens
    assert sum(training["length_histogram"]) == training["examples"]
    assert stats["language_pairs"]["en>de"]["training"] == training["examples"]
    assert stats["data_cutoff"] is not None
    counter = TiktokenCounter("o200k_base")
    line = harness.lines(result)[0]["messages"]
    expected = sum(int(counter.count([m["content"]])[0]) for m in line) + counter.framing(("s", "u", "a"))
    assert training["tokens_per_example"]["min"] <= expected <= training["tokens_per_example"]["max"]

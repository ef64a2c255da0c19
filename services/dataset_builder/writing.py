"""Pass 2: decide the selection on the candidates' arrays, report what it drops, copy lines into files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from services.dataset_builder import selection
from shared.datasets.reasons import Reason
from shared.storage import StorageWriter

if TYPE_CHECKING:
    from services.dataset_builder.pipeline import BuiltFile, Candidates, Pipeline

ROW_ID_MASK = (1 << 40) - 1
COPY_BLOCK = 8192  # candidates copied from the spill per read


@dataclass
class Selection:
    training: selection.Bools
    validation: selection.Bools
    pairs: np.ndarray

    def pair_counts(self, names: dict[int, str]) -> dict[str, dict[str, int]]:
        """Examples per language pair and file."""
        counts: dict[str, dict[str, int]] = {}
        for label, mask in (("training", self.training), ("validation", self.validation)):
            for pair, count in enumerate(np.bincount(self.pairs[mask], minlength=len(names)).tolist()):
                if count:
                    counts.setdefault(names[pair], {"training": 0, "validation": 0})[label] = count
        return dict(sorted(counts.items()))


def _public_id(pipeline: Pipeline, ref: int) -> tuple[str, str]:
    """(row id such as `tr_42`, the id of the project or TM it comes from) of a candidate ref."""
    source = pipeline.plan.sources[ref >> 40]
    return f"{source.row_prefix}_{ref & ROW_ID_MASK}", source.id


def _reject_all(
    pipeline: Pipeline, refs: np.ndarray, mask: selection.Bools, reason: Reason, detail: str
) -> None:
    for ref in refs[mask].tolist():
        row_id, source_id = _public_id(pipeline, ref)
        pipeline.rejected[reason] += 1
        pipeline.rejects.add(row_id, source_id, reason.value, detail)


def select(pipeline: Pipeline, candidates: Candidates) -> Selection:
    """Dedupe, split, keep validation and training apart, sample and fit; every dropped row is reported."""
    recipe = pipeline.recipe
    refs = candidates.column("refs")
    nbytes = candidates.column("nbytes").astype(np.int64)
    deduped = selection.dedupe(
        candidates.column("groups"),
        candidates.column("approved"),
        refs,
        candidates.column("target_keys"),
    )
    for index in np.flatnonzero(~deduped.keep).tolist():
        winner_row, _ = _public_id(pipeline, int(refs[deduped.winner[index]]))
        reason = Reason.DUPLICATE if deduped.same_target[index] else Reason.SUPERSEDED
        row_id, source_id = _public_id(pipeline, int(refs[index]))
        pipeline.rejected[reason] += 1
        pipeline.rejects.add(row_id, source_id, reason.value, f"{winner_row} is kept (approved later)")
    keep = deduped.keep
    roles = candidates.column("roles")
    seed = recipe.seed
    validation = np.zeros(len(keep), dtype=np.bool_)
    if recipe.validation is not None and recipe.validation.fraction is not None:
        validation = keep & selection.held_out(
            candidates.column("split_keys").astype(np.uint64), seed, recipe.validation.fraction
        )
        training = keep & ~validation
    elif recipe.validation is not None:
        validation = keep & (roles == 1)
        training = keep & (roles == 0)
        source_keys = candidates.column("source_keys")
        overlap = training & np.isin(source_keys, source_keys[validation])
        _reject_all(
            pipeline, refs, overlap, Reason.IN_VALIDATION, "the same source is in the validation rows"
        )
        training &= ~overlap
    else:
        training = keep.copy()
    sampled = selection.sample(training, refs, seed, recipe.limits.max_examples)
    _reject_all(
        pipeline,
        refs,
        training & ~sampled,
        Reason.OVER_MAX_EXAMPLES,
        f"max_examples {recipe.limits.max_examples}",
    )
    limit = pipeline.plan.max_file_bytes
    fitted = selection.fit_bytes(sampled, refs, nbytes, seed, limit)
    fitted_validation = selection.fit_bytes(validation, refs, nbytes, seed, limit)
    too_big = (sampled & ~fitted) | (validation & ~fitted_validation)
    _reject_all(pipeline, refs, too_big, Reason.OVER_MAX_FILE_BYTES, f"max_file_bytes {limit}")
    return Selection(fitted, fitted_validation, candidates.column("pairs"))


async def _copy(writer: StorageWriter | None, data: bytes) -> None:
    if writer is not None and data:
        await writer.write(data)


async def write_files(
    pipeline: Pipeline, candidates: Candidates, chosen: Selection
) -> tuple[BuiltFile, BuiltFile | None]:
    """Copy the chosen lines from the spill into the files, in source order, in large blocks."""
    from services.dataset_builder.pipeline import BuiltFile

    labels = np.zeros(len(chosen.training), dtype=np.int8)
    labels[chosen.training] = 1
    labels[chosen.validation] = 2
    nbytes = candidates.column("nbytes").astype(np.int64)
    tokens = candidates.column("tokens").astype(np.int64)
    training_writer = await pipeline.open_writer("training")
    validation_writer = await pipeline.open_writer("validation") if chosen.validation.any() else None
    writers = {1: training_writer, 2: validation_writer}
    try:
        spill = candidates.spill
        spill.seek(0)
        for start in range(0, len(labels), COPY_BLOCK):
            block_labels = labels[start : start + COPY_BLOCK]
            ends = np.cumsum(nbytes[start : start + COPY_BLOCK])
            data = spill.read(int(ends[-1]))
            # Runs of equal labels: usually one run per block, so one write.
            cuts = np.flatnonzero(np.diff(block_labels)) + 1
            begin = 0
            for run_start, run_end in zip(
                [0, *cuts.tolist()], [*cuts.tolist(), len(block_labels)], strict=True
            ):
                end = int(ends[run_end - 1])
                await _copy(writers.get(int(block_labels[run_start])), data[begin:end])
                begin = end
        training = BuiltFile(
            await training_writer.commit(), int(chosen.training.sum()), int(tokens[chosen.training].sum())
        )
        validation = None
        if validation_writer is not None:
            validation = BuiltFile(
                await validation_writer.commit(),
                int(chosen.validation.sum()),
                int(tokens[chosen.validation].sum()),
            )
        return training, validation
    except BaseException:
        await training_writer.abort()
        if validation_writer is not None:
            await validation_writer.abort()
        raise
